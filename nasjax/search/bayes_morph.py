"""``bayes_morph``: GP + expected improvement over morph children (the method).

Until ``n_init`` evaluations succeed, random archs are asked. Afterwards each
``ask`` fits the GP (multi-restart MAP, float64) to the archive, conditions it
on pending archs (kriging believer), and picks ``n`` distinct children of the
top-k archs by :func:`nasjax.surrogate.propose`; the children inherit their
parents' (trained) weights. If the candidates run out, random archs fill in.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from nasjax.graph.spec import ArchSpec
from nasjax.morph.registry import MORPHS
from nasjax.search.base import (
    Archive,
    Proposal,
    Searcher,
    SearchState,
    excluded,
    merge,
    proposal_from_random,
    random_population,
    take,
    tell_archive,
)
from nasjax.surrogate.encode import encode_population, layout
from nasjax.surrogate.gp import fit_gp
from nasjax.surrogate.propose import propose


def make(
    spec: ArchSpec,
    *,
    n_init: int = 8,
    n_candidates: int = 1024,
    top_k: int = 8,
    chain_length: int = 2,
    random_fraction: float = 0.125,
    morphs: Sequence[str] | None = None,
    acquisition: str = "ei",
    gp_method: str = "map",
    gp_restarts: int = 8,
    gp_steps: int = 200,
) -> Searcher:
    """GP-BO over morphs in bucket ``spec``.

    Args:
        spec: The bucket.
        n_init: Successful evaluations before the GP is used.
        n_candidates: Candidates scored per ask.
        top_k: Parents come from the ``top_k`` fittest archs.
        chain_length: Morphs per candidate chain.
        random_fraction: Share of random-restart candidates.
        morphs: Morph names (default: all).
        acquisition: ``"ei"``, ``"log_ei"``, ``"pi"`` or ``"ucb"``.
        gp_method: ``"map"`` or ``"nuts"``.
        gp_restarts: MAP restarts.
        gp_steps: Adam steps per restart.
    """
    names = tuple(MORPHS) if morphs is None else tuple(morphs)
    lay = layout(spec)

    def init(key, cfg=None):
        del key, cfg
        return SearchState(Archive(), None, 0)

    def ask(key, state, n):
        arch = state.archive
        k_fit, k_prop, k_fill = jax.random.split(key, 3)
        seen = excluded(state)
        ok = np.isfinite(arch.fitness)
        if arch.archs is None or ok.sum() < n_init:
            archs, params, fps = random_population(k_fill, spec, n, seen)
            prop = proposal_from_random(archs, params, fps)
            return prop, state._replace(pending=prop)
        enc = encode_population(arch.archs)
        gp = fit_gp(
            k_fit, enc, arch.fitness, lay,
            method=gp_method, n_restarts=gp_restarts, steps=gp_steps,
        )  # fmt: skip
        with_params = np.asarray(
            [ok[i] and fp in arch.params for i, fp in enumerate(arch.fingerprints)]
        )
        idx = np.flatnonzero(with_params)
        parents = take(arch.archs, idx)
        params = jax.tree.map(
            lambda *v: np.stack(v), *[arch.params[arch.fingerprints[i]] for i in idx]
        )
        pending = (
            encode_population(state.pending.archs)
            if state.pending is not None
            else None
        )
        mp = propose(
            k_prop, gp, parents, params, arch.fitness[idx], n,
            n_candidates=n_candidates, top_k=top_k, chain_length=chain_length,
            random_fraction=random_fraction, morphs=names,
            acquisition=acquisition, exclude=seen, pending=pending,
        )  # fmt: skip
        k = len(mp.fingerprints)
        morph_names = tuple(
            tuple(
                names[int(m)]
                for m, a in zip(mp.morph_ids[i], mp.applied[i], strict=True)
                if a
            )
            for i in range(k)
        )
        parent_fps = tuple(
            arch.fingerprints[idx[p]] if p >= 0 else "" for p in mp.parent
        )
        prop = Proposal(mp.archs, mp.params, parent_fps, morph_names, mp.fingerprints)
        if k < n:
            seen |= set(mp.fingerprints)
            r = random_population(k_fill, spec, n - k, seen)
            extra = proposal_from_random(*r)
            prop = extra if k == 0 else merge(prop, extra)
        return prop, state._replace(pending=prop)

    def tell(key, state, archs, fitness, params=None):
        del key
        return tell_archive(state, archs, fitness, params, max(top_k, 2 * n_init))

    return Searcher(init, ask, tell)
