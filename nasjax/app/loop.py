"""The search loop: rounds of ask -> train -> tell until a budget is spent.

:class:`LoopState` is everything the driver carries from round to round (and
checkpoints whole); :func:`search_loop` runs rounds with a rich progress bar
(round, evaluations, best score, elapsed time, ETA) and writes
``results.parquet`` after every round. Every key of round ``r`` is
``fold_in(k_search, r)``, so a resumed loop repeats an uninterrupted one.
"""

from __future__ import annotations

import json
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
from nasjax.app.rungs import train_rungs, train_windows
from nasjax.compile_guard import relieve
from nasjax.data import FoldedData
from nasjax.distributed.consistency import check_same_everywhere
from nasjax.distributed.mesh import agree, is_main_process
from nasjax.graph import unstack
from nasjax.nn import active_macs, active_param_count
from nasjax.search import Searcher, SearchState
from nasjax.search.fidelity import rung_budgets
from nasjax.serialize import RECORD_TYPES
from nasjax.train.config import TrainConfig
from nasjax.typing import Key, Params

logger = logging.getLogger("nasjax.run")


class LoopState(NamedTuple):
    """What the driver carries from round to round (checkpointed whole).

    Attributes:
        searcher: The searcher's state (archive, inherited params, ...).
        rows: One result row per evaluation, in order.
        progress: The winner's validation fitness after each round (None
            while nothing succeeded); its length is the completed rounds.
        best_row: Index in ``rows`` of the winner (-1: none yet): among the
            evaluations at the highest rung reached, the best
            ``select_score`` (``search.select``: the lower confidence bound
            or the mean fitness); the first of equal scores.
        best_fold_params: Trained params of the winner on every fold (at its
            last rung), leaves ``[K, ...]`` (host), for its validation
            metrics.
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


def round_budgets(
    cfg: AppConfig, data: FoldedData
) -> tuple[TrainConfig, tuple[int, ...]]:
    """The training config of the search (``train.epochs`` resolved over the
    folds' mean training windows) and its rungs' budgets (one rung, the full
    length, when ``search.fidelity`` is disabled)."""
    train_cfg = cfg.train.resolved(train_windows(data))
    fid = cfg.search.fidelity
    n_rungs = fid.rungs if fid.enabled else 1
    budgets = rung_budgets(train_cfg.n_steps, fid.eta, n_rungs, train_cfg.eval_every)
    return train_cfg, budgets


def is_better(rows: tuple[dict[str, Any], ...], i: int, j: int) -> bool:
    """Row ``i`` beats row ``j`` (-1: none) as the winner: a higher rung, or
    the same rung and a higher ``select_score`` (ties: the earlier row)."""
    a = rows[i]
    if not np.isfinite(a["select_score"]):
        return False
    if j < 0:
        return True
    b = rows[j]
    return (a["rung"], a["select_score"]) > (b["rung"], b["select_score"])


def search_round(
    key: Key,
    searcher: Searcher,
    loop: LoopState,
    n: int,
    data: FoldedData,
    cfg: AppConfig,
    t_start: float | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> LoopState:
    """One ask -> train (rungs) -> tell round of ``n`` members; the new state.

    The members are trained by :func:`nasjax.app.rungs.train_rungs` (one
    rung when ``search.fidelity`` is disabled); the searcher is told their
    rung-0 fitness (every member measured at the same budget) and its
    standard error, with their params at their last rung (children inherit
    the most trained weights).
    ``search.inherit=False`` trains every member from fresh weights instead
    of the params the searcher hands out. Promotion stops once
    ``search.time_budget_s`` is spent (``t_start``: when this session's
    clock started, default now). ``on_stage(text)`` is told what the round
    is doing (asking, each rung's training), e.g. for a progress bar.
    """
    r = len(loop.progress)
    t0 = time.perf_counter()
    t_start = t0 if t_start is None else t_start
    k_ask, k_train, k_tell = jax.random.split(key, 3)
    stage = on_stage or (lambda _: None)
    stage(f"asking {cfg.search.name} for {n} archs")
    proposal, state = searcher.ask(k_ask, loop.searcher, n)
    train_cfg, budgets = round_budgets(cfg, data)
    s = cfg.search
    budget_s = s.time_budget_s

    def spent() -> bool:
        if budget_s is None:
            return False
        now = loop.elapsed_s + time.perf_counter() - t0
        return bool(agree(float(now >= budget_s), np.max))

    # Op capacities follow each round's population (no floor): on CPU a
    # round is compute-bound, compiling is a few percent of it.
    res = train_rungs(
        k_train,
        proposal.archs,
        proposal.params if s.inherit else None,
        data,
        train_cfg,
        budgets,
        s.fidelity.eta,
        s.select,
        s.select_z,
        deadline=spent,
        on_rung=lambda q, m, steps: stage(
            f"rung {q + 1}/{len(budgets)}: {m} arch(s) to {steps} steps"
        ),
    )
    # Children continue each fold from that fold's trained params: fold k's
    # weights never saw another fold's validation period.
    state, _ = searcher.tell(
        k_tell,
        state,
        proposal.archs,
        res.rung_fitness[:, 0],
        params=res.params,
        fitness_se=res.rung_se[:, 0],
    )
    if jax.process_count() > 1:  # every process runs the same searcher
        check_same_everywhere(state, f"search state after round {r}")
    elapsed = float(agree(loop.elapsed_s + time.perf_counter() - t0, np.max))
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
            "fitness": float(res.fitness[i]),
            "fitness_std": float(res.fitness_std[i]),
            "fitness_se": float(res.fitness_se[i]),
            "select_score": float(res.score[i]),
            "rung": int(res.rung[i]),
            "budget_steps": int(res.budget_steps[i]),
            "best_step": int(np.min(res.best_step[i])),
        }
        for q in range(len(budgets)):
            row[f"fitness_rung{q}"] = float(res.rung_fitness[i, q])
        for k in range(res.val_accuracy.shape[1]):
            row[f"val_accuracy_fold{k}"] = float(res.val_accuracy[i, k])
            row[f"val_loss_fold{k}"] = float(res.val_loss[i, k])
            row[f"best_step_fold{k}"] = int(res.best_step[i, k])
        row["val_curve"] = json.dumps(res.curves[i])
        row["train_seconds"] = float(res.seconds[i])
        row["elapsed_s"] = elapsed
        row["failed"] = bool(res.failed[i])
        row["failure_reason"] = "non-finite loss" if res.failed[i] else ""
        new_rows.append(row)
    rows = loop.rows + tuple(new_rows)
    best_row, best_params = loop.best_row, loop.best_fold_params
    for i in range(len(members)):
        if is_better(rows, len(loop.rows) + i, best_row):
            best_row = len(loop.rows) + i
            best_params = jax.tree.map(lambda x, i=i: np.asarray(x)[i], res.params)
    best = rows[best_row]["fitness"] if best_row >= 0 else None
    return LoopState(
        searcher=state,
        rows=rows,
        progress=(*loop.progress, best),
        best_row=best_row,
        best_fold_params=best_params,
        # Processes agree on the clock so a time budget stops them together.
        elapsed_s=elapsed,
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
        TextColumn("{task.fields[stage]}"),
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
        task = bar.add_task(f"search ({cfg.search.name})", stage="", **fields(loop))

        def on_stage(text: str) -> None:
            bar.update(task, stage=text)

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
                cfg,
                on_stage=on_stage,
            )
            write_results(loop.rows, out / "results.parquet")
            ck_dir = None if save is None else save(r + 1, loop)
            relieve()  # a long search must not run out of memory mappings
            round_seconds.append(time.perf_counter() - t0)
            bar.update(task, stage="", **fields(loop))
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
