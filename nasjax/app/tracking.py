"""Experiment tracking: a search's parameters, metrics and files in MLflow or
TensorBoard (the ``tracker`` group: ``none``, ``mlflow``, ``tensorboard``).

The command line makes one tracker per run with
:func:`nasjax.app.trackers.make_tracker` (where the MLflow and TensorBoard
trackers live) before any work (a missing library fails there, naming
``pip install 'nasjax[track]'``), then calls, on process 0 only:

* ``start(params, tags)`` once the run is accepted: the resolved
  configuration, flattened to dotted keys (:func:`flat_params`);
* ``log_round(info)`` after every round, with the ``on_round`` record of
  :func:`nasjax.app.run.run_search` (:func:`round_metrics`: round,
  evaluations, best fitness, elapsed seconds; the round is the step);
* ``log_summary(summary, out_dir)`` at the end: the final metrics of
  ``summary.json`` (:func:`final_metrics`: the answer's, the best
  architecture's and every baseline's test metrics with their 95% bounds,
  the validation fitness, the budget spent), a few tags
  (:func:`summary_tags`) and the run's files (:data:`ARTIFACTS`);
* ``close(status)`` (``FINISHED``, ``FAILED`` or ``KILLED``).

Only ``start`` may raise (a tracker that cannot open its store stops the run
before the first round). Every later failure is logged as a warning and
turns the tracker off (:class:`Guarded`): a finished search and its outputs
never depend on the tracker. Each tracker holds its own client or writer;
nothing is global (MLflow's fluent ``mlflow.start_run`` state is not used).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nasjax.serialize import to_jsonable

logger = logging.getLogger("nasjax.tracking")

__all__ = [
    "ARTIFACTS",
    "INSTALL_HINT",
    "TRACKERS",
    "Guarded",
    "NoTracker",
    "Tracker",
    "TrackerConfig",
    "default_run_name",
    "final_metrics",
    "flat_params",
    "round_metrics",
    "summary_tags",
]

TRACKERS: tuple[str, ...] = ("none", "mlflow", "tensorboard")
"""Values of ``tracker.name``."""

INSTALL_HINT = "pip install 'nasjax[track]'"
"""How to install the optional tracking libraries."""

ARTIFACTS: tuple[str, ...] = (
    "summary.json",
    "report.html",
    "report.md",
    "results.parquet",
    "best_arch.png",
    "plots",
    "best",
    ".hydra",
)
"""Files and folders of a run folder that MLflow stores with the run (those
that exist; TensorBoard gets the plots as images and ``report.md`` as text)."""

Params = Mapping[str, bool | int | float | str]


@dataclass(frozen=True)
class TrackerConfig:
    """Where a search's parameters, metrics and files are tracked (``tracker``).

    Attributes:
        name: ``none`` (default), ``mlflow`` or ``tensorboard``.
        uri: MLflow: the tracking URI (None: ``sqlite:///<run
            folder>/mlflow.db``, artifacts in ``<run folder>/mlartifacts``;
            a shared store such as ``sqlite:///outputs/mlflow.db`` collects
            every run, with artifacts in ``mlartifacts/`` beside the
            database; ``http://host:5000`` for a server). TensorBoard: a
            log folder that collects runs, each in ``<uri>/<run_name>``
            (None: ``<run folder>/tensorboard``).
        experiment: MLflow experiment name (created if missing).
        run_name: Name of the run (None: the run folder, relative to the
            working directory when inside it).
        artifacts: Store the run's files (:data:`ARTIFACTS`) with the run.
    """

    name: str = "none"
    uri: str | None = None
    experiment: str = "nasjax"
    run_name: str | None = None
    artifacts: bool = True

    def __post_init__(self) -> None:
        if self.name not in TRACKERS:
            raise ValueError(
                f"tracker.name must be one of {TRACKERS}, got {self.name!r}"
            )


class Tracker(Protocol):
    """What the command line calls (see the module docstring)."""

    def start(self, params: Params, tags: Mapping[str, str]) -> None: ...

    def log_round(self, info: Mapping[str, Any]) -> None: ...

    def log_summary(self, summary: Mapping[str, Any], out_dir: Path) -> None: ...

    def close(self, status: str) -> None: ...


# --------------------------------------------------------------------------
# What is tracked


def flat_params(cfg: Any, skip: Sequence[str] = ("protocol",)) -> dict[str, Any]:
    """A configuration as ``{dotted key: value}``.

    Args:
        cfg: A dataclass configuration (an :class:`~nasjax.app.config.AppConfig`)
            or a nested mapping.
        skip: Top-level keys left out (``protocol``: not read by a search).

    Returns:
        Scalars as they are (bool, int, float, str); None as ``"null"``;
        lists as JSON (``'["majority", "logistic"]'``), so every value reads
        as on the command line.
    """
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if not prefix and key in skip:
                continue
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")
            elif isinstance(value, bool | int | float | str):
                out[f"{prefix}{key}"] = value
            else:
                out[f"{prefix}{key}"] = json.dumps(value)

    walk(to_jsonable(cfg), "")
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def round_metrics(info: Mapping[str, Any]) -> dict[str, float]:
    """The ``on_round`` record as metrics (``search/...``; no best: absent)."""
    names = {
        "round": "search/round",
        "n_evaluations": "search/n_evaluations",
        "best": "search/best_fitness",
        "elapsed_s": "search/elapsed_s",
    }
    out = {name: _number(info.get(key)) for key, name in names.items()}
    return {k: v for k, v in out.items() if v is not None}


def final_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of ``summary.json`` worth comparing across runs.

    ``val/best_fitness``; ``budget/n_evaluations``, ``budget/n_failed``,
    ``budget/rounds``, ``budget/seconds`` (``search/...`` are the round
    metrics); ``test/n_samples``;
    ``test/<who>/<metric>`` with ``_low`` / ``_high`` (the 95% interval) for
    ``who`` = ``answer`` (the delivered model: the ensemble or the best
    architecture), ``best`` (the best architecture) and
    ``baseline/<name>``; ``trading/<who>/<key>`` and
    ``trading/buy_and_hold/<key>`` where the task has trading results.
    Missing entries, non-numbers and non-finite values are left out.
    """
    out: dict[str, float] = {}

    def put(name: str, value: Any) -> None:
        number = _number(value)
        if number is not None:
            out[name] = number

    def metrics(prefix: str, node: Any) -> None:
        if not isinstance(node, Mapping):
            return
        for name, m in node.items():
            if isinstance(m, Mapping):
                put(f"{prefix}/{name}", m.get("value"))
                put(f"{prefix}/{name}_low", m.get("low"))
                put(f"{prefix}/{name}_high", m.get("high"))
            else:
                put(f"{prefix}/{name}", m)

    best = summary.get("best") or {}
    budget = summary.get("budget") or {}
    put("val/best_fitness", best.get("fitness"))
    put("budget/n_evaluations", summary.get("n_evaluations"))
    put("budget/n_failed", summary.get("n_failed"))
    put("budget/rounds", budget.get("rounds_done"))
    put("budget/seconds", budget.get("search_seconds"))
    put("test/n_samples", summary.get("n_test"))
    answer = summary.get(summary.get("answer", "best")) or best
    for who, node in (("answer", answer), ("best", best)):
        metrics(f"test/{who}", node.get("test"))
        metrics(f"trading/{who}", node.get("test_trading"))
    for name, baseline in (summary.get("baselines") or {}).items():
        metrics(f"test/baseline/{name}", baseline.get("metrics"))
        metrics(f"trading/baseline/{name}", baseline.get("trading"))
    metrics("trading/buy_and_hold", summary.get("buy_and_hold"))
    return out


def summary_tags(summary: Mapping[str, Any]) -> dict[str, str]:
    """Answer kind, searcher, best architecture and stopping budget."""
    best = summary.get("best") or {}
    tags = {
        "nasjax.answer": summary.get("answer", "best"),
        "nasjax.searcher": summary.get("searcher"),
        "nasjax.best_fingerprint": best.get("fingerprint"),
        "nasjax.stopped_by": (summary.get("budget") or {}).get("stopped_by"),
    }
    return {k: str(v) for k, v in tags.items() if v is not None}


def default_run_name(out_dir: Path) -> str:
    """The run folder relative to the working directory (else absolute)."""
    out = Path(out_dir).absolute()
    try:
        return str(out.relative_to(Path.cwd()))
    except ValueError:
        return str(out)


# --------------------------------------------------------------------------
# Wrappers


class NoTracker:
    """``tracker=none``: every call does nothing."""

    def start(self, params: Params, tags: Mapping[str, str]) -> None:
        del params, tags

    def log_round(self, info: Mapping[str, Any]) -> None:
        del info

    def log_summary(self, summary: Mapping[str, Any], out_dir: Path) -> None:
        del summary, out_dir

    def close(self, status: str) -> None:
        del status


@dataclass
class Guarded:
    """A tracker whose failures after ``start`` are logged, never raised.

    The first failure logs a warning (with the traceback) and turns the
    tracker off; ``close`` is still attempted so the run is marked ended.
    """

    tracker: Tracker
    name: str
    broken: bool = False

    def start(self, params: Params, tags: Mapping[str, str]) -> None:
        self.tracker.start(params, tags)  # before any work: may raise

    def log_round(self, info: Mapping[str, Any]) -> None:
        if not self.broken:
            self._safely("log_round", self.tracker.log_round, info)

    def log_summary(self, summary: Mapping[str, Any], out_dir: Path) -> None:
        if not self.broken:
            self._safely("log_summary", self.tracker.log_summary, summary, out_dir)

    def close(self, status: str) -> None:
        self._safely("close", self.tracker.close, status)

    def _safely(self, what: str, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            self.broken = True
            logger.warning(
                "tracker=%s failed in %s; tracking stops, the search and its "
                "outputs are not affected",
                self.name,
                what,
                exc_info=True,
            )
