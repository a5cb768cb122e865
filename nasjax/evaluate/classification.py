"""Multi-class classification metrics and a test report with bootstrap CIs.

For classification datasets (e.g. :mod:`nasjax.data.ucr`) whose instances
are independent, confidence intervals come from the iid (percentile)
bootstrap over instances, and models are compared on the same resamples
(paired). Every metric takes ``y: int[n]`` class indices and ``proba:
float[n, C]`` predicted class probabilities; hard predictions are the
arg-max class. Checked against scikit-learn in the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasjax.evaluate.report import _clean

_EPS = 1e-15


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``int64[C, C]`` counts, rows true class, columns predicted class."""
    y, pred = np.asarray(y, np.int64), np.asarray(pred, np.int64)
    flat = np.bincount(y * n_classes + pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def _cm(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    proba = np.asarray(proba)
    return confusion(y, np.argmax(proba, axis=1), proba.shape[1])


def accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    """Share of instances whose arg-max class is the label."""
    return float(np.mean(np.argmax(np.asarray(proba), axis=1) == np.asarray(y)))


def balanced_accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean recall over the classes present in ``y``."""
    cm = _cm(y, proba)
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def macro_f1(y: np.ndarray, proba: np.ndarray) -> float:
    """Unweighted mean F1 over the classes in ``y`` or in the predictions
    (scikit-learn's ``average="macro"``; 0 for a class never hit)."""
    cm = _cm(y, proba)
    tp = np.diag(cm).astype(np.float64)
    true, pred = cm.sum(axis=1), cm.sum(axis=0)
    used = (true + pred) > 0
    f1 = np.where(used, 2 * tp / np.maximum(true + pred, 1), 0.0)
    return float(f1[used].mean())


def mcc(y: np.ndarray, proba: np.ndarray) -> float:
    """Multi-class Matthews correlation (Gorodkin's R_K; 0 when undefined)."""
    cm = _cm(y, proba).astype(np.float64)
    t, p = cm.sum(axis=1), cm.sum(axis=0)
    c, s = np.trace(cm), cm.sum()
    den = np.sqrt((s * s - p @ p) * (s * s - t @ t))
    return float((c * s - t @ p) / den) if den > 0 else 0.0


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean cross-entropy of the labels (probabilities clipped to 1e-15)."""
    proba = np.asarray(proba, np.float64)
    proba = proba / proba.sum(axis=1, keepdims=True)
    picked = proba[np.arange(len(proba)), np.asarray(y, np.int64)]
    return float(-np.mean(np.log(np.clip(picked, _EPS, 1.0))))


def roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC (scikit-learn's ``multi_class="ovr"``).

    Each class's AUC is the Mann-Whitney statistic of its probability
    column (ties count half); classes absent from ``y`` (or the only class
    present) are skipped. NaN when no class has both positives and negatives.
    """
    from scipy.stats import rankdata

    y, proba = np.asarray(y, np.int64), np.asarray(proba, np.float64)
    aucs = []
    for c in range(proba.shape[1]):
        pos = y == c
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = rankdata(proba[:, c])
        aucs.append((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs)) if aucs else float("nan")


CLASS_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "macro_f1": macro_f1,
    "mcc": mcc,
    "roc_auc": roc_auc,
    "log_loss": log_loss,
}
"""Every multi-class metric by name."""


def bootstrap_indices(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """``int64[n_boot, n]`` iid resamples (with replacement) of ``range(n)``."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _interval(est: float, stats: np.ndarray) -> dict[str, float]:
    stats = stats[np.isfinite(stats)]
    if len(stats) == 0:
        return {"value": est, "low": float("nan"), "high": float("nan")}
    low, high = np.quantile(stats, [0.025, 0.975])
    return {"value": est, "low": float(low), "high": float(high)}


def metrics_with_ci(
    y: np.ndarray, proba: np.ndarray, idx: np.ndarray
) -> dict[str, dict[str, float]]:
    """Every metric with a 95% percentile interval over the resamples ``idx``.

    Args:
        y: ``int[n]`` class indices.
        proba: ``float[n, C]`` class probabilities.
        idx: ``int[n_boot, n]`` bootstrap resamples (:func:`bootstrap_indices`).

    Returns:
        ``{metric: {"value", "low", "high"}}``.
    """
    y, proba = np.asarray(y), np.asarray(proba, np.float64)
    out = {}
    for name, fn in CLASS_METRICS.items():
        est = fn(y, proba)
        stats = np.array([fn(y[i], proba[i]) for i in idx], np.float64)
        out[name] = _interval(est, stats)
    return out


def paired_accuracy_diff(
    y: np.ndarray, proba: np.ndarray, reference: np.ndarray, idx: np.ndarray
) -> dict[str, float]:
    """Accuracy of ``proba`` minus that of ``reference`` on the same resamples.

    Returns:
        ``{"value", "low", "high", "p_value"}``: the difference, its 95%
        percentile interval and a two-sided bootstrap p-value of "no
        difference" (twice the smaller tail share around 0, at most 1).
    """
    y = np.asarray(y)
    hit_a = np.argmax(np.asarray(proba), axis=1) == y
    hit_b = np.argmax(np.asarray(reference), axis=1) == y
    diff = (hit_a.astype(np.float64) - hit_b)[idx].mean(axis=1)
    out = _interval(float(hit_a.mean() - hit_b.mean()), diff)
    tail = min(np.mean(diff <= 0), np.mean(diff >= 0))
    out["p_value"] = float(min(1.0, 2 * tail))
    return out


def classification_report(
    predictions: Mapping[str, np.ndarray],
    labels: np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    reference: str | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate named class-probability predictions on the same instances.

    Args:
        predictions: ``name -> float[n, C]`` class probabilities aligned with
            ``labels``.
        labels: ``int[n]`` class indices.
        class_names: The C class names (default ``"0" ..``).
        reference: Model every other is compared with (default the first).
        n_boot: iid bootstrap resamples (shared by every model: paired).
        seed: Bootstrap seed.

    Returns:
        JSON-ready ``{"n", "reference", "ci", "models": {name: {"metrics":
        {metric: {"value", "low", "high"}}, "per_class_recall": {class:
        recall}, "confusion": [[...]], "vs_reference": {"accuracy_diff":
        ...}}}}`` (non-finite numbers become None).
    """
    labels = np.asarray(labels, np.int64)
    names = list(predictions)
    reference = names[0] if reference is None else reference
    n = len(labels)
    idx = bootstrap_indices(n, n_boot, seed) if n >= 2 else np.zeros((0, n), int)
    out: dict[str, Any] = {
        "n": n,
        "reference": reference,
        "ci": (
            f"95% percentile iid bootstrap over test instances ({n_boot} "
            "resamples, the same for every model)"
        ),
        "models": {},
    }
    for name, proba in predictions.items():
        proba = np.asarray(proba, np.float64)
        n_classes = proba.shape[1]
        cls = list(class_names) if class_names else [str(c) for c in range(n_classes)]
        cm = confusion(labels, np.argmax(proba, axis=1), n_classes)
        support = cm.sum(axis=1)
        entry: dict[str, Any] = {
            "metrics": metrics_with_ci(labels, proba, idx),
            "per_class_recall": {
                cls[c]: (float(cm[c, c] / support[c]) if support[c] else None)
                for c in range(n_classes)
            },
            "confusion": cm.tolist(),
        }
        if name != reference:
            entry["vs_reference"] = {
                "accuracy_diff": paired_accuracy_diff(
                    labels, proba, np.asarray(predictions[reference]), idx
                )
            }
        out["models"][name] = entry
    return _clean(out)


def plot_confusion(
    cm: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Draw a confusion matrix (rows true, columns predicted) to ``path``."""
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    n = len(cm)
    size = min(10.0, 2.0 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(n), list(class_names), rotation=90, fontsize=7)
    ax.set_yticks(range(n), list(class_names), fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
