"""Baselines: naive, classical (scikit-learn) and hand-designed deep archs."""

from nasjax.baselines.classical import (
    LinearModel,
    gbdt,
    lagged_features,
    logistic,
    logistic_model,
    majority,
    persistence,
)
from nasjax.baselines.deep import DEEP_ARCHS, lstm, tcn, transformer
from nasjax.baselines.fit import ArchFit, fit_archs
from nasjax.baselines.registry import (
    BASELINES,
    Baseline,
    default_spec,
    fit_arch,
    fit_predict_arch,
)
from nasjax.baselines.trees import TreeModel, gbdt_trees

__all__ = [
    "BASELINES",
    "DEEP_ARCHS",
    "ArchFit",
    "Baseline",
    "LinearModel",
    "TreeModel",
    "default_spec",
    "fit_arch",
    "fit_archs",
    "fit_predict_arch",
    "gbdt",
    "gbdt_trees",
    "lagged_features",
    "logistic",
    "logistic_model",
    "lstm",
    "majority",
    "persistence",
    "tcn",
    "transformer",
]
