"""``random``: uniformly random archs of the bucket (a baseline)."""

from __future__ import annotations

from nasjax.graph.spec import ArchSpec
from nasjax.search.base import (
    Searcher,
    excluded,
    init_state,
    proposal_from_random,
    random_population,
    tell_archive,
)


def make(spec: ArchSpec, *, keep_params: int = 16) -> Searcher:
    """Random search over ``spec``.

    Args:
        spec: The bucket.
        keep_params: Params kept in the archive (top-k and most recent).
    """

    def ask(key, state, n):
        archs, params, fps = random_population(key, spec, n, excluded(state))
        prop = proposal_from_random(archs, params, fps)
        return prop, state._replace(pending=prop)

    def tell(key, state, archs, fitness, params=None, fitness_se=None):
        del key
        return tell_archive(
            state, archs, fitness, params, keep_params, fitness_se=fitness_se
        )

    return Searcher(init_state, ask, tell)
