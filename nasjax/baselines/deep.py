"""Hand-designed deep models as FIXED archs of the search space.

The constructors live in :mod:`nasjax.graph.zoo` (the search seeds its first
population with them); this module re-exports them so that the deep
baselines and the seeds are the same architectures.
"""

from __future__ import annotations

from nasjax.graph.zoo import lstm, tcn, transformer

__all__ = ["DEEP_ARCHS", "lstm", "tcn", "transformer"]

DEEP_ARCHS = {"lstm": lstm, "transformer": transformer, "tcn": tcn}
"""Constructors ``spec -> Arch`` of the deep baselines."""
