"""Searchers: ``Searcher(init, ask, tell)`` of pure functions, and a registry.

``SEARCHERS[name](spec, **options) -> Searcher``; see
:mod:`nasjax.search.base` for the driver loop.
"""

from collections.abc import Callable

from nasjax.search import bayes_morph, evolution, random_search, tpe
from nasjax.search.base import (
    Archive,
    AskFn,
    InitFn,
    Proposal,
    Searcher,
    SearchState,
    TellFn,
    init_state,
)
from nasjax.search.objectives import OBJECTIVES, ParetoFront, pareto_front_of
from nasjax.search.seeds import seed_archs, seeded, with_seeds

SEARCHERS: dict[str, Callable[..., Searcher]] = {
    "bayes_morph": bayes_morph.make,
    "random": random_search.make,
    "evolution": evolution.make,
    "tpe": tpe.make,
}
"""Every searcher factory by name (``tpe`` needs the optional ``optuna``:
calling it without optuna raises an ImportError naming the install command)."""

__all__ = [
    "OBJECTIVES",
    "SEARCHERS",
    "Archive",
    "AskFn",
    "InitFn",
    "ParetoFront",
    "Proposal",
    "SearchState",
    "Searcher",
    "TellFn",
    "init_state",
    "pareto_front_of",
    "seed_archs",
    "seeded",
    "with_seeds",
]
