"""``report.html``: the page a person reads after a search run.

:func:`write_run_report` reads a finished run folder (``summary.json``,
``results.parquet``, ``best_arch.png``, ``plots/``) and writes
``report.html`` (one self-contained file: plots embedded, no external assets,
no JavaScript) and its Markdown twin ``report.md`` beside it. The page has
one ``<h2>`` section per entry of :data:`RUN_SECTIONS`; a section whose data
the run lacks (e.g. equity for a classification run) says so instead of
disappearing. :func:`nasjax.app.finish.finish` calls it at the end of every
search; ``python -m nasjax.report RUN_DIR`` rebuilds it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nasjax.app.htmlpage import Image, Page, Pre, Table, Text

RUN_SECTIONS: tuple[str, ...] = (
    "Run",
    "Answer vs baselines",
    "Search curve",
    "Learning curves",
    "Architecture and lineage",
    "Calibration",
    "Equity",
    "Per-coin results",
)
"""The ``<h2>`` headings of a run report, in order."""

_METRIC_ORDER = (
    "accuracy",
    "balanced_accuracy",
    "mcc",
    "f1",
    "roc_auc",
    "log_loss",
    "brier",
)


def write_run_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` and ``report.md`` into a finished run folder.

    Args:
        run_dir: A search run folder (it holds ``summary.json``; the lineage
            is read from ``results.parquet`` when present).

    Returns:
        The path of ``report.html``.

    Raises:
        FileNotFoundError: If ``run_dir/summary.json`` does not exist.
    """
    out = Path(run_dir)
    path = out / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"no summary.json in {out}: not a finished run")
    return run_page(json.loads(path.read_text()), out).write(out)


def run_page(summary: Mapping[str, Any], out: Path) -> Page:
    """The report of the run folder ``out`` whose summary is ``summary``."""
    answer = str(summary.get("answer", "best"))
    page = Page(f"nasjax run report: {out.absolute().name}")
    page.section("Run", *_overview(summary, answer))
    page.section("Answer vs baselines", *_versus(summary, answer, out))
    page.section("Search curve", *_search(summary, out))
    page.section(
        "Learning curves",
        Image(out / "plots" / "learning_curves.png", "learning curves"),
        Text(
            "Validation fitness (mean over folds) against training steps, one "
            "line per evaluated member, coloured by the highest fidelity rung "
            "it reached.",
            note=True,
        ),
    )
    page.section("Architecture and lineage", *_architecture(summary, out))
    page.section("Calibration", *_calibration(summary, answer, out))
    page.section("Equity", *_equity(summary, out))
    page.section("Per-coin results", *_per_coin(summary, answer))
    return page


def fmt(x: Any, digits: int = 4) -> str:
    """A number for a table cell ("-" when missing or not finite)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return "-" if x is None else str(x)
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}" if math.isfinite(x) else "-"


def fmt_ci(entry: Any, digits: int = 4) -> str:
    """``value [low, high]`` of a metric entry ``{"value", "low", "high"}``."""
    if not isinstance(entry, Mapping):
        return fmt(entry, digits)
    value = fmt(entry.get("value", entry.get("diff")), digits)
    low, high = entry.get("low"), entry.get("high")
    if low is None or high is None:
        return value
    return f"{value} [{fmt(low, digits)}, {fmt(high, digits)}]"


def _models(summary: Mapping[str, Any], answer: str) -> list[tuple[str, dict]]:
    """``(label, {"test", "trading", "per_coin", ...})`` of every reported model."""
    out = []
    ans = summary.get(answer) or {}
    out.append((f"nasjax {answer} (answer)", _scored(ans)))
    if answer != "best" and summary.get("best"):
        out.append(("nasjax best single arch", _scored(summary["best"])))
    for name, entry in (summary.get("baselines") or {}).items():
        out.append((str(name), _scored(entry)))
    return out


def _scored(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A model's test metrics, trading, per-coin table (baselines name them
    ``metrics`` and ``trading``; the answer ``test`` and ``test_trading``)."""
    return {
        "test": entry.get("test") or entry.get("metrics") or {},
        "trading": entry.get("test_trading") or entry.get("trading"),
        "per_coin": entry.get("per_coin"),
    }


def _overview(summary: Mapping[str, Any], answer: str) -> list:
    data = summary.get("data") or {}
    budget = summary.get("budget") or {}
    symbols = data.get("symbols") or data.get("classes") or []
    period = summary.get("period") or [data.get("test_start"), data.get("test_end")]
    rows = [
        ("answer (exported to best/)", answer),
        ("searcher", str(summary.get("searcher", "?"))),
        (
            "evaluations (failed)",
            f"{summary.get('n_evaluations', '?')} ({summary.get('n_failed', 0)})",
        ),
        (
            "rounds done, stopped by",
            f"{budget.get('rounds_done', '?')}, {budget.get('stopped_by', '?')}",
        ),
        ("search seconds", fmt(budget.get("search_seconds"), 1)),
        (
            "data source",
            " ".join(str(data[k]) for k in ("source", "name") if k in data) or "?",
        ),
        ("symbols / classes", ", ".join(map(str, symbols)) or "-"),
        ("test period (UTC)", " .. ".join(str(p) for p in period if p) or "-"),
        ("test samples", fmt(summary.get("n_test"))),
    ]
    blocks: list = [Table(("", "value"), rows)]
    for warning in summary.get("warnings") or []:
        blocks.append(Text(f"warning: {warning}"))
    for name, entry in (summary.get("baselines") or {}).items():
        if entry.get("leakage_alarm"):
            blocks.append(Text(f"leakage alarm on {name}: accuracy above 60%"))
    for note in summary.get("notes") or []:
        blocks.append(Text(str(note), note=True))
    return blocks


def _versus(summary: Mapping[str, Any], answer: str, out: Path) -> list:
    models = _models(summary, answer)
    names = {m for _, s in models for m in s["test"]}
    metrics = [m for m in _METRIC_ORDER if m in names]
    metrics += sorted(names - set(metrics))
    table = Table(
        ("model", *metrics),
        [(label, *(fmt_ci(s["test"].get(m)) for m in metrics)) for label, s in models],
        caption=f"test period, {fmt(summary.get('n_test'))} samples: value "
        f"[{summary.get('test_ci') or '95% block-bootstrap CI'}]",
    )
    rows = []
    for who in dict.fromkeys((answer, "best")):
        for base, test in ((summary.get(who) or {}).get("vs_baselines") or {}).items():
            rows.append((f"{who} vs {base}", fmt_ci(test), fmt(test.get("p_value"), 3)))
    blocks: list = [table]
    confusion = out / "plots" / "confusion.png"
    if confusion.is_file():  # a classification run
        blocks.append(Image(confusion, "test confusion matrix"))
    if rows:
        blocks.append(
            Table(
                ("pair", "accuracy difference [95% CI]", "p-value"),
                rows,
                caption="paired block-bootstrap tests on the same test samples: "
                "accuracy of the first minus the second, two-sided p-value",
            )
        )
    else:
        blocks.append(Text("No paired tests in this run's summary.", note=True))
    return blocks


def _search(summary: Mapping[str, Any], out: Path) -> list:
    plots = out / "plots"
    progress = summary.get("progress") or []
    blocks: list = [
        Image(plots / "search_progress.png", "search progress (best so far)"),
        Image(plots / "best_vs_time.png", "best so far against time"),
        Image(plots / "accuracy_vs_params.png", "accuracy vs parameter count"),
    ]
    if progress:
        blocks.append(
            Table(
                ("round", "best validation fitness so far"),
                [(str(i + 1), fmt(p)) for i, p in enumerate(progress)],
            )
        )
    return blocks


def _architecture(summary: Mapping[str, Any], out: Path) -> list:
    best = summary.get("best") or {}
    blocks: list = []
    if (out / "best_arch.png").is_file():
        blocks.append(Image(out / "best_arch.png", "best architecture"))
    blocks.append(
        Text(
            f"Best single architecture {best.get('fingerprint', '?')}: "
            f"{fmt(best.get('params_count'))} parameters, validation fitness "
            f"{fmt(best.get('fitness'))}, found in round {best.get('round', '?')}."
        )
    )
    blocks.append(Pre(_op_list(best.get("arch"))))
    members = (summary.get("ensemble") or {}).get("members") or []
    if summary.get("answer") == "ensemble" and members:
        blocks.append(
            Table(
                ("ensemble member", "kind", "weight"),
                [
                    (str(m.get("name")), str(m.get("kind")), fmt(m.get("weight"), 3))
                    for m in members
                ],
                caption="the answer: a weighted ensemble chosen on validation",
            )
        )
    blocks.append(_lineage(best, out))
    return blocks


def _op_list(arch: Any) -> str:
    """One line per active node of an arch's JSON (its op list)."""
    if not isinstance(arch, Mapping):
        return "no architecture in the summary"
    from nasjax.graph.arch import Arch

    try:
        nodes, _, readout = Arch.from_json(json.dumps(arch)).summary().partition(" | ")
        return "\n".join(nodes.split(" ")) + f"\nreadout: {readout}"
    except ValueError:
        return json.dumps(arch)


def _lineage(best: Mapping[str, Any], out: Path) -> Table | Text:
    """The morph history of the best arch, from ``results.parquet``."""
    results = out / "results.parquet"
    fp = best.get("fingerprint")
    if not results.is_file() or not fp:
        lineage = best.get("lineage") or []
        return Text("Lineage (seed first): " + " -> ".join(map(str, lineage)))
    import polars as pl

    from nasjax.morph import arch_lineage

    cols = [
        "fingerprint",
        "parent_fingerprint",
        "morphs",
        "round",
        "fitness",
        "params_count",
    ]
    frame = pl.read_parquet(results)
    rows = frame.select([c for c in cols if c in frame.columns]).to_dicts()
    try:
        chain = arch_lineage(rows, str(fp))
    except KeyError:
        return Text(f"{fp} is not among the evaluations of results.parquet")
    origin = chain[0].get("origin", "seed") if chain else "seed"
    return Table(
        ("step", "fingerprint", "parent", "morphs", "round", "fitness", "params"),
        [
            (
                str(i),
                step["fingerprint"],
                step["parent_fingerprint"] or "-",
                ", ".join(step["morphs"]) or "-",
                str(step["round"]),
                fmt(step["fitness"]),
                str(step["params_count"]),
            )
            for i, step in enumerate(chain)
        ],
        caption=f"lineage of the best architecture (first step: {origin})",
    )


def _calibration(summary: Mapping[str, Any], answer: str, out: Path) -> list:
    blocks: list = [Image(out / "plots" / "calibration.png", "calibration")]
    rows, bins, bins_of = [], [], answer
    for who in dict.fromkeys((answer, "best")):
        entry = summary.get(who) or {}
        cal = entry.get("calibration")
        if cal:
            for name in ("log_loss", "brier"):
                ba = cal.get(f"test_{name}") or {}
                rows.append(
                    (
                        f"{who}: test {name.replace('_', ' ')}",
                        fmt_ci(ba.get("before")),
                        fmt_ci(ba.get("after")),
                        f"{cal.get('method', '?')} (a={fmt(cal.get('a'), 3)}, "
                        f"b={fmt(cal.get('b'), 3)})",
                    )
                )
        if entry.get("reliability") and not bins:
            bins = _bins(entry["reliability"])
            bins_of = who
    if rows:
        blocks.append(
            Table(
                ("", "before calibration", "after calibration", "map"),
                rows,
                caption="calibration fitted on the selection block; test scores "
                "with 95% CIs",
            )
        )
    if bins:
        blocks.append(
            Table(
                ("P(up) bin", "samples", "mean predicted", "observed up"),
                bins,
                caption=f"reliability of {bins_of} on test: samples per bin (empty "
                "bins left out)",
            )
        )
    if not rows and not bins:
        blocks.append(Text("No probability calibration in this run.", note=True))
    return blocks


def _bins(rel: Mapping[str, Any]) -> list[tuple[str, ...]]:
    counts = rel.get("count") or []
    n = len(counts)
    return [
        (f"{i / n:.1f}-{(i + 1) / n:.1f}", str(c), fmt(p, 3), fmt(f, 3))
        for i, (c, p, f) in enumerate(
            zip(
                counts,
                rel.get("mean_p") or [],
                rel.get("frequency") or [],
                strict=False,
            )
        )
        if c
    ]


def _equity(summary: Mapping[str, Any], out: Path) -> list:
    answer = str(summary.get("answer", "best"))
    rows = []
    for label, scored in _models(summary, answer):
        tr = scored["trading"]
        if tr:
            rows.append((label, *_trading_cells(tr)))
    hold = summary.get("buy_and_hold")
    if hold:
        rows.append(("buy and hold (equal weight)", *_trading_cells(hold)))
    if not rows:
        return [Text("No trading view for this task.", note=True)]
    data = summary.get("data") or {}
    period = summary.get("period") or [data.get("test_start"), data.get("test_end")]
    cost = next((r[-1] for r in rows), "-")
    return [
        Image(out / "plots" / "equity.png", "equity on test"),
        Text(
            f"Test period {period[0]} .. {period[1]} (UTC); costs {cost} bps per "
            "unit turnover; positions from P(up) > 0.5, equal weight over coins."
        ),
        Table(
            (
                "model",
                "cumulative return",
                "Sharpe (ann.)",
                "max drawdown",
                "turnover",
                "bars",
                "cost bps",
            ),
            rows,
        ),
    ]


def _trading_cells(tr: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        fmt(tr.get("cumulative_return")),
        fmt(tr.get("sharpe"), 2),
        fmt(tr.get("max_drawdown")),
        fmt(tr.get("turnover"), 3),
        fmt(tr.get("n_bars")),
        fmt(tr.get("cost_bps"), 1),
    )


def _per_coin(summary: Mapping[str, Any], answer: str) -> list:
    models = [(label, s["per_coin"]) for label, s in _models(summary, answer)]
    models = [(label, pc) for label, pc in models if pc]
    if not models:
        return [Text("No per-coin results in this run's summary.", note=True)]
    coins = list(dict.fromkeys(c for _, pc in models for c in pc))
    first = models[0][1]
    label = models[0][0]
    headers = ["coin", "samples", f"{label} accuracy", f"{label} MCC"]
    headers += [f"{other} accuracy" for other, _ in models[1:]]
    rows = []
    for c in coins:
        a = first.get(c) or {}
        n = a.get("n") or next((pc[c].get("n") for _, pc in models if c in pc), None)
        cells = [c, fmt(n), fmt(a.get("accuracy")), fmt(a.get("mcc"))]
        cells += [fmt((pc.get(c) or {}).get("accuracy")) for _, pc in models[1:]]
        rows.append(cells)
    return [Table(headers, rows, caption="test period, per coin (point estimates)")]
