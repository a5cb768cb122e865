"""Binary classification metrics in numpy (checked against scikit-learn).

Every function takes ``y: int[n]`` labels in {0, 1} and ``p: float[n]`` the
predicted probability of class 1 (up); hard predictions are ``p > 0.5``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_EPS = 1e-15


def _hard(p: np.ndarray) -> np.ndarray:
    return (np.asarray(p) > 0.5).astype(np.int64)


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Directional accuracy."""
    return float(np.mean(_hard(p) == np.asarray(y)))


def _confusion(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float, float]:
    y, h = np.asarray(y).astype(bool), _hard(p).astype(bool)
    return (
        float(np.sum(h & y)),
        float(np.sum(~h & ~y)),
        float(np.sum(h & ~y)),
        float(np.sum(~h & y)),
    )


def balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Mean of the per-class recalls (classes present in ``y``)."""
    tp, tn, fp, fn = _confusion(y, p)
    recalls = [
        r
        for r, n in ((tp / max(tp + fn, 1), tp + fn), (tn / max(tn + fp, 1), tn + fp))
        if n
    ]
    return float(np.mean(recalls)) if recalls else float("nan")


def mcc(y: np.ndarray, p: np.ndarray) -> float:
    """Matthews correlation coefficient (0 when undefined, like sklearn)."""
    tp, tn, fp, fn = _confusion(y, p)
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / den) if den > 0 else 0.0


def f1(y: np.ndarray, p: np.ndarray) -> float:
    """F1 of the up class (0 when undefined)."""
    tp, _, fp, fn = _confusion(y, p)
    den = 2 * tp + fp + fn
    return float(2 * tp / den) if den > 0 else 0.0


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney with mid-ranks for ties)."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    sp = p[order]
    ranks = np.empty(len(p), np.float64)
    # Mid-ranks of tied groups.
    _, first, counts = np.unique(sp, return_index=True, return_counts=True)
    mid = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(mid, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean binary cross-entropy (probabilities clipped to [1e-15, 1 - 1e-15])."""
    y = np.asarray(y, np.float64)
    p = np.clip(np.asarray(p, np.float64), _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Brier score: mean squared error of the up probability."""
    return float(np.mean((np.asarray(p, np.float64) - np.asarray(y)) ** 2))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "mcc": mcc,
    "f1": f1,
    "roc_auc": roc_auc,
    "log_loss": log_loss,
    "brier": brier,
}
"""Every metric by name."""


def all_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Every metric of :data:`METRICS`."""
    return {name: fn(y, p) for name, fn in METRICS.items()}
