"""The ``Searcher`` protocol, proposals and the host-side archive.

Driver loop (training lives elsewhere)::

    searcher = nasjax.search.SEARCHERS["bayes_morph"](spec)
    state = searcher.init(key, None)
    for r in range(rounds):
        key, k_ask, k_train, k_tell = jax.random.split(key, 4)
        proposal, state = searcher.ask(k_ask, state, 16)
        trained = train_population(k_train, proposal.archs, proposal.params,
                                   data, train_cfg)  # data: a FoldedData
        fitness, params = trained.fitness, trained.params  # params [n, K, ...]
        state, metrics = searcher.tell(k_tell, state, proposal.archs, fitness,
                                       params=params)

``ask`` returns a :class:`Proposal` (the archs plus inherited params and
lineage) rather than bare archs; ``tell`` takes the archs and fitness (NaN =
failed) and, optionally, the trained params the next round's children
inherit (default: the params handed out by ``ask``).

Params carry a fold axis (:mod:`nasjax.nn.fold_params`): ``tell`` takes
``train_population``'s per-fold params ``[P, K, ...]`` (plain ``[P, ...]``
counts as one copy for every fold), the archive keeps ``[K, ...]`` per
member, morphs change every fold copy the same way, and ``ask`` hands out
``[n, K, ...]`` (``K = 1`` for fresh weights), so a child continues each
fold from its parent's weights for that fold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from nasjax import nn
from nasjax.graph.arch import ARCH_FIELDS, Arch
from nasjax.graph.build import random_arch
from nasjax.graph.spec import ArchSpec, bucket_size, repeat_rows
from nasjax.nn.fold_params import as_fold_params, concat_members
from nasjax.typing import Key, Params

FIELDS = ARCH_FIELDS
"""Alias of :data:`nasjax.graph.ARCH_FIELDS` (kept for old imports)."""


class Proposal(NamedTuple):
    """What ``ask`` hands the driver.

    Attributes:
        archs: Stacked ``Arch`` population ``[n]`` of the searcher's bucket.
        params: Initial params per fold ``[n, K, ...]``: inherited from the
            parents' fold copies, or fresh (``K = 1``: the same on every
            fold).
        parent_fingerprints: Parent of each member (``""`` if none).
        morph_names: Morphs applied to the parent, per member.
        fingerprints: Fingerprint of each member.
    """

    archs: Arch
    params: Params
    parent_fingerprints: tuple[str, ...]
    morph_names: tuple[tuple[str, ...], ...]
    fingerprints: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Archive:
    """Every evaluation so far (host-side, immutable; updated out of place).

    Attributes:
        archs: Stacked evaluated archs ``[E]`` (None when empty).
        fitness: ``float64[E]``; NaN marks a failed evaluation.
        fingerprints: One per evaluation.
        fitness_se: ``float64[E]`` standard error of each fitness (NaN:
            unknown), which a noise-aware surrogate takes as that
            observation's noise; archives saved before it existed load with
            an empty array (every error unknown).
        params: Fold params ``[K, ...]`` (host numpy) of the archs kept for
            inheritance, by fingerprint (the top-k and the most recent ones).
    """

    archs: Arch | None = None
    fitness: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    fingerprints: tuple[str, ...] = ()
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    fitness_se: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.fingerprints)

    @property
    def best(self) -> float:
        """Best finite fitness (NaN when none)."""
        ok = np.isfinite(self.fitness)
        return float(np.max(self.fitness[ok])) if ok.any() else float("nan")

    @property
    def noise_var(self) -> np.ndarray:
        """``float64[E]`` known noise variance of each fitness (``se ** 2``;
        0 where the error is unknown, so only the learned noise applies)."""
        se = self.fitness_se
        if len(se) != len(self.fitness):
            return np.zeros(len(self.fitness))
        return np.where(np.isfinite(se), se, 0.0) ** 2


class SearchState(NamedTuple):
    """State shared by the registry's searchers.

    Attributes:
        archive: The evaluations.
        pending: The last ask not yet told (None when none).
        round: Completed ``tell`` calls.
        carry: Searcher-private values kept across rounds (host arrays and
            scalars, checkpointed with the state), e.g. ``bayes_morph``'s
            last GP hyper-parameters for a warm start; None when unused.
    """

    archive: Archive
    pending: Proposal | None
    round: int
    carry: dict[str, Any] | None = None


class InitFn(Protocol):
    """``Searcher.init``: the starting state of a search."""

    def __call__(self, key: Key, cfg: Any = None, /) -> SearchState:
        """The state before the first ``ask``.

        Args:
            key: PRNG key.
            cfg: Searcher-specific start configuration; the registry's
                searchers take None (see :func:`init_state`).

        Returns:
            The initial :class:`SearchState`.
        """
        ...


class AskFn(Protocol):
    """``Searcher.ask``: propose the next batch of archs to evaluate."""

    def __call__(
        self, key: Key, state: SearchState, n: int, /
    ) -> tuple[Proposal, SearchState]:
        """Up to ``n`` new archs (never one already evaluated or pending).

        Args:
            key: PRNG key.
            state: The current state.
            n: Batch size wanted.

        Returns:
            ``(proposal, state)``: a :class:`Proposal` of ``n`` stacked archs
            ``[n]`` with their initial params ``[n, K, ...]``, and the state
            with the proposal pending.
        """
        ...


class TellFn(Protocol):
    """``Searcher.tell``: record the evaluations of the last ``ask``."""

    def __call__(
        self,
        key: Key,
        state: SearchState,
        archs: Arch,
        fitness: ArrayLike,
        /,
        params: Params | None = None,
        fitness_se: ArrayLike | None = None,
    ) -> tuple[SearchState, dict]:
        """Add evaluated archs to the archive.

        Args:
            key: PRNG key.
            state: The current state.
            archs: Stacked evaluated archs ``[P]``.
            fitness: ``float[P]`` fitness (higher is better; NaN = failed).
            params: Trained params ``[P, K, ...]`` per fold (or ``[P, ...]``)
                the next rounds' children inherit; None keeps those ``ask``
                handed out.
            fitness_se: ``float[P]`` standard error of each fitness (e.g.
                its fold spread), or None (unknown); a noise-aware searcher
                trusts a precise observation more than a noisy one.

        Returns:
            ``(state, metrics)``: the updated state and a dict of scalar
            metrics of the archive.
        """
        ...


class Searcher(NamedTuple):
    """Pure functions ``init``, ``ask``, ``tell`` (optax / evosax style).

    Attributes:
        init: ``(key, cfg=None) -> state`` (:class:`InitFn`).
        ask: ``(key, state, n) -> (Proposal, state)`` (:class:`AskFn`).
        tell: ``(key, state, archs, fitness, params=None, fitness_se=None)
            -> (state, metrics)`` (:class:`TellFn`).
    """

    init: InitFn
    ask: AskFn
    tell: TellFn


def init_state(key: Key, cfg: Any = None) -> SearchState:
    """The shared ``init``: an empty archive, nothing pending, round 0.

    Args:
        key: PRNG key (unused: the registry's searchers start empty).
        cfg: Unused; accepted for the ``Searcher.init`` signature.
    """
    del key, cfg
    return SearchState(Archive(), None, 0)


def host_rng(key: Key) -> np.random.Generator:
    """A numpy generator determined by ``key``."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).tolist())


def row(archs: Arch, i: int) -> Arch:
    """Member ``i`` of a stacked population."""
    return jax.tree.map(lambda v: v[i], archs)


def take(tree: Any, idx: np.ndarray) -> Any:
    """Leafwise ``v[idx]``."""
    return jax.tree.map(lambda v: v[idx], tree)


def concat(a: Any, b: Any) -> Any:
    """Leafwise concatenation along axis 0."""
    return jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a, b)


def fingerprints(archs: Arch) -> tuple[str, ...]:
    """Fingerprints of a stacked population (host-side)."""
    host = {f: np.asarray(getattr(archs, f)) for f in ARCH_FIELDS}
    n = host["ops"].shape[0]
    return tuple(
        Arch(spec=archs.spec, **{f: host[f][i] for f in ARCH_FIELDS}).fingerprint()
        for i in range(n)
    )


init_population = jax.jit(jax.vmap(nn.init))
"""``(keys [P], archs [P]) -> params [P, ...]``: fresh params, jitted."""
_random_pop = jax.jit(jax.vmap(random_arch, in_axes=(0, None)), static_argnums=1)


def random_population(
    key: Key, spec: ArchSpec, n: int, exclude: set[str], tries: int = 8
) -> tuple[Arch, Params, tuple[str, ...]]:
    """``n`` random archs with distinct fingerprints not in ``exclude``.

    Raises:
        RuntimeError: If the space seems exhausted after ``tries`` draws.
    """
    chosen_keys: list[np.ndarray] = []
    fps: list[str] = []
    seen = set(exclude)
    draw = max(2 * n, 8)
    for t in range(tries):
        keys = jax.random.split(jax.random.fold_in(key, t), draw)
        cand = _random_pop(keys, spec)
        for i, fp in enumerate(fingerprints(cand)):
            if fp not in seen and len(fps) < n:
                seen.add(fp)
                fps.append(fp)
                chosen_keys.append(np.asarray(jax.random.key_data(keys[i])))
        if len(fps) == n:
            break
        draw *= 2
    if len(fps) < n:
        raise RuntimeError(f"could only find {len(fps)} new random archs of {n}")
    # Pad to a power of two so varying counts do not recompile.
    padded = repeat_rows(np.stack(chosen_keys), bucket_size(n, 8))
    keys = jax.random.wrap_key_data(jnp.asarray(padded))
    archs = _random_pop(keys, spec)
    params = init_population(keys, archs)
    return take(archs, np.arange(n)), take(params, np.arange(n)), tuple(fps)


def add_to_archive(
    archive: Archive,
    archs: Arch,
    fitness: np.ndarray,
    params: Params,
    fps: tuple[str, ...],
    keep: int,
    protect: Callable[[Arch, np.ndarray], np.ndarray] | None = None,
    fitness_se: np.ndarray | None = None,
) -> Archive:
    """Append evaluations; keep params of the ``keep`` fittest and most recent.

    ``protect(all_archs, all_fitness) -> int[...]`` names further rows whose
    params are kept (e.g. the Pareto front of a multi-objective search).
    ``fitness_se`` (``float[P]``, None: unknown) is appended to the
    archive's standard errors.
    """
    fitness = np.asarray(fitness, np.float64).reshape(-1)
    se = (
        np.full(len(fitness), np.nan)
        if fitness_se is None
        else np.asarray(fitness_se, np.float64).reshape(-1)
    )
    if se.shape != fitness.shape:
        raise ValueError(f"{len(se)} standard errors for {len(fitness)} fitness values")
    old_se = archive.fitness_se
    if len(old_se) != len(archive.fitness):  # saved before errors were kept
        old_se = np.full(len(archive.fitness), np.nan)
    all_se = np.concatenate([old_se, np.where(se >= 0, se, np.nan)])
    all_archs = archs if archive.archs is None else concat(archive.archs, archs)
    all_fit = np.concatenate([archive.fitness, fitness])
    all_fps = archive.fingerprints + tuple(fps)
    store = dict(archive.params)
    host = jax.tree.map(np.asarray, params)
    for i, fp in enumerate(fps):
        store[fp] = jax.tree.map(lambda v, i=i: v[i], host)
    finite = np.flatnonzero(np.isfinite(all_fit))
    top = finite[np.argsort(-all_fit[finite], kind="stable")][:keep]
    wanted = {all_fps[i] for i in top} | set(all_fps[-keep:])
    if protect is not None:
        wanted |= {all_fps[int(i)] for i in protect(all_archs, all_fit)}
    store = {k: v for k, v in store.items() if k in wanted}
    return Archive(all_archs, all_fit, all_fps, store, all_se)


def tell_archive(
    state: SearchState,
    archs: Arch,
    fitness: jax.Array,
    params: Params | None,
    keep: int,
    protect: Callable[[Arch, np.ndarray], np.ndarray] | None = None,
    fitness_se: ArrayLike | None = None,
) -> tuple[SearchState, dict]:
    """The shared ``tell``: record evaluations (NaN = failed) and metrics.

    ``keep`` and ``protect`` choose the params kept (:func:`add_to_archive`);
    ``fitness_se`` (None: unknown) is kept beside the fitness.
    """
    fit = np.asarray(fitness, np.float64).reshape(-1)
    if len(fit) != archs.batch_shape[0]:
        raise ValueError(f"{len(fit)} fitness values for {archs.batch_shape[0]} archs")
    fit = np.where(np.isfinite(fit), fit, np.nan)
    fps = fingerprints(archs)
    pend = state.pending
    if params is not None:
        kept = as_fold_params(params, archs.spec)
    elif pend is not None and pend.fingerprints == fps:
        kept = pend.params
    else:
        fresh = init_population(jax.random.split(jax.random.key(0), len(fit)), archs)
        kept = as_fold_params(fresh, archs.spec)
    se = None if fitness_se is None else np.asarray(fitness_se, np.float64)
    archive = add_to_archive(
        state.archive, archs, fit, kept, fps, keep, protect, fitness_se=se
    )
    metrics = {
        "round": state.round + 1,
        "n_evaluated": len(archive),
        "n_failed": int(np.sum(~np.isfinite(archive.fitness))),
        "batch_best": float(np.nanmax(fit)) if np.isfinite(fit).any() else np.nan,
        "best_fitness": archive.best,
    }
    return state._replace(archive=archive, pending=None, round=state.round + 1), metrics


def proposal_from_random(archs: Arch, params: Params, fps: tuple[str, ...]) -> Proposal:
    """A proposal of parentless archs (fresh ``params [n, ...]``: one fold copy)."""
    n = len(fps)
    fold_params = as_fold_params(params, archs.spec)
    return Proposal(archs, fold_params, ("",) * n, ((),) * n, fps)


def merge(a: Proposal, b: Proposal) -> Proposal:
    """Concatenate two proposals (fold axes of length 1 broadcast)."""
    return Proposal(
        concat(a.archs, b.archs),
        concat_members(a.params, b.params),
        a.parent_fingerprints + b.parent_fingerprints,
        a.morph_names + b.morph_names,
        a.fingerprints + b.fingerprints,
    )


def excluded(state: SearchState) -> set[str]:
    """Fingerprints not to propose again: archive and pending."""
    pend = state.pending.fingerprints if state.pending is not None else ()
    return set(state.archive.fingerprints) | set(pend)
