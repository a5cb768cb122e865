"""Plots of a search: progress and accuracy vs parameter count (Pareto front)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from nasjax.graph import pad_to_bucket
from nasjax.surrogate import pareto_front

_pareto_front = jax.jit(pareto_front)


def plot_search(
    rows: tuple[dict[str, Any], ...], best: int, plot_dir: Path
) -> list[str]:
    """``search_progress.png`` and ``accuracy_vs_params.png``."""
    import matplotlib.pyplot as plt

    fit = np.array([r["fitness"] for r in rows], np.float64)
    n_params = np.array([r["params_count"] for r in rows], np.float64)
    ok = np.isfinite(fit)
    evals = np.arange(1, len(rows) + 1)
    best_so_far = np.fmax.accumulate(np.where(ok, fit, -np.inf))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(evals[ok], fit[ok], s=12, c="0.6", label="evaluation")
    shown = np.isfinite(best_so_far)
    ax.step(evals[shown], best_so_far[shown], where="post", c="C0", label="best so far")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("validation fitness (mean over folds)")
    ax.set_title("search progress")
    ax.legend(fontsize=8)
    fig.tight_layout()
    progress_path = plot_dir / "search_progress.png"
    fig.savefig(progress_path, dpi=100)
    plt.close(fig)

    points = pad_to_bucket(np.stack([fit, -n_params], axis=1), 8, dtype=np.float32)
    front = np.asarray(_pareto_front(points))[: len(rows)]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(n_params[ok], fit[ok], s=12, c="0.6", label="evaluation")
    order = np.argsort(n_params[front])
    ax.step(
        n_params[front][order], fit[front][order], where="post", c="C3", lw=1,
    )  # fmt: skip
    ax.scatter(n_params[front], fit[front], s=24, c="C3", label="Pareto front")
    ax.scatter([n_params[best]], [fit[best]], s=120, marker="*", c="C1", label="best")
    ax.set_xscale("log")
    ax.set_xlabel("parameters (active)")
    ax.set_ylabel("validation fitness (mean over folds)")
    ax.set_title("accuracy vs parameter count")
    ax.legend(fontsize=8)
    fig.tight_layout()
    pareto_path = plot_dir / "accuracy_vs_params.png"
    fig.savefig(pareto_path, dpi=100)
    plt.close(fig)
    return [str(progress_path), str(pareto_path)]
