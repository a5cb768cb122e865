"""Draw an architecture's DAG with matplotlib (host-side, for reports)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nasjax.graph.arch import Arch
from nasjax.graph.spec import READOUTS

_COLOURS = {
    "input": "#d9d9d9",
    "dense_gelu": "#8dd3c7",
    "dense_tanh": "#8dd3c7",
    "conv": "#fdb462",
    "lstm": "#80b1d3",
    "gru": "#80b1d3",
    "attention": "#fb8072",
    "layernorm": "#bebada",
    "identity": "#ffffb3",
}


def _depths(adj: np.ndarray) -> list[int]:
    depth = [0] * adj.shape[0]
    for j in range(adj.shape[0]):
        preds = np.flatnonzero(adj[:, j])
        depth[j] = 1 + max(depth[i] for i in preds) if len(preds) else 0
    return depth


def draw_arch(arch: Arch, path: str | Path | None = None, title: str | None = None):
    """Draw a single arch as a layered DAG.

    Nodes are placed by longest-path depth; labels show op, width and conv
    settings. Returns the matplotlib figure; saves a PNG when ``path`` is given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if arch.batch_shape:
        raise ValueError("draw_arch needs a single arch; unstack the population first")
    a = arch.to_numpy()
    n = int(a["node_mask"].sum())
    adj = a["adj"][:n, :n].astype(bool)
    depth = _depths(adj)
    rows: dict[int, list[int]] = {}
    for i, d in enumerate(depth):
        rows.setdefault(d, []).append(i)
    pos = {}
    for d, members in rows.items():
        for k, i in enumerate(members):
            pos[i] = (k - (len(members) - 1) / 2, -d)
    fig, ax = plt.subplots(
        figsize=(max(4, 2.2 * max(map(len, rows.values()))), 1.1 * (max(depth) + 2))
    )
    for i, j in np.argwhere(adj):
        (x0, y0), (x1, y1) = pos[i], pos[j]
        ax.annotate(
            "",
            xy=(x1, y1 + 0.18),
            xytext=(x0, y0 - 0.18),
            arrowprops={"arrowstyle": "->", "color": "#555555"},
        )
    for i in range(n):
        name = "input" if i == 0 else arch.spec.ops[int(a["ops"][i])]
        label = f"{i}: {name}\nw={a['width'][i]}"
        if name == "conv":
            label += f" k={a['kernel'][i]} d={a['dilation'][i]}"
        if i == n - 1:
            label += f"\n-> {READOUTS[int(a['readout'])]} readout"
        ax.text(
            pos[i][0],
            pos[i][1],
            label,
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": _COLOURS.get(name, "white")},
        )
    ax.set_xlim(
        min(p[0] for p in pos.values()) - 1, max(p[0] for p in pos.values()) + 1
    )
    ax.set_ylim(-max(depth) - 0.7, 0.7)
    ax.axis("off")
    ax.set_title(title or f"architecture {arch.fingerprint()[:12]}", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
