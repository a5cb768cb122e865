"""Plots of a protocol run and of a sweep's phase diagram (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.colors import ListedColormap

from nasjax.protocol.types import AGENT_TYPES

_COLORS = {
    "honest": "#2b8a3e",
    "lazy": "#868e96",
    "liar": "#e03131",
    "sybil": "#f08c00",
    "ring": "#9c36b5",
    "overfitter": "#1971c2",
    "random": "#c2255c",
}


def _save(fig: plt.Figure, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def plot_best(frame: pl.DataFrame, path: Path) -> str:
    """Certified best score and its true quality over blocks."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(frame["block"], frame["best_score"], label="certified best (committee)")
    ax.plot(
        frame["block"], frame["best_true"], label="true quality of the best", ls="--"
    )
    ax.set_xlabel("block")
    ax.set_ylabel("score (accuracy)")
    ax.set_title("Best model over blocks")
    ax.legend()
    return _save(fig, path)


def plot_stake(frame: pl.DataFrame, path: Path) -> str:
    """Stake share per agent type (stacked) and stake concentration."""
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    blocks = frame["block"].to_numpy()
    shares, names = [], []
    for name in AGENT_TYPES:
        col = frame[f"stake_share_{name}"].to_numpy()
        if np.any(col > 0):
            shares.append(col)
            names.append(name)
    ax.stackplot(blocks, *shares, labels=names, colors=[_COLORS[n] for n in names])
    ax.set_ylabel("share of bonded stake")
    ax.set_ylim(0, 1)
    ax.set_title("Stake distribution over time")
    ax.legend(loc="lower left", fontsize=8, ncol=4)
    ax2.plot(blocks, frame["gini"], color="k", label="Gini")
    ax2.set_ylabel("Gini of stake")
    ax3 = ax2.twinx()
    ax3.plot(blocks, frame["nakamoto"], color="#1971c2", label="Nakamoto (1/3)")
    ax3.set_ylabel("Nakamoto coefficient", color="#1971c2")
    ax2.set_xlabel("block")
    return _save(fig, path)


def plot_roi(roi: Mapping[str, float | None], path: Path) -> str:
    """ROI per agent type (honest first)."""
    names = [n for n in AGENT_TYPES if roi.get(n) is not None]
    values = [float(roi[n] or 0.0) * 100 for n in names]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar(names, values, color=[_COLORS[n] for n in names])
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("ROI (%)")
    ax.set_title("Return on endowment net of compute, per agent type")
    return _save(fig, path)


def plot_proposals(frame: pl.DataFrame, path: Path) -> str:
    """Cumulative accepted / rejected / expired proposals and errors."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    blocks = frame["block"]
    for col, label in (
        ("accepted", "accepted"),
        ("rejected", "rejected"),
        ("expired", "expired (no quorum)"),
        ("bad_accepted", "false accepts"),
        ("good_rejected", "false rejects"),
    ):
        ax.plot(blocks, np.cumsum(frame[col].to_numpy()), label=label)
    ax.set_xlabel("block")
    ax.set_ylabel("proposals (cumulative)")
    ax.set_yscale("symlog")
    ax.set_title("Accepted and rejected proposals")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_run(
    frame: pl.DataFrame, roi: Mapping[str, float | None], folder: Path
) -> list[str]:
    """Every plot of a run into ``folder``; returns the file paths."""
    return [
        plot_best(frame, folder / "best_score.png"),
        plot_stake(frame, folder / "stake.png"),
        plot_roi(roi, folder / "roi.png"),
        plot_proposals(frame, folder / "proposals.png"),
    ]


def plot_phase(frame: pl.DataFrame, path: Path, attacker: str) -> str:
    """Phase diagram of a sweep: where the protocol holds and where it breaks.

    One panel per (committee size, noise); inside, attacker stake share on x
    and slashing fraction on y. Green: every attacker ROI below honest ROI
    and false-accept rate below 1%; red: broken. Each cell is annotated with
    the false-accept rate and the attacker-minus-honest ROI.
    """
    sizes = sorted(frame["committee_size"].unique().to_list())
    noises = sorted(frame["noise"].unique().to_list())
    shares = sorted(frame["attacker_share"].unique().to_list())
    slashes = sorted(frame["slash_fraction"].unique().to_list())
    fig, axes = plt.subplots(
        len(sizes),
        len(noises),
        figsize=(3.2 * len(noises) + 0.5, 2.6 * len(sizes) + 0.6),
        squeeze=False,
    )
    cmap = ListedColormap(["#ffa8a8", "#b2f2bb"])
    for r, size in enumerate(sizes):
        for c, noise in enumerate(noises):
            ax = axes[r][c]
            sub = frame.filter(
                (pl.col("committee_size") == size) & (pl.col("noise") == noise)
            )
            grid = np.zeros((len(slashes), len(shares)))
            for row in sub.iter_rows(named=True):
                i, j = (
                    slashes.index(row["slash_fraction"]),
                    shares.index(row["attacker_share"]),
                )
                grid[i, j] = float(row["holds"])
                fa = row["false_accept_rate"]
                text = f"{100 * fa:.1f}%" if fa is not None else "-"
                gap = row["attacker_roi"] - row["honest_roi"]
                ax.text(
                    j,
                    i,
                    f"{text}\n{100 * gap:+.1f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                )
            ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, origin="lower", aspect="auto")
            ax.set_xticks(range(len(shares)), [f"{s:.2f}" for s in shares], fontsize=7)
            ax.set_yticks(
                range(len(slashes)), [f"{s:.2f}" for s in slashes], fontsize=7
            )
            ax.set_title(f"C={size}, noise x{noise:g}", fontsize=8)
            if r == len(sizes) - 1:
                ax.set_xlabel(f"{attacker} stake share", fontsize=8)
            if c == 0:
                ax.set_ylabel("slashing fraction", fontsize=8)
    fig.suptitle(
        "Protocol holds (green): attacker ROI < honest ROI and false-accept < 1%\n"
        "cells: false-accept rate / attacker - honest ROI (points)",
        fontsize=9,
    )
    return _save(fig, path)
