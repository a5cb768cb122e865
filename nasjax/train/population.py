"""``train_population``: ``jit(vmap(train))`` over a population x folds.

A population of architectures of one bucket (axis 0) is trained at once,
walk-forward folds being a second vmapped (or scanned) axis. The jitted
function is cached per ``(cfg, fold_axis)`` and JAX caches its executables
per input shapes and shardings, so a bucket and population size compile once.
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
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.data.dataset import Dataset
from nasjax.data.normalize import NormStats
from nasjax.data.splits import Folds
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
from nasjax.nn.fold_params import as_fold_params, broadcast_folds
from nasjax.nn.model import init
from nasjax.nn.population import (
    NODE_LOOPS,
    Capacities,
    capacities_from_counts,
    check_node_loop,
    member_counts,
    per_node_capacities,
    schedule_shape,
    shared_capacities,
)
from nasjax.nn.schedule import (
    SCHEDULE_GROUP,
    ScheduleShape,
    round_steps,
    schedule_steps,
)
from nasjax.train.config import TrainConfig
from nasjax.train.data import FOLD_AXES, TrainData, make_train_data
from nasjax.train.dispatch_loop import make_population_train
from nasjax.train.loop import make_train
from nasjax.train.memory import default_budget, plan_chunk
from nasjax.typing import Key, Params, PyTree

FOLD_AXIS_MODES: tuple[str, ...] = ("vmap", "scan")
DISPATCH_MODES: tuple[str, ...] = ("ops", "switch")
INIT_MODES: tuple[str, ...] = ("inherit", "scratch")
NODE_LOOP_MODES: tuple[str, ...] = ("auto", *NODE_LOOPS)
#: ``node_loop="auto"`` unrolls the node loop from this many member-fold
#: training steps on, and runs the op schedule below. Measured on a 2-core
#: CPU (bucket N=8 / W=32, all 8 ops, one fold): unrolling compiles 10-21 s
#: longer than the schedule and saves 1.5-2.4 ms per member-fold step, so it
#: pays from ~4,000 (P = 8), ~7,900 (P = 32) and ~13,800 (P = 64)
#: member-fold steps on; a search also reuses one schedule program across
#: rounds, where the unrolled loop compiles each round's capacities anew
#: (``benchmarks/README.md``).
UNROLL_MIN_MEMBER_STEPS = 8000


def choose_node_loop(n_members: int, n_folds: int, n_steps: int) -> str:
    """``"unroll"`` when ``n_members * n_folds * n_steps`` is large enough to
    repay the longer compile (:data:`UNROLL_MIN_MEMBER_STEPS`) or for a single
    member (its unrolled program, one op per node, compiles fast), else
    ``"schedule"`` (each op compiled once; see
    :func:`nasjax.nn.embed_population`)."""
    work = n_members * n_folds * n_steps
    if n_members == 1 or work >= UNROLL_MIN_MEMBER_STEPS:
        return "unroll"
    return "schedule"


class PopulationResult(NamedTuple):
    """Output of :func:`train_population`.

    Attributes:
        params: Best params per member and fold, leaves ``[P, K, ...]``.
        metrics: ``make_train`` metrics, each ``[P, K, ...]``.
        fitness: ``float32[P]`` mean over folds of the selection metric
            (validation accuracy, or minus validation loss); NaN if the member
            failed on any fold.
        failed: ``bool[P]`` a non-finite loss occurred on some fold.
    """

    params: Params
    metrics: dict[str, jax.Array]
    fitness: jax.Array
    failed: jax.Array


def _member_fn(cfg: TrainConfig, fold_axis: str):
    train = make_train(cfg)

    def member(key: Key, arch: Arch, params: Params, data: TrainData, lr):
        n_folds = data.train.shape[0]
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.arange(n_folds))
        if fold_axis == "vmap":
            return jax.vmap(train, in_axes=(0, None, 0, FOLD_AXES, None))(
                keys, arch, params, data, lr
            )

        def body(_, xs):
            k, p, fold = xs
            one = data._replace(**fold)
            return None, train(k, arch, p, one, lr)

        per_fold = {
            f: getattr(data, f)
            for f in ("train", "n_train", "val", "val_mask", "mean", "std")
        }
        _, out = jax.lax.scan(body, None, (keys, params, per_fold))
        return out

    return member


@functools.lru_cache(maxsize=64)
def population_fn(cfg: TrainConfig, fold_axis: str = "vmap"):
    """The cached ``jit(vmap(member))`` for ``cfg``.

    Signature of the returned function: ``(keys[P], archs[P], params[P],
    data, lr_scale f32[P]) -> (params[P, K], metrics[P, K])`` (input params
    ``[P, K, ...]``, one start per fold) with ``data`` a
    fold-stacked :class:`~nasjax.train.TrainData`. Its ``_cache_size()``
    counts the executables compiled so far for one device (one per bucket
    and population size); on several devices :func:`train_population` runs
    it per device block inside a cached ``shard_map`` wrapper.
    """
    if fold_axis not in FOLD_AXIS_MODES:
        raise ValueError(f"fold_axis must be one of {FOLD_AXIS_MODES}")
    member = _member_fn(cfg, fold_axis)
    return jax.jit(jax.vmap(member, in_axes=(0, 0, 0, None, 0)))


def dispatch_population_fn(
    cfg: TrainConfig,
    fold_axis: str,
    capacities: Capacities | ScheduleShape,
    node_loop: str = "unroll",
):
    """The cached jitted population-major trainer (``dispatch="ops"``).

    Same signature and outputs as :func:`population_fn`; each op of the
    network runs only on the members that use it (``capacities`` per node
    or per op, or with ``node_loop="schedule"`` a
    :class:`~nasjax.nn.schedule.ScheduleShape`; see
    :func:`nasjax.nn.apply_population`); ``node_loop``
    (``"unroll"``, ``"scan"`` or ``"schedule"``) is passed to
    :func:`nasjax.nn.apply_population`. Equal arguments give the same
    function object, however they are passed; with ``"scan"`` per-node
    capacities are first reduced to their per-op maximum (the one node body
    every node shares), so they key the same function as those.
    """
    if fold_axis not in FOLD_AXIS_MODES:
        raise ValueError(f"fold_axis must be one of {FOLD_AXIS_MODES}")
    check_node_loop(node_loop)
    if node_loop == "scan":
        capacities = shared_capacities(capacities)
    elif isinstance(capacities, ScheduleShape):
        capacities = ScheduleShape(*(int(c) for c in capacities))
    else:
        capacities = tuple(
            c if isinstance(c, int) else tuple(c)  # type: ignore[arg-type]
            for c in capacities
        )
    return _dispatch_population_fn(cfg, fold_axis, capacities, node_loop)


@functools.lru_cache(maxsize=64, typed=True)  # a ScheduleShape is no tuple
def _dispatch_population_fn(
    cfg: TrainConfig,
    fold_axis: str,
    capacities: Capacities | ScheduleShape,
    node_loop: str,
):
    train = make_population_train(cfg, capacities, node_loop)

    def pop(keys, archs, params, data: TrainData, lr):
        n_folds = data.train.shape[0]
        fold_keys = jax.vmap(
            lambda k: jax.vmap(jax.random.fold_in, (None, 0))(k, jnp.arange(n_folds))
        )(keys)  # [P, K]
        if fold_axis == "vmap" and n_folds > 1:
            return jax.vmap(train, in_axes=(1, None, 1, FOLD_AXES, None), out_axes=1)(
                fold_keys, archs, params, data, lr
            )
        # Folds one after another (also one fold alone: a vmap of one would
        # batch-trace the whole program a second time for nothing).

        per_fold = {
            f: getattr(data, f)
            for f in ("train", "n_train", "val", "val_mask", "mean", "std")
        }

        def body(_, xs):
            k, p, fold = xs
            return None, train(k, archs, p, data._replace(**fold), lr)

        xs = (
            jnp.swapaxes(fold_keys, 0, 1),
            jax.tree.map(lambda v: jnp.swapaxes(v, 0, 1), params),
            per_fold,
        )
        _, out = jax.lax.scan(body, None, xs)
        return jax.tree.map(lambda a: jnp.moveaxis(a, 0, 1), out)

    return jax.jit(pop)


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


def _take(tree: PyTree, idx: np.ndarray) -> PyTree:
    return jax.tree.map(lambda x: x[idx], tree)


def _block_capacities(
    archs: Arch,
    block: int,
    n_devices: int,
    floor: Capacities | None,
    per_node: bool,
) -> Capacities:
    """Op capacities enough for the real members of every device block.

    Chunks are split into device blocks of ``block`` consecutive members
    (padding, copies of member 0, only at the end, behind the real members,
    so a block's real members always get the op slots first). The counts
    are the most over the blocks (with one device: the whole population's);
    ``per_node`` picks exact per-node capacities (the unrolled node loop) or
    per-op powers of two (the scanned one, see
    :func:`nasjax.nn.population.capacities_from_counts`). ``floor`` (per op
    or per node) raises every capacity to at least its entry; all are at
    most ``block``.
    """
    spec = archs.spec
    n = archs.batch_shape[0]
    step = block if n_devices > 1 else n
    counts = np.max(
        [
            member_counts(_take(archs, np.arange(i, min(i + step, n))))
            for i in range(0, n, step)
        ],
        axis=0,
    )
    caps = np.asarray(capacities_from_counts(counts, block, per_node))
    if floor is not None:
        try:
            rows = np.asarray(per_node_capacities(floor, spec.max_nodes, spec.n_ops))
        except ValueError as e:
            raise ValueError(f"min_capacities: {e}") from None
        caps = np.maximum(caps, rows if per_node else rows.max(axis=0))
    caps = np.minimum(caps, block)
    if per_node:
        return tuple(tuple(int(c) for c in row) for row in caps)
    return tuple(int(c) for c in caps)


def _block_schedule(
    archs: Arch,
    order: np.ndarray,
    block: int,
    floor: Capacities | None,
) -> ScheduleShape:
    """An op schedule long enough for every device block of every chunk.

    ``order`` lists the members of the chunks one after another (padding
    members, copies of member 0, included: they are scheduled like the
    others), ``block`` members per device. The length is rounded up
    (:func:`nasjax.nn.schedule.round_steps`) so that later populations of
    similar size reuse the compiled program; ``floor`` (capacities per op
    or per node) raises it to the schedule those capacities bound.
    """
    spec = archs.spec
    need = max(
        schedule_steps(
            member_counts(_take(archs, order[i : i + block])), SCHEDULE_GROUP
        )
        for i in range(0, len(order), block)
    )
    if floor is not None:
        try:
            least = schedule_shape(floor, spec.max_nodes, spec.n_ops).n_steps
        except ValueError as e:
            raise ValueError(f"min_capacities: {e}") from None
        need = max(need, least)
    return ScheduleShape(SCHEDULE_GROUP, round_steps(need))


@functools.lru_cache(maxsize=64)
def _per_device(fn, mesh):
    """``fn`` on each device's block of the population (no communication)."""
    return jax.jit(blockwise(fn, mesh, (True, True, True, False, True)))


def train_population(
    key: Key,
    archs: Arch,
    params: Params | None,
    dataset: Dataset,
    folds: Folds,
    norm: NormStats,
    cfg: TrainConfig,
    *,
    fold_axis: str = "vmap",
    shard: bool = True,
    init_from: str = "inherit",
    lr_scale: jax.Array | None = None,
    data: TrainData | None = None,
    chunk_size: int | None = None,
    dispatch: str = "ops",
    min_capacities: Capacities | None = None,
    node_loop: str = "auto",
) -> PopulationResult:
    """Train a stacked population of one bucket on every walk-forward fold.

    Args:
        key: PRNG key; member ``i`` uses ``fold_in(key, i)`` and fold ``k`` of
            it ``fold_in(fold_in(key, i), k)``.
        archs: Stacked ``Arch`` with leading axis P (one bucket).
        params: Stacked params, or None to initialise from scratch: leaves
            ``[P, ...]`` (the same start on every fold) or ``[P, K, ...]``
            (fold ``k`` starts from copy ``k``, as inherited from a parent
            trained on the same folds; ``K = 1`` broadcasts). See
            :mod:`nasjax.nn.fold_params`.
        dataset: The pooled dataset.
        folds: Sample-id walk-forward folds.
        norm: Per-fold normalisation statistics.
        cfg: Training configuration.
        fold_axis: ``"vmap"`` (folds in parallel) or ``"scan"`` (sequential,
            K times less activation memory).
        shard: Shard the population axis over every device of every
            process (with one process: all local devices). False: each
            process trains the whole population on its first device.
        init_from: ``"inherit"`` (start from ``params``) or ``"scratch"``
            (fresh ``nasjax.nn.init`` from ``fold_in(key, -1)``-derived keys).
        lr_scale: Optional ``float32[P]`` per-member learning-rate factors.
        data: Pre-built fold-stacked ``TrainData`` (default: built from
            ``dataset``, ``folds``, ``norm`` and ``cfg``).
        chunk_size: Force a population chunk size (default: the memory guard's
            plan from ``cfg.memory_budget_bytes``).
        dispatch: ``"ops"`` (default): population-major forward pass running
            each op only on the members that use it
            (:func:`nasjax.nn.apply_population`); ``"switch"``:
            ``jit(vmap(train))`` where every node's ``lax.switch`` runs every
            op for every member. Both compute the same result (to float
            rounding); ``benchmarks/bench_population_train.py`` compares them.
        min_capacities: With ``dispatch="ops"``, a floor on the static
            capacities: one per op of ``archs.spec.ops`` (every node alike)
            or one row of those per node 1..N-1 (with
            ``node_loop="schedule"``: on the schedule length they bound). A search
            passes the elementwise max of its earlier rounds' capacities so
            the op mix of a new round rarely changes the compiled shapes:
            a few compiles per search instead of one per round. The result
            does not depend on it beyond float rounding.
        node_loop: With ``dispatch="ops"``: ``"unroll"`` (the fastest
            training step, about 2.5x the compile time), ``"schedule"``
            (one scan over an op schedule: each op compiled once, and the
            program's length rounded so that later populations of similar
            size reuse it), ``"scan"`` (nodes in ``lax.scan``; see
            :func:`nasjax.nn.embed_population`) or ``"auto"`` (default:
            :func:`choose_node_loop` of P, the folds and ``cfg.n_steps``).

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
        ValueError: On a bad mode or population shape.
    """
    if dispatch not in DISPATCH_MODES:
        raise ValueError(f"dispatch must be one of {DISPATCH_MODES}, got {dispatch!r}")
    if node_loop not in NODE_LOOP_MODES:
        raise ValueError(
            f"node_loop must be one of {NODE_LOOP_MODES}, got {node_loop!r}"
        )
    if init_from not in INIT_MODES:
        raise ValueError(f"init_from must be one of {INIT_MODES}, got {init_from!r}")
    if len(archs.batch_shape) != 1:
        raise ValueError(f"archs must be stacked on one axis, got {archs.batch_shape}")
    n_pop = archs.batch_shape[0]
    start: Params
    if params is None or init_from == "scratch":
        init_key = jax.random.fold_in(key, 2**31 - 1)
        start = _init_population(member_keys(init_key, n_pop), archs)
    else:
        start = params
    if data is None:
        data = make_train_data(
            dataset,
            folds,
            norm,
            eval_batch_size=cfg.eval_batch_size,
            max_eval_samples=cfg.max_eval_samples,
        )
    # One start per fold: inherited fold copies continue their own fold.
    params = _fold_starts(start, archs.spec, data.train.shape[0])
    lr = jnp.ones((n_pop,), jnp.float32) if lr_scale is None else lr_scale
    lr = jnp.asarray(lr, jnp.float32).reshape(n_pop)
    devices = population_devices(shard)
    n_dev = len(devices)
    spans_processes = shard and jax.process_count() > 1
    budget = cfg.memory_budget_bytes
    if spans_processes:
        budget = process_budget(default_budget() if budget is None else budget)
    n_parallel_folds = data.train.shape[0] if fold_axis == "vmap" else 1
    chunk = chunk_size or plan_chunk(
        archs.spec, cfg, n_pop, n_parallel_folds, n_dev, budget
    )
    chunk = padded_size(chunk, n_dev)
    n_chunks = -(-n_pop // chunk)
    order = padding_order(n_pop, n_chunks * chunk)  # padding repeats member 0
    keys = member_keys(key, n_pop)
    block = chunk // n_dev  # members per device per chunk
    if dispatch == "ops":
        if node_loop == "auto":
            node_loop = choose_node_loop(n_pop, data.train.shape[0], cfg.n_steps)
        if node_loop == "schedule":
            caps = _block_schedule(archs, order, block, min_capacities)
        else:
            caps = _block_capacities(
                archs, block, n_dev, min_capacities, per_node=node_loop == "unroll"
            )
        fn = dispatch_population_fn(cfg, fold_axis, caps, node_loop)
    else:
        fn = population_fn(cfg, fold_axis)
    mesh = population_mesh(devices) if n_dev > 1 else None
    if mesh is not None:
        data = replicate(data, mesh)
        fn = _per_device(fn, mesh)
    whole = chunk == n_pop  # one chunk, no padding: nothing to gather or join
    outs = []
    for c in range(n_chunks):
        args = (keys, archs, params, lr)
        if not whole:
            args = _take(args, order[c * chunk : (c + 1) * chunk])
        if mesh is not None:
            args = shard_population(args, mesh)
        out = fn(args[0], args[1], args[2], data, args[3])
        outs.append(gather_population(out) if spans_processes else out)
    out_params, metrics = outs[0] if whole else _joined(outs, n_pop)
    failed = jnp.any(metrics["failed"], axis=1)
    fitness = jnp.mean(metrics["best_score"], axis=1)
    fitness = jnp.where(failed, jnp.nan, fitness)
    return PopulationResult(out_params, metrics, fitness, failed)
