"""Matplotlib (Agg) plots saved as PNG: equity curves and calibration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_equity(
    curves: Mapping[str, np.ndarray],
    path: str | Path,
    title: str = "Equity",
    *,
    times: np.ndarray | None = None,
    cost_bps: float | None = None,
    benchmark: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Plot ``exp(cumsum(net))`` of each named per-bar net-return series.

    Args:
        curves: ``name -> float[m]`` per-bar net returns (after costs).
        path: Where the PNG goes.
        title: Figure title (the cost is appended when ``cost_bps`` is given).
        times: Optional ``datetime64[m]`` bar times: the x axis shows dates
            (else the bar index).
        cost_bps: Cost per unit turnover the curves paid, named in the title.
        benchmark: Optional ``name -> float[m]`` reference series (e.g. buy
            and hold), drawn as black dashed lines.

    Returns:
        ``path``.
    """
    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 4))
    x = None if times is None else np.asarray(times).astype("datetime64[ms]")
    for dashed, series in ((False, curves), (True, benchmark or {})):
        for name, net in series.items():
            equity = np.exp(np.cumsum(np.asarray(net, np.float64)))
            xs = np.arange(len(equity)) if x is None else x
            if dashed:
                ax.plot(xs, equity, label=name, lw=1, color="k", linestyle="--")
            else:
                ax.plot(xs, equity, label=name, lw=1)
    if x is None:
        ax.set_xlabel("bar")
    else:
        import matplotlib.dates as mdates

        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_xlabel("date (UTC)")
    ax.set_ylabel("equity (after costs)")
    if cost_bps is not None:
        title = f"{title} (costs {cost_bps:g} bps per unit turnover)"
    ax.set_title(title, fontsize=10)
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
    annotate: str | None = None,
) -> Path:
    """Reliability diagram of each model's up probability, with the number of
    samples per bin: written beside each point of the model ``annotate``
    (default the first), and as a histogram of every model in a lower panel
    (a bin of one sample shows as such, not as a meaningful frequency)."""
    path = Path(path)
    fig, (ax, ax_n) = plt.subplots(
        2, 1, figsize=(5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
    edges = np.linspace(0, 1, n_bins + 1)
    width = 1.0 / n_bins / max(len(probs), 1)
    for i, (name, p) in enumerate(probs.items()):
        mp, fr, cnt = calibration_table(y, p, n_bins)
        keep = cnt > 0
        counted = name == (annotate or next(iter(probs)))
        label = f"{name} (n: samples in the bin)" if counted else name
        ax.plot(mp[keep], fr[keep], "o-", ms=3, label=label, color=f"C{i}")
        if counted:
            for xm, yf, c in zip(mp[keep], fr[keep], cnt[keep], strict=True):
                ax.annotate(
                    f"n={int(c)}",
                    (xm, yf),
                    fontsize=6,
                    color=f"C{i}",
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ax_n.bar(edges[:-1] + i * width, cnt, width=width, align="edge", color=f"C{i}")
    ax.set_ylabel("observed frequency of up")
    ax.legend(fontsize=8)
    ax_n.set_yscale("symlog", linthresh=1)
    ax_n.set_ylabel("samples per bin")
    ax_n.set_xlabel("predicted P(up)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
