"""Acquisition maximisation over morph children of the best archs.

One round: ``n_candidates`` children are drawn by vmapped random morph chains
(:func:`nasjax.morph.morph_chain`) from the top-k archs, plus random restarts
(:func:`nasjax.graph.random_arch`); all are encoded and scored in one call.
Children are generated weight-free (the parameter work is dead code that XLA
removes), then the ``n`` winners are replayed from the same keys on their
parents' real parameters, so they inherit weights. Batch selection is greedy
with the kriging believer: after each pick the GP is conditioned on it.
Duplicates (by fingerprint, within the batch and against ``exclude``) are
skipped.

Multi-objective (optional :class:`Scalarisation`): the GP models objective 0
(accuracy) and the other objectives (e.g. ``-log10`` parameter count) are
computed exactly for every candidate; pick ``t`` of the batch maximises the
exact expected improvement of an augmented Chebyshev scalarisation with its
own weight vector (qParEGO-style), so one batch spreads along the front.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from nasjax import nn
from nasjax.graph.arch import ARCH_FIELDS, Arch
from nasjax.graph.build import random_arch
from nasjax.graph.fingerprint import fingerprint
from nasjax.graph.spec import pad_to_bucket, repeat_rows
from nasjax.morph.registry import MORPHS, morph_chain
from nasjax.nn.fold_params import as_fold_params, broadcast_folds, map_fold_copies
from nasjax.surrogate.acquisition import (
    expected_improvement,
    log_expected_improvement,
    probability_of_improvement,
    upper_confidence_bound,
)
from nasjax.surrogate.batch import kriging_believer
from nasjax.surrogate.encode import encode
from nasjax.surrogate.gp import GPState
from nasjax.surrogate.pareto import (
    chebyshev,
    normalise,
    scalarised_expected_improvement,
)
from nasjax.typing import Key, Params


class MorphProposal(NamedTuple):
    """The chosen children.

    Attributes:
        archs: Stacked ``Arch`` population ``[n']`` (``n' <= n``).
        params: Their inherited parameters per fold (fresh ``nn.init`` for
            restarts, the same on every fold), leaves ``[n', K, ...]``.
        parent: ``int32[n']`` index into the archs given to :func:`propose`;
            ``-1`` for random restarts.
        morph_ids: ``int32[n', L]`` morphs drawn (index into ``morphs``).
        applied: ``bool[n', L]`` which of them changed the arch.
        fingerprints: Fingerprint of each child.
        acquisition: ``float32[n']`` acquisition value when picked.
        mean: ``float32[n']`` posterior mean. std: ``float32[n']`` posterior std.
    """

    archs: Arch
    params: Params
    parent: np.ndarray
    morph_ids: np.ndarray
    applied: np.ndarray
    fingerprints: tuple[str, ...]
    acquisition: np.ndarray
    mean: np.ndarray
    std: np.ndarray


class Scalarisation(NamedTuple):
    """Per-pick random scalarisations of ``K`` maximised objectives.

    Objective 0 is the GP's target (accuracy); objectives ``1..K-1`` are known
    functions of the architecture (``known``).

    Attributes:
        weights: ``float[n, K]`` one simplex weight per pick of the batch.
        lo: ``float[K]`` normalisation lower bounds (usually the archive's).
        hi: ``float[K]`` normalisation upper bounds.
        observed: ``float[E, K]`` objective rows of the evaluations (and the
            believed pending ones), for each weight's incumbent; NaN rows are
            ignored.
        known: ``(stacked Arch [C]) -> float[C, K-1]`` the known objectives
            of candidates (maximised, e.g. ``-log10(params)``).
        rho: Augmentation weight of the Chebyshev scalarisation (``> 0``).
    """

    weights: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    observed: np.ndarray
    known: Callable[[Arch], jax.Array]
    rho: float = 0.05


@functools.partial(jax.jit, static_argnames=("n_morph", "n_random", "length", "names"))
def _generate(key, parents, params0, valid, *, n_morph, n_random, length, names):
    k_par, k_chain, k_rand = jax.random.split(key, 3)
    logits = jnp.where(valid, 0.0, -jnp.inf)
    parent = jax.random.categorical(k_par, logits, shape=(n_morph,))
    keys = jax.random.split(k_chain, n_morph)
    pa = jax.tree.map(lambda v: v[parent], parents)

    def child(k, a):
        arch, _, ids, applied = morph_chain(k, a, params0, length, names)
        return arch, ids, applied

    archs, ids, applied = jax.vmap(child)(keys, pa)
    rkeys = jax.random.split(k_rand, n_random)
    rand = jax.vmap(random_arch, in_axes=(0, None))(rkeys, parents.spec)
    allx = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), archs, rand)
    enc = jax.vmap(encode)(allx)
    return allx, enc, parent, keys, rkeys, ids, applied


@functools.partial(jax.jit, static_argnames=("length", "names"))
def _replay(keys, rkeys, parents, params, parent, is_random, *, length, names):
    pa = jax.tree.map(lambda v: v[parent], parents)
    pp = jax.tree.map(lambda v: v[parent], params)  # [n, K, ...]

    def child(k, a, p):  # the same chain on every fold copy of the params
        def chain(pk):
            return morph_chain(k, a, pk, length, names)

        first, every = map_fold_copies(chain, p)
        return first[0], every[1]

    m_arch, m_params = jax.vmap(child)(keys, pa, pp)
    r_arch = jax.vmap(random_arch, in_axes=(0, None))(rkeys, parents.spec)
    n_folds = jax.tree.leaves(m_params)[0].shape[1]
    fresh = jax.vmap(nn.init)(rkeys, r_arch)
    r_params = broadcast_folds(jax.tree.map(lambda v: v[:, None], fresh), n_folds)

    def pick(a, b):
        sel = is_random.reshape((-1,) + (1,) * (a.ndim - 1))
        return jnp.where(sel, b, a)

    return jax.tree.map(pick, m_arch, r_arch), jax.tree.map(pick, m_params, r_params)


def score(
    gp: GPState, encoded: jax.Array, acquisition: str = "ei", beta: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(acquisition, mean, std)`` of every candidate (host float64 arrays).

    ``acquisition`` is ``"ei"``, ``"log_ei"``, ``"pi"`` or ``"ucb"``.
    """
    mean, std = gp.predict(encoded)
    with jax.enable_x64(True):
        m, s = jnp.asarray(mean, jnp.float64), jnp.asarray(std, jnp.float64)
        best = gp.best
        if acquisition == "ei":
            acq = expected_improvement(m, s, best)
        elif acquisition == "log_ei":
            acq = log_expected_improvement(m, s, best)
        elif acquisition == "pi":
            acq = probability_of_improvement(m, s, best)
        elif acquisition == "ucb":
            acq = upper_confidence_bound(m, s, beta)
        else:
            raise ValueError(f"unknown acquisition {acquisition!r}")
        return np.asarray(acq), np.asarray(m), np.asarray(s)


@functools.partial(jax.jit, static_argnames="rho")
def _scalarised_acq(mean, std, known, observed, w, lo, hi, *, rho):
    """Scalarised EI; ``observed`` rows with NaN (padding) are ignored."""
    inc = chebyshev(normalise(observed, lo, hi), w, rho)
    best = jnp.nanmax(inc)
    return scalarised_expected_improvement(mean, std, known, w, lo, hi, best, rho)


def _score_scalarised(
    gp: GPState,
    encoded: jax.Array,
    known: np.ndarray,
    observed: np.ndarray,
    sc: Scalarisation,
    t: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scalarised EI, mean, std)`` of every candidate for weight ``t``."""
    mean, std = gp.predict(encoded)
    w = np.asarray(sc.weights, np.float64)[t % len(sc.weights)]
    ok = np.all(np.isfinite(observed), axis=1)
    if not ok.any():
        raise ValueError("scalarisation.observed needs a finite row")
    # Pad the incumbents to a power of two: one compile per size bucket.
    rows = pad_to_bucket(observed[ok], 8, dtype=np.float64)
    with jax.enable_x64(True):
        f64 = functools.partial(jnp.asarray, dtype=jnp.float64)
        m, s = f64(mean), f64(std)
        acq = _scalarised_acq(
            m, s, f64(known), f64(rows), f64(w), f64(sc.lo), f64(sc.hi), rho=sc.rho
        )
        return np.asarray(acq), np.asarray(m), np.asarray(s)


def _row(host: dict, i: int, spec) -> Arch:
    return Arch(spec=spec, **{f: host[f][i] for f in ARCH_FIELDS})


def propose(
    key: Key,
    gp: GPState,
    archive_archs: Arch,
    archive_params: Params,
    archive_fitness: ArrayLike,
    n: int,
    *,
    n_candidates: int = 2048,
    top_k: int = 8,
    chain_length: int = 2,
    random_fraction: float = 0.125,
    morphs: Sequence[str] | None = None,
    acquisition: str = "ei",
    beta: float = 2.0,
    exclude: Collection[str] = (),
    pending: jax.Array | None = None,
    scalarisation: Scalarisation | None = None,
) -> MorphProposal:
    """Choose ``n`` new archs by maximising the acquisition over morph children.

    Args:
        key: PRNG key.
        gp: Fitted surrogate.
        archive_archs: Stacked evaluated archs ``[P]`` of one bucket (parents).
        archive_params: Their parameters, leaves ``[P, K, ...]`` (one copy
            per walk-forward fold, :mod:`nasjax.nn.fold_params`) or
            ``[P, ...]`` (one copy). Every copy of a parent is morphed the
            same way.
        archive_fitness: ``float[P]`` (NaN = failed, never a parent).
        n: Batch size ``q``.
        n_candidates: Candidates per round (static: one compile).
        top_k: Parents are drawn uniformly from the ``top_k`` fittest.
        chain_length: Morphs per chain.
        random_fraction: Share of random-restart candidates.
        morphs: Morph names (default: all of :data:`~nasjax.morph.MORPHS`).
        acquisition: ``"ei"`` (default), ``"log_ei"``, ``"pi"`` or ``"ucb"``.
        beta: UCB multiplier.
        exclude: Fingerprints never to propose (the archive, pending archs).
        pending: ``float[R, D]`` encodings of pending evaluations (believed).
        scalarisation: Multi-objective mode (see :class:`Scalarisation`):
            pick ``t`` maximises the exact scalarised EI with
            ``scalarisation.weights[t]`` (``acquisition`` is then unused), and
            ``archive_fitness`` only ranks the parents.

    Returns:
        A :class:`MorphProposal` with up to ``n`` distinct children (fewer only
        if the candidates run out).
    """
    names = tuple(MORPHS) if morphs is None else tuple(morphs)
    archive_params = as_fold_params(archive_params, archive_archs.spec)
    fit = np.asarray(archive_fitness, np.float64)
    finite = np.flatnonzero(np.isfinite(fit))
    order = finite[np.argsort(-fit[finite], kind="stable")][:top_k]
    if len(order) == 0:
        order = np.arange(min(len(fit), top_k))
    idx = repeat_rows(order, top_k)  # pad to a static size by repetition
    valid = np.arange(top_k) < len(order)
    parents = jax.tree.map(lambda v: v[idx], archive_archs)
    params = jax.tree.map(lambda v: v[idx], archive_params)
    params0 = jax.tree.map(lambda v: v[0, 0], params)  # shapes only
    n_random = max(1, round(n_candidates * random_fraction))
    n_morph = max(1, n_candidates - n_random)
    k_gen, _ = jax.random.split(key)
    archs, enc, parent, keys, rkeys, ids, applied = _generate(
        k_gen, parents, params0, jnp.asarray(valid),
        n_morph=n_morph, n_random=n_random, length=chain_length, names=names,
    )  # fmt: skip
    host = {f: np.asarray(getattr(archs, f)) for f in ARCH_FIELDS}
    flat = np.concatenate(
        [host[f].reshape(len(host["ops"]), -1).astype(np.int64) for f in ARCH_FIELDS],
        1,
    )
    _, first = np.unique(flat, axis=0, return_index=True)
    alive = np.zeros(len(flat), bool)
    alive[first] = True
    if pending is not None and len(pending):
        gp = kriging_believer(gp, pending)
    seen = set(exclude)
    fps: dict[int, str] = {}
    chosen: list[int] = []
    acq_out, mean_out, std_out = [], [], []
    if scalarisation is not None:
        sc = scalarisation
        known = np.asarray(sc.known(archs), np.float64).reshape(len(flat), -1)
        observed = np.asarray(sc.observed, np.float64).reshape(-1, known.shape[1] + 1)
    for t in range(n):
        if scalarisation is None:
            acq, mean, std = score(gp, enc, acquisition, beta)
        else:
            acq, mean, std = _score_scalarised(gp, enc, known, observed, sc, t)
        acq = np.where(alive & np.isfinite(acq), acq, -np.inf)
        pick = -1
        for i in np.argsort(-acq, kind="stable"):
            if not np.isfinite(acq[i]):
                break
            fp = fps.get(int(i)) or fingerprint(_row(host, int(i), archs.spec))
            fps[int(i)] = fp
            alive[i] = False
            if fp not in seen:
                pick = int(i)
                seen.add(fp)
                break
        if pick < 0:
            break
        chosen.append(pick)
        acq_out.append(acq[pick])
        mean_out.append(mean[pick])
        std_out.append(std[pick])
        gp = kriging_believer(gp, enc[pick][None])
        if scalarisation is not None:
            believed = np.concatenate([[mean[pick]], known[pick]])
            observed = np.concatenate([observed, believed[None]])
    sel = np.asarray(chosen, np.int64)
    is_random = sel >= n_morph
    slots = repeat_rows(sel, n)  # by repetition (zeros when none was chosen)
    rnd = repeat_rows(is_random, n)
    m_idx = np.where(rnd, 0, np.minimum(slots, n_morph - 1))
    r_idx = np.where(rnd, slots - n_morph, 0)
    out_archs, out_params = _replay(
        keys[m_idx], rkeys[r_idx], parents, params,
        jnp.asarray(np.asarray(parent)[m_idx]), jnp.asarray(rnd),
        length=chain_length, names=names,
    )  # fmt: skip
    k = len(sel)
    out_archs = jax.tree.map(lambda v: v[:k], out_archs)
    out_params = jax.tree.map(lambda v: v[:k], out_params)
    for f in ARCH_FIELDS:
        if not np.array_equal(np.asarray(getattr(out_archs, f)), host[f][sel]):
            raise RuntimeError(f"replaying the chosen morph chains changed {f}")
    parent_out = np.where(is_random, -1, idx[np.asarray(parent)[m_idx[:k]]])
    ids_h, app_h = np.asarray(ids), np.asarray(applied)
    length = chain_length
    return MorphProposal(
        archs=out_archs,
        params=out_params,
        parent=parent_out.astype(np.int32),
        morph_ids=np.where(is_random[:, None], -1, ids_h[m_idx[:k]]).reshape(k, length),
        applied=np.where(is_random[:, None], False, app_h[m_idx[:k]]).reshape(
            k, length
        ),
        fingerprints=tuple(fps[i] for i in chosen),
        acquisition=np.asarray(acq_out, np.float32),
        mean=np.asarray(mean_out, np.float32),
        std=np.asarray(std_out, np.float32),
    )
