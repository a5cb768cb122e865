"""Matplotlib (Agg) plots saved as PNG: equity curves and calibration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_equity(
    curves: Mapping[str, np.ndarray], path: str | Path, title: str = "Equity"
) -> Path:
    """Plot ``exp(cumsum(net))`` of each named per-bar net-return series."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, net in curves.items():
        ax.plot(np.exp(np.cumsum(np.asarray(net))), label=name, lw=1)
    ax.set_xlabel("bar")
    ax.set_ylabel("equity (after costs)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def calibration_table(
    y: np.ndarray, p: np.ndarray, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean predicted, observed frequency, count)`` per equal-width bin."""
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    safe = np.maximum(count, 1)
    mean_p = np.bincount(bins, weights=p, minlength=n_bins) / safe
    freq = np.bincount(bins, weights=y, minlength=n_bins) / safe
    return mean_p, freq, count


def plot_calibration(
    y: np.ndarray,
    probs: Mapping[str, np.ndarray],
    path: str | Path,
    n_bins: int = 10,
) -> Path:
    """Reliability diagram of each model's up probability."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
    for name, p in probs.items():
        mp, fr, cnt = calibration_table(y, p, n_bins)
        keep = cnt > 0
        ax.plot(mp[keep], fr[keep], "o-", ms=3, label=name)
    ax.set_xlabel("predicted P(up)")
    ax.set_ylabel("observed frequency of up")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
