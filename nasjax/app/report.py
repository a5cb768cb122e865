"""Aggregate the runs of a sweep into one table, one plot and one page.

``python -m nasjax.report SWEEP_DIR [--by searcher]`` reads every
``summary.json`` under ``SWEEP_DIR`` (one per job of a ``--multirun``), groups
the runs (by searcher by default, or by any dotted key of the runs'
configurations, e.g. ``--by search.inherit``) and reports, per group, the
mean and a 95% Student-t interval over runs (seeds) of the best validation
fitness, the test accuracy of the answer, the test accuracy and MCC of the
best architecture, and of each baseline's test accuracy. It writes
``report.parquet`` (one row per run), ``report_groups.parquet`` (one row per
group), ``report.png`` and ``report.html`` (with ``report.md``;
:mod:`nasjax.app.sweep_report`) into ``SWEEP_DIR``.

``python -m nasjax.report RUN_DIR`` on one run's folder (it holds
``summary.json`` itself) rebuilds that run's ``report.html``
(:func:`nasjax.app.run_report.write_run_report`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table
from scipy import stats

from nasjax.app.run_report import RUN_SECTIONS, write_run_report
from nasjax.app.sweep_report import SWEEP_SECTIONS, write_sweep_report

RUN_METRICS: tuple[str, ...] = (
    "val_fitness",
    "answer_test_accuracy",
    "test_accuracy",
    "test_mcc",
)


def lookup(summary: dict[str, Any], dotted: str) -> float:
    """``summary["a"]["b"]`` for ``"a.b"``, as a float (NaN when missing); a
    metric entry ``{"value": v, "low": ..., "high": ...}`` gives ``v``."""
    node: Any = summary
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return float("nan")
        node = node[part]
    if isinstance(node, dict):
        node = node.get("value")
    return float(node) if isinstance(node, int | float) else float("nan")


def _metric(entry: dict[str, Any] | None, name: str) -> float:
    return lookup(entry or {}, name)


def _overrides(run_dir: Path) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    loaded = OmegaConf.to_container(OmegaConf.load(path))
    return [str(o) for o in loaded] if isinstance(loaded, list) else []


def _config(run_dir: Path) -> dict[str, Any]:
    """The run's composed configuration (``.hydra/config.yaml``; {} if none)."""
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return {}
    from omegaconf import OmegaConf

    loaded = OmegaConf.to_container(OmegaConf.load(path))
    return {str(k): v for k, v in loaded.items()} if isinstance(loaded, dict) else {}


_MISSING = object()


def config_value(config: dict[str, Any], dotted: str) -> Any:
    """``config["a"]["b"]`` for ``"a.b"`` (a sentinel when missing)."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _seed(run_dir: Path) -> int | None:
    seed = _config(run_dir).get("seed")
    return None if seed is None else int(seed)


def with_config_column(runs: pl.DataFrame, root: Path, key: str) -> pl.DataFrame:
    """``runs`` with a column ``key`` holding each run's value of the dotted
    config key ``key`` (e.g. ``search.inherit``), read from its
    ``.hydra/config.yaml``; lists and dicts become their string form.

    Raises:
        KeyError: When no run's configuration has ``key``.
    """
    values = []
    for run in runs["run"].to_list():
        value = config_value(_config(root / run), key)
        if isinstance(value, list | dict):
            value = json.dumps(value)
        values.append(None if value is _MISSING else value)
    if all(v is None for v in values):
        raise KeyError(
            f"no column {key!r} and no run's .hydra/config.yaml has the key "
            f"{key!r}; columns: {runs.columns}"
        )
    if len({type(v) for v in values if v is not None}) > 1:
        values = [None if v is None else str(v) for v in values]
    return runs.with_columns(pl.Series(key, values))


def collect(sweep_dir: str | Path) -> pl.DataFrame:
    """One row per run (``summary.json``) found under ``sweep_dir``.

    Raises:
        FileNotFoundError: When no run summary is found.
    """
    root = Path(sweep_dir)
    paths = sorted(root.rglob("summary.json"))
    if not paths:
        raise FileNotFoundError(f"no summary.json under {root}")
    rows = []
    for path in paths:
        summary = json.loads(path.read_text())
        run_dir = path.parent
        best = summary.get("best", {})
        row: dict[str, Any] = {
            "run": str(run_dir.relative_to(root)) if run_dir != root else ".",
            "searcher": summary.get("searcher", "?"),
            "seed": _seed(run_dir),
            "data": (summary.get("data") or {}).get("source", "?"),
            "overrides": " ".join(_overrides(run_dir)),
            "n_evaluations": int(summary.get("n_evaluations", 0)),
            "val_fitness": float(best.get("fitness", math.nan)),
            "answer_test_accuracy": _metric(
                (summary.get(summary.get("answer") or "best") or {}).get("test"),
                "accuracy",
            ),
            "test_accuracy": _metric(best.get("test"), "accuracy"),
            "test_mcc": _metric(best.get("test"), "mcc"),
            "progress": [
                math.nan if p is None else float(p) for p in summary.get("progress", [])
            ],
        }
        for name, entry in (summary.get("baselines") or {}).items():
            row[f"baseline_{name}_accuracy"] = _metric(entry.get("metrics"), "accuracy")
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t ``level`` interval of finite ``values`` ``[n]``.

    Returns:
        ``(mean, low, high)``; the interval is NaN with fewer than 2 values.
    """
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1))
    half /= math.sqrt(v.size)
    return mean, mean - half, mean + half


def aggregate(runs: pl.DataFrame, by: str = "searcher") -> pl.DataFrame:
    """Per-group mean and 95% interval of every metric column of ``runs``."""
    if by not in runs.columns:
        raise KeyError(f"no column {by!r}; columns: {runs.columns}")
    metrics = [*RUN_METRICS, *(c for c in runs.columns if c.startswith("baseline_"))]
    out = []
    for key in sorted(runs[by].unique().to_list(), key=str):
        group = runs.filter(pl.col(by) == key)
        row: dict[str, Any] = {by: key, "n_runs": group.height}
        for m in metrics:
            mean, low, high = mean_ci(group[m].to_numpy())
            row[f"{m}_mean"], row[f"{m}_low"], row[f"{m}_high"] = mean, low, high
        out.append(row)
    return pl.DataFrame(out, infer_schema_length=None)


def plot(runs: pl.DataFrame, groups: pl.DataFrame, by: str, path: Path) -> Path:
    """Two panels: test accuracy per group (mean, 95% CI, runs) with baselines,
    and best-so-far validation fitness per round (mean and 95% band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_test, ax_prog) = plt.subplots(1, 2, figsize=(11, 4))
    keys = groups[by].to_list()
    names = [str(k) for k in keys]
    for i, key in enumerate(keys):
        g = groups.row(i, named=True)
        err = [
            [g["test_accuracy_mean"] - g["test_accuracy_low"]],
            [g["test_accuracy_high"] - g["test_accuracy_mean"]],
        ]
        ax_test.errorbar(
            [i], [g["test_accuracy_mean"]], yerr=err, fmt="o", capsize=4, color="C0"
        )
        pts = runs.filter(pl.col(by) == key)["test_accuracy"]
        ax_test.plot([i] * len(pts), pts.to_numpy(), ".", color="0.6")
    for j, col in enumerate(c for c in groups.columns if c.endswith("_accuracy_mean")):
        if col.startswith("baseline_"):
            label = col.removeprefix("baseline_").removesuffix("_accuracy_mean")
            value = float(np.nanmean(groups[col].to_numpy()))
            ax_test.axhline(value, ls="--", lw=1, color=f"C{j + 1}", label=label)
    ax_test.set_xticks(range(len(names)), names)
    ax_test.set_xlim(-0.5, len(names) - 0.5)
    ax_test.set_ylabel("test accuracy of the best architecture")
    ax_test.set_title(f"test accuracy by {by} (mean, 95% CI)")
    ax_test.legend(fontsize=7)
    for i, (key, name) in enumerate(zip(keys, names, strict=True)):
        sub = runs.filter(pl.col(by) == key)["progress"].to_list()
        length = max((len(p) for p in sub), default=0)
        if not length:
            continue
        curves = np.full((len(sub), length), np.nan)
        for r, p in enumerate(sub):
            curves[r, : len(p)] = p
        bands = np.array([mean_ci(curves[:, t]) for t in range(length)])
        x = np.arange(1, length + 1)
        ax_prog.plot(x, bands[:, 0], "o-", color=f"C{i}", label=name)
        ax_prog.fill_between(x, bands[:, 1], bands[:, 2], color=f"C{i}", alpha=0.2)
    ax_prog.set_xlabel("round")
    ax_prog.set_ylabel("best validation fitness so far")
    ax_prog.set_title("search progress (mean, 95% band)")
    ax_prog.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report(sweep_dir: str | Path, by: str = "searcher") -> dict[str, Any]:
    """Collect, aggregate, plot and save.

    Returns:
        ``{"runs", "groups"}`` (the tables), ``{"plot", "html"}`` (paths of
        ``report.png`` and ``report.html``).
    """
    root = Path(sweep_dir)
    runs = collect(root)
    if by not in runs.columns:
        runs = with_config_column(runs, root, by)
    groups = aggregate(runs, by)
    runs.write_parquet(root / "report.parquet")
    groups.write_parquet(root / "report_groups.parquet")
    figure = plot(runs, groups, by, root / "report.png")
    page = write_sweep_report(root, runs, groups, by, figure)
    return {"runs": runs, "groups": groups, "plot": figure, "html": page}


def _cell(row: dict[str, Any], metric: str) -> str:
    mean, low, high = (row[f"{metric}_{s}"] for s in ("mean", "low", "high"))
    if not np.isfinite(mean):
        return "-"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.4f}"
    return f"{mean:.4f} [{low:.4f}, {high:.4f}]"


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m nasjax.report SWEEP_DIR [--by COLUMN]`` (or ``RUN_DIR``)."""
    parser = argparse.ArgumentParser(
        prog="python -m nasjax.report",
        description="Aggregate the runs of a sweep into a table, a plot and "
        "report.html; or, given one run's folder, rebuild its report.html.",
    )
    parser.add_argument(
        "sweep_dir",
        type=Path,
        help="folder of a --multirun sweep, or of one run (it holds summary.json)",
    )
    parser.add_argument(
        "--by",
        default="searcher",
        help="group runs by this column, or by a dotted config key of the runs "
        "(e.g. search.inherit, read from each run's .hydra/config.yaml)",
    )
    parser.add_argument(
        "--browser-check",
        action="store_true",
        help="then open report.html in headless Chromium (installed with npm on "
        "first use) and check that every section and image is rendered",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        help="with --browser-check: save the rendered page as this PNG",
    )
    args = parser.parse_args(argv)
    if (args.sweep_dir / "summary.json").is_file():  # one run's folder
        page = write_run_report(args.sweep_dir).absolute()
        print(f"report: {page}")
        if args.browser_check:
            _browser_check(parser, page, RUN_SECTIONS, args.screenshot)
        return
    try:
        result = report(args.sweep_dir, args.by)
    except (FileNotFoundError, KeyError) as err:
        parser.exit(2, f"nasjax.report: {err}\n")
    groups: pl.DataFrame = result["groups"]
    table = Table(title=f"{args.sweep_dir}: mean [95% CI] over runs")
    metrics = [*RUN_METRICS] + [
        c.removesuffix("_mean")
        for c in groups.columns
        if c.startswith("baseline_") and c.endswith("_mean")
    ]
    for col in (args.by, "runs", *metrics):
        table.add_column(col)
    for row in groups.iter_rows(named=True):
        table.add_row(
            str(row[args.by]), str(row["n_runs"]), *(_cell(row, m) for m in metrics)
        )
    # Not a terminal (a log file, a pipe): wide enough that no column is cut.
    console = Console(width=None if sys.stdout.isatty() else 240)
    console.print(table)
    console.print(f"wrote report.parquet, report_groups.parquet, {result['plot']}")
    console.print(f"report: {result['html'].absolute()}", soft_wrap=True, markup=False)
    if args.browser_check:
        page = result["html"].absolute()
        _browser_check(parser, page, SWEEP_SECTIONS, args.screenshot)


def _browser_check(
    parser: argparse.ArgumentParser,
    page: Path,
    sections: Sequence[str],
    screenshot: Path | None,
) -> None:
    """Render ``page`` in headless Chromium; exit 1 listing what is missing."""
    from nasjax.app.browser import BrowserNotFound, check_page

    try:
        shown = check_page(page, sections, screenshot)
    except BrowserNotFound as err:
        parser.exit(2, f"nasjax.report: no headless Chromium: {err}\n")
    except (ValueError, RuntimeError) as err:
        parser.exit(1, f"nasjax.report: browser check failed: {err}\n")
    decoded = sum(img["width"] > 0 for img in shown["images"])
    print(
        f"browser check: {len(sections)} sections rendered in order, "
        f"{decoded}/{len(shown['images'])} images decoded, {shown['tables']} "
        f"tables, page height {shown['height']} px (headless Chromium)"
    )
    if screenshot is not None:
        print(f"screenshot: {screenshot.absolute()}")


if __name__ == "__main__":
    main()
