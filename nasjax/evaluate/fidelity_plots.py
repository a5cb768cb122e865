"""Plots of a multi-fidelity search: learning curves per rung, best vs time.

Both read the rows of ``results.parquet`` (``rung``, ``val_curve``,
``fitness``, ``select_score``, ``elapsed_s``, ``round``); rows without them
(a search of an older release) are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def plot_learning_curves(rows: tuple[dict[str, Any], ...], plot_dir: Path) -> str:
    """``learning_curves.png``: validation fitness (mean over the folds)
    against training steps, one line per member, coloured by the highest
    rung it reached (members promoted past rung 0 drawn on top)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    seen: set[int] = set()
    for r in sorted(rows, key=lambda r: r.get("rung", 0)):
        curve = json.loads(r.get("val_curve") or "[]")
        if not curve:
            continue
        steps, score = np.asarray(curve, np.float64).T
        rung = int(r.get("rung", 0))
        label = None if rung in seen else f"reached rung {rung}"
        seen.add(rung)
        ax.plot(
            steps,
            score,
            marker="o",
            ms=2,
            lw=0.8 if rung == 0 else 1.5,
            alpha=0.35 if rung == 0 else 0.9,
            c=f"C{rung}",
            label=label,
        )
    ax.set_xlabel("training steps (budget)")
    ax.set_ylabel("validation fitness (mean over folds)")
    ax.set_title("learning curves per rung")
    if seen:
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = plot_dir / "learning_curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def best_so_far_by_round(
    rows: tuple[dict[str, Any], ...],
) -> tuple[np.ndarray, np.ndarray]:
    """``(elapsed_s[R], fitness[R])``: after each round, the search clock and
    the fitness of the winner so far (the highest rung, then the best
    ``select_score``; NaN while none succeeded)."""
    rounds = sorted({int(r["round"]) for r in rows})
    times, best = [], []
    key: tuple[int, float] | None = None
    fit = np.nan
    for q in rounds:
        in_round = [r for r in rows if int(r["round"]) == q]
        for r in in_round:
            s = float(r.get("select_score", r["fitness"]))
            if not np.isfinite(s):
                continue
            k = (int(r.get("rung", 0)), s)
            if key is None or k > key:
                key, fit = k, float(r["fitness"])
        times.append(float(in_round[0].get("elapsed_s", np.nan)))
        best.append(fit)
    return np.asarray(times), np.asarray(best)


def plot_best_vs_time(rows: tuple[dict[str, Any], ...], plot_dir: Path) -> str:
    """``best_vs_time.png``: the winner's validation fitness so far against
    the search's wall-clock seconds (one point per round)."""
    import matplotlib.pyplot as plt

    t, best = best_so_far_by_round(rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    ok = np.isfinite(t) & np.isfinite(best)
    ax.step(t[ok], best[ok], where="post", c="C0", marker="o", ms=3)
    ax.set_xlabel("search wall-clock (s)")
    ax.set_ylabel("winner's validation fitness")
    ax.set_title("best so far against time")
    fig.tight_layout()
    path = plot_dir / "best_vs_time.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
