"""Honest evaluation: metrics with block-bootstrap CIs, trading view, leakage,
calibration and ensemble selection on validation predictions."""

from nasjax.evaluate.bootstrap import (
    block_indices,
    bootstrap_ci,
    default_block,
    paired_test,
)
from nasjax.evaluate.calibrate import Calibration, fit_calibration
from nasjax.evaluate.ensemble import EnsembleSelection, select_ensemble
from nasjax.evaluate.leakage import LEAKAGE_THRESHOLD, LeakageWarning, check_leakage
from nasjax.evaluate.metrics import (
    METRICS,
    accuracy,
    all_metrics,
    balanced_accuracy,
    brier,
    f1,
    log_loss,
    mcc,
    roc_auc,
)
from nasjax.evaluate.plots import calibration_table, plot_calibration, plot_equity
from nasjax.evaluate.report import evaluation_report, split_arrays, to_json
from nasjax.evaluate.trading import (
    BARS_PER_YEAR_5M,
    max_drawdown,
    positions,
    strategy_returns,
    trading_summary,
)

__all__ = [
    "BARS_PER_YEAR_5M",
    "LEAKAGE_THRESHOLD",
    "METRICS",
    "Calibration",
    "EnsembleSelection",
    "LeakageWarning",
    "accuracy",
    "all_metrics",
    "balanced_accuracy",
    "block_indices",
    "bootstrap_ci",
    "brier",
    "calibration_table",
    "check_leakage",
    "default_block",
    "evaluation_report",
    "f1",
    "fit_calibration",
    "log_loss",
    "max_drawdown",
    "mcc",
    "paired_test",
    "plot_calibration",
    "plot_equity",
    "positions",
    "roc_auc",
    "select_ensemble",
    "split_arrays",
    "strategy_returns",
    "to_json",
    "trading_summary",
]
