"""``train_population``: a population of one bucket on every fold at once.

A population of architectures of one bucket (axis 0) is trained at once,
walk-forward folds being a second vmapped (or scanned) axis. The
:class:`~nasjax.train.plan.TrainPlan` picks the population forward pass (a
strategy), the fold axis, the chunking and the sharding; the training loop
is always :func:`nasjax.train.trainer.make_population_trainer`. The jitted
program is cached per ``(cfg, fold_axis, strategy, static shape)`` and JAX
caches its executables per input shapes and shardings.

The population axis is sharded over every device of every process
(:mod:`nasjax.distributed`): each device trains its own block of members
inside a ``shard_map`` (no communication between devices while training);
with ``jax.distributed`` initialised, each process feeds its own devices and
all processes get the whole result back. Padding members (up to a multiple
of the device count or of the memory-guard chunk) are dropped from the
results.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nasjax.data.dataset import FoldedData
from nasjax.distributed.mesh import (
    blockwise,
    gather_population,
    padded_size,
    padding_order,
    population_devices,
    population_mesh,
    process_budget,
    replicate,
    shard_population,
)
from nasjax.graph.arch import Arch
from nasjax.graph.spec import ArchSpec
from nasjax.nn.fold_params import as_fold_params, broadcast_folds
from nasjax.nn.model import init
from nasjax.train.config import TrainConfig
from nasjax.train.data import TrainData, make_train_data
from nasjax.train.legacy import legacy_call
from nasjax.train.memory import default_budget, member_bytes, plan_chunk
from nasjax.train.plan import (
    ConcreteStrategy,
    MemberLayout,
    TrainPlan,
    _take,
)
from nasjax.train.state import TrainState
from nasjax.train.trainer import make_population_trainer, over_folds
from nasjax.typing import Key, Params

logger = logging.getLogger("nasjax.train")


class PopulationResult(NamedTuple):
    """Output of :func:`train_population`.

    Attributes:
        params: Best params per member and fold, leaves ``[P, K, ...]``.
        metrics: ``make_train`` metrics, each ``[P, K, ...]``.
        fitness: ``float32[P]`` mean over folds of the selection metric
            (validation accuracy, or minus validation loss); NaN if the member
            failed on any fold.
        failed: ``bool[P]`` a non-finite loss occurred on some fold.
        state: The final :class:`~nasjax.train.TrainState` per member and
            fold (leaves ``[P, K, ...]``): pass it as ``resume`` to continue
            training where this call stopped.
    """

    params: Params
    metrics: dict[str, jax.Array]
    fitness: jax.Array
    failed: jax.Array
    state: TrainState | None = None


def compiled_trainer(
    cfg: TrainConfig,
    fold_axis: str,
    strategy: ConcreteStrategy,
    shape: Hashable = None,
) -> Callable[..., Any]:
    """The cached jitted population trainer of a concrete strategy.

    Args:
        cfg: Training configuration.
        fold_axis: ``"vmap"`` or ``"scan"``.
        strategy: A concrete strategy (not :class:`~nasjax.train.plan.Auto`).
        shape: Its static shape (``strategy.static_shape``: capacities, a
            :class:`~nasjax.nn.ScheduleShape`, or None for
            :class:`~nasjax.train.plan.VmappedSwitch`).

    Returns:
        ``fn(keys[P], archs[P], params[P, K], data, lr_scale f32[P],
        resume=None) -> (params[P, K], metrics[P, K], state[P, K])`` with
        ``data`` a fold-stacked
        :class:`~nasjax.train.TrainData`. Equal arguments give the same
        function object however the shape is spelled (its
        ``_cache_size()`` counts the executables compiled for one device).
    """
    if shape is not None:
        shape = strategy.canonical_shape(shape)  # type: ignore[union-attr]
    return _compiled_trainer(cfg, fold_axis, strategy, shape)


@functools.lru_cache(maxsize=64, typed=True)  # a ScheduleShape is no tuple
def _compiled_trainer(cfg, fold_axis, strategy, shape):
    forward = strategy.forward(shape)
    return jax.jit(over_folds(make_population_trainer(cfg, forward), fold_axis))


@jax.jit
def _init_population(keys: jax.Array, archs: Arch) -> Params:
    return jax.vmap(init)(keys, archs)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _fold_starts(start: Params, spec, n_folds: int) -> Params:
    """Params ``[P, K, ...]``: one start per fold (in one compiled program,
    not one small one per leaf)."""
    return broadcast_folds(as_fold_params(start, spec), n_folds)


@functools.partial(jax.jit, static_argnums=1)
def _joined(outs: list, n_pop: int):
    """The chunks' outputs concatenated, padding members dropped."""
    return jax.tree.map(lambda *xs: jnp.concatenate(xs)[:n_pop], *outs)


def member_keys(key: Key, n: int) -> jax.Array:
    """Key of member ``i`` = ``fold_in(key, i)`` (independent of P and padding)."""
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.arange(n))


@functools.lru_cache(maxsize=64)
def _per_device(fn, mesh, resumed: bool):
    """``fn`` on each device's block of the population (no communication)."""
    if resumed:
        return jax.jit(blockwise(fn, mesh, (True, True, True, False, True, True)))
    return jax.jit(blockwise(fn, mesh, (True, True, True, False, True)))


def as_train_data(data: FoldedData | TrainData, cfg: TrainConfig) -> TrainData:
    """Fold-stacked ``TrainData``: built from a ``FoldedData`` with ``cfg``'s
    evaluation batch and cap, or returned as it is."""
    if isinstance(data, TrainData):
        return data
    if isinstance(data, FoldedData):
        return make_train_data(
            data,
            eval_batch_size=cfg.eval_batch_size,
            max_eval_samples=cfg.max_eval_samples,
        )
    raise TypeError(
        "data must be a nasjax.data.FoldedData (dataset, folds, norm) or a "
        f"fold-stacked nasjax.train.TrainData, got {type(data).__name__}"
    )


def _log_plan(
    spec: ArchSpec,
    cfg: TrainConfig,
    n_pop: int,
    n_folds: int,
    chunk: int,
    n_chunks: int,
    budget: int | None,
) -> None:
    """The memory guard's plan: INFO when it splits the population (big work
    ahead), DEBUG otherwise."""
    level = logging.INFO if n_chunks > 1 else logging.DEBUG
    if not logger.isEnabledFor(level):
        return
    per = member_bytes(spec, cfg) * n_folds
    logger.log(
        level,
        "train_population: %d members x %d steps, ~%.0f MB each (%d fold(s) at "
        "once); memory budget %s: %d chunk(s) of %d",
        n_pop,
        cfg.n_steps,
        per / 2**20,
        n_folds,
        "auto" if budget is None else f"{budget / 2**20:.0f} MB",
        n_chunks,
        chunk,
    )


def train_population(
    key: Key,
    archs: Arch,
    params: Params | None,
    data: FoldedData | TrainData | None = None,
    cfg: TrainConfig | None = None,
    /,
    *legacy_args,
    plan: TrainPlan | None = None,
    lr_scale: jax.Array | None = None,
    resume: TrainState | None = None,
    **legacy_kwargs,
) -> PopulationResult:
    """Train a stacked population of one bucket on every walk-forward fold.

    Call it as ``train_population(key, archs, params, data, cfg, *,
    plan=None, lr_scale=None, resume=None)``. The form of earlier releases,
    ``train_population(key, archs, params, dataset, folds, norm, cfg, *,
    fold_axis=, shard=, init_from=, data=, chunk_size=, dispatch=,
    min_capacities=, node_loop=)``, still works for one release and warns
    (``DeprecationWarning``).

    Args:
        key: PRNG key; member ``i`` uses ``fold_in(key, i)`` and fold ``k`` of
            it ``fold_in(fold_in(key, i), k)``.
        archs: Stacked ``Arch`` with leading axis P (one bucket).
        params: Stacked params, or None to initialise from scratch (member
            ``i`` from ``fold_in(fold_in(key, 2**31 - 1), i)``): leaves
            ``[P, ...]`` (the same start on every fold) or ``[P, K, ...]``
            (fold ``k`` starts from copy ``k``, as inherited from a parent
            trained on the same folds; ``K = 1`` broadcasts). See
            :mod:`nasjax.nn.fold_params`.
        data: A :class:`~nasjax.data.FoldedData` ``(dataset, folds, norm)``
            (made into a ``TrainData`` with ``cfg``'s ``eval_batch_size``
            and ``max_eval_samples``) or a fold-stacked
            :class:`~nasjax.train.TrainData` (e.g. a subset of the folds).
        cfg: Training configuration.
        plan: How to run it (:class:`~nasjax.train.plan.TrainPlan`; default
            ``TrainPlan()``: the :class:`~nasjax.train.plan.Auto` strategy,
            folds vmapped, the memory guard's chunks, sharded).
        lr_scale: Optional ``float32[P]`` per-member learning-rate factors.
        resume: Optional state ``[P, K, ...]`` of an earlier call
            (``PopulationResult.state``, or a subset of its members): each
            member and fold continues from it for ``cfg.n_steps`` more steps
            (params, optimiser state and schedule step, best params and
            early stopping, minibatch key stream; ``key`` and ``params`` are
            then not used, pass ``params=None``). Training ``b1`` steps and
            then ``b2`` more equals training ``b1 + b2`` in one call when
            both configs have the same ``schedule_steps``.

    Returns:
        :class:`PopulationResult` with leading axis P (padding removed). With
        several processes, every process gets the whole result (arrays on
        its first local device, identical everywhere).

    Multi-process runs (``jax.process_count() > 1``): every process must call
    this with the same arguments (host-identical, as the searchers produce);
    the memory budget is per process (``cfg.memory_budget_bytes``, or half of
    each process's memory; the smallest over the processes is used).

    Raises:
        MemoryError: If not even one member per device fits the budget.
        ValueError: On a bad plan or population shape.
        TypeError: On a bad call.
    """
    if legacy_args or legacy_kwargs:
        params, data, cfg, plan = legacy_call(
            params, data, cfg, legacy_args, legacy_kwargs, plan
        )
    if data is None or cfg is None:
        raise TypeError("train_population needs data and cfg")
    plan = TrainPlan() if plan is None else plan
    if not isinstance(plan, TrainPlan):
        raise TypeError(f"plan must be a TrainPlan, got {type(plan).__name__}")
    if len(archs.batch_shape) != 1:
        raise ValueError(f"archs must be stacked on one axis, got {archs.batch_shape}")
    n_pop = archs.batch_shape[0]
    start: Params
    if resume is not None:
        if params is not None:
            raise ValueError("train_population: pass params=None with resume")
        start = resume.params
    elif params is None:
        init_key = jax.random.fold_in(key, 2**31 - 1)
        start = _init_population(member_keys(init_key, n_pop), archs)
    else:
        start = params
    stacked = as_train_data(data, cfg)
    n_folds = stacked.train.shape[0]
    # One start per fold: inherited fold copies continue their own fold.
    fold_params = (
        start if resume is not None else _fold_starts(start, archs.spec, n_folds)
    )
    lr = jnp.ones((n_pop,), jnp.float32) if lr_scale is None else lr_scale
    lr = jnp.asarray(lr, jnp.float32).reshape(n_pop)
    devices = population_devices(plan.shard)
    n_dev = len(devices)
    spans_processes = plan.shard and jax.process_count() > 1
    budget = cfg.memory_budget_bytes
    if spans_processes:
        budget = process_budget(default_budget() if budget is None else budget)
    n_parallel_folds = n_folds if plan.fold_axis == "vmap" else 1
    chunk = plan.chunk_size or plan_chunk(
        archs.spec, cfg, n_pop, n_parallel_folds, n_dev, budget
    )
    chunk = padded_size(chunk, n_dev)
    n_chunks = -(-n_pop // chunk)
    _log_plan(archs.spec, cfg, n_pop, n_parallel_folds, chunk, n_chunks, budget)
    order = padding_order(n_pop, n_chunks * chunk)  # padding repeats member 0
    keys = member_keys(key, n_pop)
    layout = MemberLayout(order=order, block=chunk // n_dev, n_devices=n_dev)
    strategy = plan.strategy.resolve(n_pop, n_folds, cfg.n_steps)
    shape = strategy.static_shape(archs, layout, plan.min_capacities)
    fn = compiled_trainer(cfg, plan.fold_axis, strategy, shape)
    mesh = population_mesh(devices) if n_dev > 1 else None
    if mesh is not None:
        stacked = replicate(stacked, mesh)
        fn = _per_device(fn, mesh, resume is not None)
    whole = chunk == n_pop  # one chunk, no padding: nothing to gather or join
    outs = []
    for c in range(n_chunks):
        args = (keys, archs, fold_params, lr, resume)
        if not whole:
            args = _take(args, order[c * chunk : (c + 1) * chunk])
        if mesh is not None:
            args = shard_population(args, mesh)
        extra = () if resume is None else (args[4],)
        out = fn(args[0], args[1], args[2], stacked, args[3], *extra)
        outs.append(gather_population(out) if spans_processes else out)
        if n_chunks > 1:
            jax.block_until_ready(out)
            logger.info("train_population: chunk %d of %d done", c + 1, n_chunks)
    out_params, metrics, state = outs[0] if whole else _joined(outs, n_pop)
    failed = jnp.any(metrics["failed"], axis=1)
    fitness = jnp.mean(metrics["best_score"], axis=1)
    fitness = jnp.where(failed, jnp.nan, fitness)
    return PopulationResult(out_params, metrics, fitness, failed, state)
