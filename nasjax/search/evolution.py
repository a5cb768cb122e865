"""``evolution``: regularized (aging) evolution with morphs as mutations.

Real et al. (2019): the population is the ``population_size`` most recent
evaluations; each child mutates the fittest of ``sample_size`` members drawn
at random (failed members count as worst). Mutations are one random morph,
so children inherit their parent's weights.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import numpy as np

from nasjax.graph.spec import ArchSpec
from nasjax.morph.registry import MORPHS, random_morph
from nasjax.nn.fold_params import map_fold_copies, stack_members
from nasjax.search.base import (
    Proposal,
    Searcher,
    excluded,
    fingerprints,
    host_rng,
    init_population,
    init_state,
    merge,
    proposal_from_random,
    random_population,
    take,
    tell_archive,
)


@functools.partial(jax.jit, static_argnames="names")
def _mutate(keys, archs, params, names):
    """One random morph per member; params ``[n, K, ...]`` morphed per fold."""

    def one(k, a, p):
        (first, which), (every, _) = map_fold_copies(
            lambda pk: random_morph(k, a, pk, names), p
        )
        return first.arch, every.params, first.applied, which

    return jax.vmap(one)(keys, archs, params)


def make(
    spec: ArchSpec,
    *,
    population_size: int = 32,
    sample_size: int = 8,
    morphs: Sequence[str] | None = None,
) -> Searcher:
    """Aging evolution over ``spec``.

    Args:
        spec: The bucket.
        population_size: Aging window (most recent evaluations).
        sample_size: Tournament size.
        morphs: Mutation morph names (default: all).
    """
    names = tuple(MORPHS) if morphs is None else tuple(morphs)

    def ask(key, state, n):
        arch = state.archive
        k_pick, k_mut, k_fill = jax.random.split(key, 3)
        if len(arch) < 2 or arch.archs is None:
            archs, params, fps = random_population(k_fill, spec, n, excluded(state))
            prop = proposal_from_random(archs, params, fps)
            return prop, state._replace(pending=prop)
        rng = host_rng(k_pick)
        start = max(0, len(arch) - population_size)
        pop = np.arange(start, len(arch))
        fit = np.where(np.isfinite(arch.fitness), arch.fitness, -np.inf)
        parents = np.empty(n, np.int64)
        for i in range(n):
            sample = rng.choice(pop, size=min(sample_size, len(pop)), replace=False)
            parents[i] = sample[np.argmax(fit[sample])]
        p_archs = take(arch.archs, parents)
        stored = [arch.params.get(arch.fingerprints[i]) for i in parents]
        if all(s is not None for s in stored):
            p_params = stack_members(stored)
        else:
            fresh = init_population(jax.random.split(k_mut, n), p_archs)
            p_params = jax.tree.map(lambda v: v[:, None], fresh)
        c_archs, c_params, applied, which = _mutate(
            jax.random.split(k_mut, n), p_archs, p_params, names
        )
        fps = fingerprints(c_archs)
        seen = excluded(state)
        keep = []
        for i, fp in enumerate(fps):
            if bool(applied[i]) and fp not in seen:
                seen.add(fp)
                keep.append(i)
        idx = np.asarray(keep, np.int64)
        which = np.asarray(which)
        prop = Proposal(
            take(c_archs, idx),
            take(c_params, idx),
            tuple(arch.fingerprints[parents[i]] for i in keep),
            tuple((names[int(which[i])],) for i in keep),
            tuple(fps[i] for i in keep),
        )
        if len(keep) < n:
            r_archs, r_params, r_fps = random_population(
                k_fill, spec, n - len(keep), seen
            )
            extra = proposal_from_random(r_archs, r_params, r_fps)
            prop = extra if not keep else merge(prop, extra)
        return prop, state._replace(pending=prop)

    def tell(key, state, archs, fitness, params=None, fitness_se=None):
        del key
        return tell_archive(
            state, archs, fitness, params, population_size, fitness_se=fitness_se
        )

    return Searcher(init_state, ask, tell)
