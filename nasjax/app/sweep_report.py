"""``report.html`` of a sweep: the runs of a ``--multirun`` grouped by a key.

:func:`write_sweep_report` turns the tables of :func:`nasjax.app.report.report`
(one row per run, one row per group) and its plot into one self-contained
page (and ``report.md``) in the sweep folder, with one ``<h2>`` section per
entry of :data:`SWEEP_SECTIONS`; each run's own ``report.html`` is named in
the runs table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from nasjax.app.htmlpage import Image, Link, Page, Table, Text
from nasjax.app.run_report import fmt

SWEEP_SECTIONS: tuple[str, ...] = (
    "Sweep",
    "Groups",
    "Test accuracy and search progress by group",
    "Runs",
)
"""The ``<h2>`` headings of a sweep report, in order."""


def write_sweep_report(
    sweep_dir: str | Path,
    runs: pl.DataFrame,
    groups: pl.DataFrame,
    by: str,
    plot: Path | None = None,
) -> Path:
    """Write ``report.html`` and ``report.md`` into ``sweep_dir``.

    Args:
        sweep_dir: The sweep folder.
        runs: One row per run (:func:`nasjax.app.report.collect`, with the
            ``by`` column).
        groups: One row per group (:func:`nasjax.app.report.aggregate`):
            ``{m}_mean``, ``{m}_low``, ``{m}_high`` per metric ``m``.
        by: The grouping column (a summary column or a dotted config key,
            e.g. ``search.inherit``).
        plot: The sweep plot (``report.png``) to embed, if any.

    Returns:
        The path of ``report.html``.
    """
    root = Path(sweep_dir)
    page = Page(f"nasjax sweep report: {root.absolute().name}")
    page.section(
        "Sweep",
        Table(
            ("", "value"),
            [
                ("folder", str(root.absolute())),
                ("runs", str(runs.height)),
                ("grouped by", by),
                ("groups", str(groups.height)),
            ],
        ),
        Text(
            "Per group: the mean over runs (seeds) and a 95% Student-t interval "
            "(none with fewer than two runs).",
            note=True,
        ),
    )
    metrics = [c.removesuffix("_mean") for c in groups.columns if c.endswith("_mean")]
    page.section(
        "Groups",
        Table(
            (by, "runs", *metrics),
            [
                (_key(g[by]), str(g["n_runs"]), *(_mean_ci(g, m) for m in metrics))
                for g in groups.iter_rows(named=True)
            ],
            caption=f"mean [95% CI] over runs, grouped by {by}",
        ),
    )
    page.section(
        "Test accuracy and search progress by group",
        *([Image(plot, "sweep plot")] if plot is not None else []),
    )
    shown = [
        c
        for c in ("val_fitness", "answer_test_accuracy", "test_accuracy", "test_mcc")
        if c in runs.columns
    ]
    rows = []
    for r in runs.sort(pl.col(by).cast(pl.String), "run").iter_rows(named=True):
        report = root / r["run"] / "report.html"
        rows.append(
            (
                str(r["run"]),
                _key(r[by]),
                fmt(r.get("seed")),
                *(fmt(r[c]) for c in shown),
                str(r.get("overrides") or ""),
                _link(report.relative_to(root).as_posix()) if report.is_file() else "-",
            )
        )
    page.section(
        "Runs",
        Table(("run", by, "seed", *shown, "overrides", "run report"), rows),
    )
    return page.write(root)


def _link(relative: str) -> Link:
    return Link(relative, relative)


def _key(value: Any) -> str:
    return "(missing)" if value is None else str(value)


def _mean_ci(row: dict[str, Any], metric: str) -> str:
    mean, low, high = (row[f"{metric}_{s}"] for s in ("mean", "low", "high"))
    text = fmt(mean)
    if text != "-" and fmt(low) != "-" and fmt(high) != "-":
        text += f" [{fmt(low)}, {fmt(high)}]"
    return text
