"""The search loop: rounds of ask -> train -> tell until a budget is spent.

:class:`LoopState` is everything the driver carries from round to round (and
checkpoints whole); :func:`search_loop` runs rounds with a rich progress bar
(round, evaluations, best score, elapsed time, ETA) and writes
``results.parquet`` after every round. Every key of round ``r`` is
``fold_in(k_search, r)``, so a resumed loop repeats an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import polars as pl
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from nasjax.app.config import AppConfig
from nasjax.data import FoldedData
from nasjax.distributed.consistency import check_same_everywhere
from nasjax.distributed.mesh import agree, is_main_process
from nasjax.graph import unstack
from nasjax.nn import active_macs, active_param_count
from nasjax.search import Searcher, SearchState
from nasjax.serialize import RECORD_TYPES
from nasjax.train.config import TrainConfig
from nasjax.train.population import train_population
from nasjax.typing import Key, Params

logger = logging.getLogger("nasjax.run")


class LoopState(NamedTuple):
    """What the driver carries from round to round (checkpointed whole).

    Attributes:
        searcher: The searcher's state (archive, inherited params, ...).
        rows: One result row per evaluation, in order.
        progress: Best validation fitness so far after each round (None
            while nothing succeeded); its length is the completed rounds.
        best_row: Index in ``rows`` of the best evaluation (-1: none yet);
            the first of equal fitnesses.
        best_fold_params: Trained params of the best evaluation on every
            fold, leaves ``[K, ...]`` (host), for its validation metrics.
        elapsed_s: Wall-clock seconds spent in rounds, over all sessions.
    """

    searcher: SearchState
    rows: tuple[dict[str, Any], ...]
    progress: tuple[float | None, ...]
    best_row: int
    best_fold_params: Params | None
    elapsed_s: float


LOOP_RECORDS = {**RECORD_TYPES, "LoopState": LoopState}


def next_population(cfg: AppConfig, loop: LoopState) -> tuple[int, str | None]:
    """Members of the next round, or ``(0, budget that is spent)``."""
    s = cfg.search
    if len(loop.progress) >= s.rounds:
        return 0, "rounds"
    n = s.population
    if s.max_evaluations is not None:
        left = s.max_evaluations - len(loop.rows)
        if left <= 0:
            return 0, "max_evaluations"
        n = min(n, left)
    if s.time_budget_s is not None and loop.elapsed_s >= s.time_budget_s:
        return 0, "time_budget_s"
    return n, None


def planned_rounds(cfg: AppConfig, loop: LoopState) -> int:
    """Rounds the deterministic budgets allow in total."""
    total = cfg.search.rounds
    if cfg.search.max_evaluations is not None:
        left = max(0, cfg.search.max_evaluations - len(loop.rows))
        total = min(total, len(loop.progress) + math.ceil(left / cfg.search.population))
    return max(total, len(loop.progress))


def search_round(
    key: Key,
    searcher: Searcher,
    loop: LoopState,
    n: int,
    data: FoldedData,
    train_cfg: TrainConfig,
    inherit: bool = True,
) -> LoopState:
    """One ask -> train -> tell round of ``n`` members; the new loop state.

    ``inherit=False`` trains every member from fresh weights instead of the
    params the searcher hands out (``train_population`` with ``params=None``).
    """
    r = len(loop.progress)
    t0 = time.perf_counter()
    k_ask, k_train, k_tell = jax.random.split(key, 3)
    proposal, state = searcher.ask(k_ask, loop.searcher, n)
    t_train = time.perf_counter()
    # Op capacities follow each round's population (no floor): on CPU a
    # round is compute-bound, compiling is a few percent of it.
    result = train_population(
        k_train,
        proposal.archs,
        proposal.params if inherit else None,
        data,
        train_cfg,
    )
    fitness = np.asarray(result.fitness, np.float64)
    seconds = time.perf_counter() - t_train
    # Children continue each fold from that fold's trained params: fold k's
    # weights never saw another fold's validation period.
    state, _ = searcher.tell(
        k_tell, state, proposal.archs, fitness, params=result.params
    )
    if jax.process_count() > 1:  # every process runs the same searcher
        check_same_everywhere(state, f"search state after round {r}")
    acc = np.asarray(result.metrics["best_val_accuracy"], np.float64)
    loss = np.asarray(result.metrics["best_val_loss"], np.float64)
    failed = np.asarray(result.failed, bool)
    members = unstack(proposal.archs)
    new_rows = []
    for i, arch in enumerate(members):
        row: dict[str, Any] = {
            "round": r,
            "arch_json": arch.to_json(),
            "fingerprint": proposal.fingerprints[i],
            "parent_fingerprint": proposal.parent_fingerprints[i],
            "morphs": ",".join(proposal.morph_names[i]),
            "params_count": int(active_param_count(arch)),
            "macs": int(active_macs(arch)),
            "fitness": float(fitness[i]),
        }
        for k in range(acc.shape[1]):
            row[f"val_accuracy_fold{k}"] = float(acc[i, k])
            row[f"val_loss_fold{k}"] = float(loss[i, k])
        row["train_seconds"] = seconds / len(members)
        row["failed"] = bool(failed[i])
        row["failure_reason"] = "non-finite loss" if failed[i] else ""
        new_rows.append(row)
    best_row, best_params = loop.best_row, loop.best_fold_params
    score = np.where(np.isfinite(fitness), fitness, -np.inf)
    i = int(np.argmax(score))
    old = loop.rows[best_row]["fitness"] if best_row >= 0 else -np.inf
    if np.isfinite(score[i]) and score[i] > old:
        best_row = len(loop.rows) + i
        best_params = jax.tree.map(lambda x: np.asarray(x)[i], result.params)
    rows = loop.rows + tuple(new_rows)
    best = rows[best_row]["fitness"] if best_row >= 0 else None
    return LoopState(
        searcher=state,
        rows=rows,
        progress=(*loop.progress, best),
        best_row=best_row,
        best_fold_params=best_params,
        # Processes agree on the clock so a time budget stops them together.
        elapsed_s=float(agree(loop.elapsed_s + time.perf_counter() - t0, np.max)),
    )


def write_results(rows: tuple[dict[str, Any], ...], path: Path) -> None:
    """Write the rows as parquet atomically (temporary file + rename).

    Only process 0 writes (with several processes, every one holds the same
    rows).
    """
    if not is_main_process():
        return
    tmp = path.with_name(path.name + ".tmp")
    pl.DataFrame(list(rows)).write_parquet(tmp)
    os.replace(tmp, path)


def _fmt_s(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "-"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _eta(cfg: AppConfig, loop: LoopState, round_seconds: list[float]) -> float | None:
    """Seconds left: mean round time x rounds left, capped by the time budget."""
    left = planned_rounds(cfg, loop) - len(loop.progress)
    eta = float(np.mean(round_seconds)) * left if round_seconds else None
    if cfg.search.time_budget_s is not None:
        budget = max(0.0, cfg.search.time_budget_s - loop.elapsed_s)
        eta = budget if eta is None else min(eta, budget)
    return 0.0 if left <= 0 else eta


def search_loop(
    cfg: AppConfig,
    searcher: Searcher,
    loop: LoopState,
    k_search: Key,
    data: FoldedData,
    out: Path,
    save: Callable[[int, LoopState], Path] | None,
    progress: bool,
    on_round: Callable[[dict[str, Any]], None] | None,
) -> tuple[LoopState, str]:
    """Rounds until a budget is spent; returns the state and which budget."""
    if loop.rows:
        write_results(loop.rows, out / "results.parquet")
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("round {task.completed}/{task.total}"),
        TextColumn("evals {task.fields[evals]}"),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
        TextColumn("eta {task.fields[eta]}"),
    ]
    round_seconds: list[float] = []

    def fields(loop: LoopState) -> dict[str, Any]:
        best = loop.progress[-1] if loop.progress else None
        return {
            "total": planned_rounds(cfg, loop),
            "completed": len(loop.progress),
            "evals": len(loop.rows),
            "best": "-" if best is None else f"{best:.4f}",
            "eta": _fmt_s(_eta(cfg, loop, round_seconds)),
        }

    progress = progress and is_main_process()
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"search ({cfg.search.name})", **fields(loop))
        while True:
            n, stopped_by = next_population(cfg, loop)
            if stopped_by is not None:
                break
            r = len(loop.progress)
            t0 = time.perf_counter()
            loop = search_round(
                jax.random.fold_in(k_search, r),
                searcher,
                loop,
                n,
                data,
                cfg.train,
                cfg.search.inherit,
            )
            write_results(loop.rows, out / "results.parquet")
            ck_dir = None if save is None else save(r + 1, loop)
            round_seconds.append(time.perf_counter() - t0)
            bar.update(task, **fields(loop))
            best = loop.progress[-1]
            logger.info(
                "round %d/%d: %d evaluations, best %s, eta %s",
                r + 1,
                planned_rounds(cfg, loop),
                len(loop.rows),
                "-" if best is None else f"{best:.4f}",
                _fmt_s(_eta(cfg, loop, round_seconds)),
            )
            if on_round is not None:
                on_round(
                    {
                        "round": r + 1,
                        "n_evaluations": len(loop.rows),
                        "best": best,
                        "elapsed_s": loop.elapsed_s,
                        "checkpoint_dir": ck_dir,
                    }
                )
    return loop, stopped_by
