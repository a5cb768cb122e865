"""The end of a search: one pipeline for every task.

:func:`finish` takes the best evaluation of a finished search through the
same steps whatever the task: validation metrics of the selected model, the
**one** touch of the held-out test period (the best arch and the baselines),
plots, the export to ``best/``, ``summary.json`` and ``report.html``
(:func:`~nasjax.app.run_report.write_run_report`). What differs between
price direction (:class:`~nasjax.app.direction.DirectionTask`) and
classification (:class:`~nasjax.app.classify.ClassificationTask`) is a
:class:`FinishTask` plug-in: how the validation and test metrics are computed,
what is exported and which summary entries it adds.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from nasjax.app.config import AppConfig, searcher_options
from nasjax.app.loop import LoopState
from nasjax.app.run_report import write_run_report
from nasjax.compile_guard import relieve
from nasjax.data import FoldedData
from nasjax.distributed.mesh import is_main_process
from nasjax.evaluate.fidelity_plots import plot_best_vs_time, plot_learning_curves
from nasjax.evaluate.search_plots import plot_search
from nasjax.graph import draw_arch
from nasjax.graph.arch import Arch
from nasjax.morph import arch_lineage
from nasjax.search import pareto_front_of
from nasjax.serialize import json_default
from nasjax.typing import Key, Params

logger = logging.getLogger("nasjax.run")


class Finalist(NamedTuple):
    """An architecture of the search offered to the final fit.

    Attributes:
        row: Its result row.
        arch: Its architecture.
        fold_params: Its searched params on every fold (leaves ``[K, ...]``),
            or None when the searcher kept none (it then starts afresh).
    """

    row: dict[str, Any]
    arch: Arch
    fold_params: Params | None


class BestEvaluation(NamedTuple):
    """The search's best evaluation.

    Attributes:
        index: Its index in ``loop.rows``.
        row: Its result row.
        arch: Its architecture.
        fold_params: Its trained params on every fold, leaves ``[K, ...]``.
        runners_up: The next fittest evaluations (distinct architectures,
            fittest first; at the highest fidelity ``rung`` first when rows
            carry one): the other ensemble candidates.
    """

    index: int
    row: dict[str, Any]
    arch: Arch
    fold_params: Params
    runners_up: tuple[Finalist, ...] = ()


class TestOutcome(NamedTuple):
    """What a task's one touch of the test period produced.

    Attributes:
        report: The evaluation report (``models`` by name, ``n``, ...).
        model: Params of the delivered model (what ``best/`` holds).
        plots: Paths of the plots made with the report.
        extra: Task-specific values the later steps need.
    """

    report: dict[str, Any]
    model: Params
    plots: list[str]
    extra: dict[str, Any]


class FinishTask(Protocol):
    """The task-specific steps of :func:`finish`."""

    def validation(
        self, best: BestEvaluation, data: FoldedData, cfg: AppConfig
    ) -> dict[str, Any]:
        """Validation metrics of the selected model (with an interval)."""
        ...

    def test(
        self,
        best: BestEvaluation,
        data: FoldedData,
        cfg: AppConfig,
        k_final: Key,
        k_base: Key,
        plot_dir: Path | None,
    ) -> TestOutcome:
        """The one touch of the test period: the best arch and the baselines
        predicted and scored (plots into ``plot_dir`` unless None)."""
        ...

    def late_plots(
        self, outcome: TestOutcome, data: FoldedData, plot_dir: Path
    ) -> list[str]:
        """Plots drawn after the search plots (by the writing process)."""
        ...

    def data_summary(self, data: FoldedData, cfg: AppConfig) -> dict[str, Any]:
        """The summary's ``data`` entry."""
        ...

    def metrics(
        self,
        best: BestEvaluation,
        validation: dict[str, Any],
        outcome: TestOutcome,
        data_summary: dict[str, Any],
        data: FoldedData,
    ) -> dict[str, Any]:
        """The exported model's ``metrics.json``."""
        ...

    def export(
        self,
        export_dir: Path,
        best: BestEvaluation,
        outcome: TestOutcome,
        data: FoldedData,
        cfg: AppConfig,
        history: list[dict[str, Any]],
        metrics: dict[str, Any],
    ) -> None:
        """Write the delivered model into ``export_dir`` (the run's ``best/``)."""
        ...

    def summary(
        self,
        best: BestEvaluation,
        validation: dict[str, Any],
        outcome: TestOutcome,
        history: list[dict[str, Any]],
        cfg: AppConfig,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Task entries of ``summary.json``: those before the search record
        (``best``, ``baselines``, ...) and those after ``n_test``."""
        ...


def finish(
    cfg: AppConfig,
    loop: LoopState,
    data: FoldedData,
    k_final: Key,
    k_base: Key,
    out: Path,
    stopped_by: str,
    task: FinishTask,
) -> dict[str, Any]:
    """Test evaluation (touched once), export, plots, ``summary.json`` and
    ``report.html``.

    Args:
        cfg: The run's configuration.
        loop: The finished search.
        data: The search's data.
        k_final: Key of the final training of the best arch (if the task
            retrains it).
        k_base: Key of the baselines (baseline ``j`` uses ``fold_in(k_base, j)``).
        out: The run folder.
        stopped_by: The budget that ended the search.
        task: The task's steps (:class:`~nasjax.app.direction.DirectionTask`
            or :class:`~nasjax.app.classify.ClassificationTask`).

    Returns:
        The summary (as written to ``out/summary.json`` by process 0).

    Raises:
        RuntimeError: If every evaluation failed.
    """
    relieve()  # the finish compiles its own programs on top of the search's
    best = best_evaluation(loop)
    ens = cfg.evaluation.ensemble
    if ens.enabled and ens.top_k > 1:
        best = best._replace(runners_up=runners_up(loop, ens.top_k - 1))
    validation = task.validation(best, data, cfg)
    # With several processes all of them train and predict (the population
    # trainer is a collective); only process 0 writes.
    writer = is_main_process()
    plot_dir = out / "plots"
    if writer:
        plot_dir.mkdir(exist_ok=True)
    # The test period is touched once, here.
    outcome = task.test(best, data, cfg, k_final, k_base, plot_dir if writer else None)
    plots = [str(out / "best_arch.png"), *outcome.plots]
    if writer:
        plots += arch_and_search_plots(loop, out, plot_dir)
        plots += task.late_plots(outcome, data, plot_dir)
    data_summary = task.data_summary(data, cfg)
    history = arch_lineage(loop.rows, best.row["fingerprint"])
    metrics = task.metrics(best, validation, outcome, data_summary, data)
    metrics = json.loads(json.dumps(metrics, default=json_default))
    export_dir = (out / "best").absolute()
    if writer:
        task.export(export_dir, best, outcome, data, cfg, history, metrics)
    head, tail = task.summary(best, validation, outcome, history, cfg)
    summary: dict[str, Any] = {
        **head,
        **search_record(cfg, loop, stopped_by, data_summary),
        "n_test": outcome.report["n"],
        **tail,
        "pareto_front": _pareto_summary(cfg, loop),
        "export": run_relative(export_dir, out),
        "plots": [run_relative(p, out) for p in plots],
    }
    summary = write_summary(summary, out, writer)
    if writer:
        write_report(out)
    return summary


def write_report(out: Path) -> Path | None:
    """``out/report.html`` of the finished run (None if it failed: the
    results are saved; the failure is logged with the command that retries)."""
    try:
        return write_run_report(out)
    except Exception:  # a report bug must not lose a finished search
        logger.exception(
            "report.html not written; retry with: python -m nasjax.report %s", out
        )
        return None


def run_relative(path: str | Path, out: Path) -> str:
    """``path`` relative to the run folder ``out`` (a moved or copied run
    folder keeps its summary valid); unchanged if it lies outside."""
    p = Path(path).absolute()
    try:
        return p.relative_to(out.absolute()).as_posix()
    except ValueError:
        return str(p)


def best_evaluation(loop: LoopState) -> BestEvaluation:
    """The best evaluation of a finished search.

    Raises:
        RuntimeError: If every evaluation failed.
    """
    if loop.best_row < 0 or loop.best_fold_params is None:
        raise RuntimeError("every evaluation failed; nothing to evaluate on test")
    row = loop.rows[loop.best_row]
    return BestEvaluation(
        loop.best_row, row, Arch.from_json(row["arch_json"]), loop.best_fold_params
    )


def runners_up(loop: LoopState, n: int) -> tuple[Finalist, ...]:
    """The ``n`` fittest evaluations after the best, one per architecture.

    Rows are ranked by ``(rung, fitness)`` (``rung`` 0 when absent: a
    screening score is not compared with a longer training's); each
    architecture counts once (its highest-ranked row). Their fold params are
    those the searcher's archive kept (``archive.params``), else None.
    """
    best_fp = loop.rows[loop.best_row]["fingerprint"] if loop.best_row >= 0 else None
    ranked: dict[str, tuple[tuple[float, float], int]] = {}
    for i, row in enumerate(loop.rows):
        fit = row.get("fitness")
        if row.get("failed") or fit is None or not np.isfinite(fit):
            continue
        fp = row["fingerprint"]
        if fp == best_fp:
            continue
        rank = (float(row.get("rung") or 0), float(fit))
        if fp not in ranked or rank > ranked[fp][0]:
            ranked[fp] = (rank, i)
    order = sorted(ranked.values(), key=lambda r: (-r[0][0], -r[0][1], r[1]))
    archive = getattr(loop.searcher, "archive", None)
    kept = getattr(archive, "params", None) or {}
    out = []
    for _, i in order[:n]:
        row = loop.rows[i]
        arch = Arch.from_json(row["arch_json"])
        out.append(Finalist(row, arch, kept.get(row["fingerprint"])))
    return tuple(out)


def arch_and_search_plots(loop: LoopState, out: Path, plot_dir: Path) -> list[str]:
    """Draw the best arch (``out/best_arch.png``) and the search plots.

    Returns:
        The search plots' paths (the arch drawing's path is known).
    """
    import matplotlib.pyplot as plt

    best = best_evaluation(loop)
    title = best.row["fingerprint"]
    plt.close(draw_arch(best.arch, out / "best_arch.png", title=title))
    return [
        *plot_search(loop.rows, best.index, plot_dir),
        plot_learning_curves(loop.rows, plot_dir),
        plot_best_vs_time(loop.rows, plot_dir),
    ]


def best_record(
    best: dict[str, Any], history: list[dict[str, Any]], **entries: Any
) -> dict[str, Any]:
    """The summary's ``best`` entry: the row's identity, ``entries``, lineage."""
    return {
        "fingerprint": best["fingerprint"],
        "arch": json.loads(best["arch_json"]),
        "params_count": best["params_count"],
        "fitness": best["fitness"],
        "round": best["round"],
        **entries,
        "lineage": [step["fingerprint"] for step in history],
    }


def write_summary(summary: dict[str, Any], out: Path, writer: bool) -> dict[str, Any]:
    """``summary`` made JSON-safe, written to ``out/summary.json`` by the writer."""
    summary = json.loads(json.dumps(summary, default=json_default))
    if writer:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def search_record(
    cfg: AppConfig, loop: LoopState, stopped_by: str, data: dict[str, Any]
) -> dict[str, Any]:
    """The summary entries describing the search itself (shared by the
    direction and the classification finish steps)."""
    rows = loop.rows
    return {
        "n_evaluations": len(rows),
        "n_failed": int(sum(row["failed"] for row in rows)),
        "searcher": cfg.search.name,
        "searcher_options": dict(sorted(searcher_options(cfg).items())),
        "data": data,
        "progress": list(loop.progress),
        "budget": {
            "rounds": cfg.search.rounds,
            "max_evaluations": cfg.search.max_evaluations,
            "time_budget_s": cfg.search.time_budget_s,
            "rounds_done": len(loop.progress),
            "stopped_by": stopped_by,
            "search_seconds": loop.elapsed_s,
        },
    }


def _pareto_summary(cfg: AppConfig, loop: LoopState) -> dict[str, Any]:
    """The searcher's Pareto front over its objectives (accuracy vs parameters
    for a single-objective search)."""
    objectives = tuple(searcher_options(cfg).get("objectives", ()))
    if len(objectives) < 2:
        objectives = ("accuracy", "params")
    front = pareto_front_of(loop.searcher, objectives)
    return {
        "objectives": list(front.objectives),
        "fingerprints": list(front.fingerprints),
        "values": np.asarray(front.values).tolist(),
    }
