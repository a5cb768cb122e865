"""Searchers: ``Searcher(init, ask, tell)`` of pure functions, and a registry.

``SEARCHERS[name](spec, **options) -> Searcher``; see
:mod:`nasjax.search.base` for the driver loop.
"""

from collections.abc import Callable

from nasjax.search import bayes_morph, evolution, random_search
from nasjax.search.base import Archive, Proposal, Searcher, SearchState

SEARCHERS: dict[str, Callable[..., Searcher]] = {
    "bayes_morph": bayes_morph.make,
    "random": random_search.make,
    "evolution": evolution.make,
}
"""Every searcher factory by name."""

__all__ = ["SEARCHERS", "Archive", "Proposal", "SearchState", "Searcher"]
