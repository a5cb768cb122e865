"""Baselines: naive, classical (scikit-learn) and hand-designed deep archs."""

from nasjax.baselines.classical import (
    gbdt,
    lagged_features,
    logistic,
    majority,
    persistence,
)
from nasjax.baselines.deep import DEEP_ARCHS, lstm, tcn, transformer
from nasjax.baselines.registry import (
    BASELINES,
    Baseline,
    default_spec,
    fit_predict_arch,
)

__all__ = [
    "BASELINES",
    "DEEP_ARCHS",
    "Baseline",
    "default_spec",
    "fit_predict_arch",
    "gbdt",
    "lagged_features",
    "logistic",
    "lstm",
    "majority",
    "persistence",
    "tcn",
    "transformer",
]
