"""Successive halving inside one search round (the driver's fidelity rungs).

:func:`train_rungs` trains a proposal at the rung-0 budget, then promotes
the best ``ceil(n / eta)`` members by the noise-aware score
(:func:`nasjax.search.fidelity.select_score`) to the next rung: they
continue training from their own per-fold state (weights, optimiser state,
schedule step, early stopping, key stream; ``train_population(...,
resume=...)``), so a member promoted to rung ``r`` is exactly a member
trained for rung ``r``'s budget in one go. The learning-rate schedule spans
the top rung's budget in every rung. With one rung this is the plain
one-budget round.

Promotion stops early when ``deadline()`` says the time budget is spent:
the members already trained keep their rung.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from nasjax.data import FoldedData
from nasjax.graph.arch import Arch
from nasjax.search.fidelity import (
    fitness_stats,
    n_promoted,
    select_score,
    top_members,
)
from nasjax.train.config import TrainConfig
from nasjax.train.population import train_population
from nasjax.typing import Key, Params

logger = logging.getLogger("nasjax.run")


class RungResult(NamedTuple):
    """A round's members after their last rung (leading axis P).

    Attributes:
        params: Trained params per member and fold at its last rung, leaves
            ``[P, K, ...]``.
        rung: ``int[P]`` last rung reached.
        budget_steps: ``int[P]`` steps trained in total (this round).
        fitness: ``float64[P]`` mean validation score over the folds at the
            last rung (NaN: failed).
        fitness_std: ``float64[P]`` its spread over the folds.
        fitness_se: ``float64[P]`` its standard error.
        score: ``float64[P]`` the selection score (``lcb`` or ``mean``).
        rung_fitness: ``float64[P, R]`` fitness at each rung (NaN: not
            reached).
        rung_se: ``float64[P, R]`` its standard error at each rung.
        val_accuracy: ``float64[P, K]`` best validation accuracy per fold.
        val_loss: ``float64[P, K]`` best validation loss per fold.
        best_step: ``int[P, K]`` step of the kept params per fold (0: the
            initial params).
        failed: ``bool[P]``.
        curves: Per member, ``(step, fold-mean validation score)`` at every
            evaluation of every rung it trained in.
        seconds: ``float64[P]`` the member's share of the rounds' training
            time (each rung's time split over its members).
    """

    params: Params
    rung: np.ndarray
    budget_steps: np.ndarray
    fitness: np.ndarray
    fitness_std: np.ndarray
    fitness_se: np.ndarray
    score: np.ndarray
    rung_fitness: np.ndarray
    rung_se: np.ndarray
    val_accuracy: np.ndarray
    val_loss: np.ndarray
    best_step: np.ndarray
    failed: np.ndarray
    curves: tuple[tuple[tuple[int, float], ...], ...]
    seconds: np.ndarray


def validation_sizes(data: FoldedData, cfg: TrainConfig) -> np.ndarray:
    """``int[K]`` validation samples per fold the trainer scores (capped by
    ``cfg.max_eval_samples``)."""
    folds = data.folds
    n = np.sum(np.asarray(folds.val_mask), axis=1)
    if cfg.max_eval_samples is not None:
        n = np.minimum(n, cfg.max_eval_samples)
    return n.astype(np.int64)


def train_windows(data: FoldedData) -> float:
    """Mean training windows per fold (what ``train.epochs`` counts)."""
    return float(np.mean(np.sum(np.asarray(data.folds.train_mask), axis=1)))


def _take(tree: Any, idx: np.ndarray) -> Any:
    return jax.tree.map(lambda v: v[idx], tree)


def train_rungs(
    key: Key,
    archs: Arch,
    params: Params | None,
    data: FoldedData,
    train_cfg: TrainConfig,
    budgets: tuple[int, ...],
    eta: int,
    select: str = "lcb",
    z: float = 1.0,
    deadline: Callable[[], bool] | None = None,
    on_rung: Callable[[int, int, int], None] | None = None,
) -> RungResult:
    """Successive halving of one population (see the module docstring).

    Args:
        key: PRNG key (rung ``r`` trains with ``fold_in(key, r)``; promoted
            members keep their own key stream).
        archs: Stacked archs ``[P]``.
        params: Starting params ``[P, ...]`` / ``[P, K, ...]`` (None: fresh).
        data: The search's data.
        train_cfg: Training configuration (its ``n_steps`` is replaced by
            the rungs' budgets; ``epochs`` must be resolved already).
        budgets: Total steps of each rung, increasing
            (:func:`nasjax.search.fidelity.rung_budgets`).
        eta: Rung ``r + 1`` keeps ``ceil(n / eta)`` of rung ``r``'s ``n``.
        select: Promotion rule, ``lcb`` or ``mean``.
        z: Width of the lower confidence bound.
        deadline: Called before each promotion; True stops promoting.
        on_rung: Called as ``on_rung(rung, members, steps)`` before each
            rung trains (e.g. to show it on a progress bar).

    Returns:
        :class:`RungResult`.
    """
    n = archs.batch_shape[0]
    n_rungs = len(budgets)
    n_val = validation_sizes(data, train_cfg)
    accuracy = train_cfg.metric == "accuracy"
    base = dataclasses.replace(train_cfg, schedule_steps=budgets[-1], epochs=None)
    rung = np.zeros(n, np.int64)
    budget = np.zeros(n, np.int64)
    rung_fit = np.full((n, n_rungs), np.nan)
    rung_se = np.full((n, n_rungs), np.nan)
    curves: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    seconds = np.zeros(n)
    active = np.arange(n)
    out_params = state = None
    per_fold: dict[str, np.ndarray] = {}
    stats = None
    for r, steps in enumerate(budgets):
        if r > 0:
            if deadline is not None and deadline():
                break
            assert stats is not None and state is not None
            score = select_score(stats.mean[active], stats.se[active], select, z)
            keep = top_members(score, n_promoted(len(active), eta))
            if len(keep) == 0:
                break
            active, state = active[keep], _take(state, keep)
        cfg = dataclasses.replace(base, n_steps=steps - (budgets[r - 1] if r else 0))
        if on_rung is not None:
            on_rung(r, len(active), steps)
        t0 = time.perf_counter()
        res = train_population(
            jax.random.fold_in(key, r),
            archs if r == 0 else _take(archs, active),
            params if r == 0 else None,
            data,
            cfg,
            resume=None if r == 0 else state,
        )
        state = res.state
        m = {k: np.asarray(res.metrics[k]) for k in ("best_score", "best_step")}
        m["best_val_accuracy"] = np.asarray(res.metrics["best_val_accuracy"])
        m["best_val_loss"] = np.asarray(res.metrics["best_val_loss"])
        curve = np.asarray(
            res.metrics["val_accuracy" if accuracy else "val_loss"], np.float64
        )
        curve = curve if accuracy else -curve
        failed = np.asarray(res.failed, bool)
        seconds[active] += (time.perf_counter() - t0) / len(active)
        fold_scores = np.where(failed[:, None], np.nan, m["best_score"])
        if stats is None:
            stats = fitness_stats(fold_scores, n_val, accuracy)
            out_params = jax.tree.map(np.asarray, res.params)
            per_fold = {
                "failed": failed,
                "val_accuracy": m["best_val_accuracy"].astype(np.float64),
                "val_loss": m["best_val_loss"].astype(np.float64),
                "best_step": m["best_step"].astype(np.int64),
            }
        else:
            new = fitness_stats(fold_scores, n_val, accuracy)
            stats = type(stats)(
                *(_put(old, active, v) for old, v in zip(stats, new, strict=True))
            )
            out_params = jax.tree.map(
                lambda old, v, idx=active: _put(old, idx, np.asarray(v)),
                out_params,
                res.params,
            )
            per_fold["failed"] = _put(per_fold["failed"], active, failed)
            for name, src in (
                ("val_accuracy", "best_val_accuracy"),
                ("val_loss", "best_val_loss"),
                ("best_step", "best_step"),
            ):
                per_fold[name] = _put(per_fold[name], active, m[src])
        rung[active] = r
        budget[active] = steps
        rung_fit[active, r] = stats.mean[active]
        rung_se[active, r] = stats.se[active]
        logger.info(
            "rung %d/%d: %d member(s) trained to %d steps in %.0f s; best %.4f",
            r + 1,
            n_rungs,
            len(active),
            steps,
            time.perf_counter() - t0,
            float(np.nanmax(stats.mean[active]))
            if np.isfinite(stats.mean[active]).any()
            else float("nan"),
        )
        start = budgets[r - 1] if r else 0
        for j, i in enumerate(active):
            mean_curve = np.mean(curve[j], axis=0)  # [n_evals]
            for e, v in enumerate(mean_curve):
                curves[i].append((int(start + (e + 1) * cfg.eval_every), float(v)))
    assert stats is not None and out_params is not None
    return RungResult(
        params=out_params,
        rung=rung,
        budget_steps=budget,
        fitness=stats.mean,
        fitness_std=stats.std,
        fitness_se=stats.se,
        score=select_score(stats.mean, stats.se, select, z),
        rung_fitness=rung_fit,
        rung_se=rung_se,
        val_accuracy=per_fold["val_accuracy"],
        val_loss=per_fold["val_loss"],
        best_step=per_fold["best_step"],
        failed=per_fold["failed"],
        curves=tuple(tuple(c) for c in curves),
        seconds=seconds,
    )


def _put(old: np.ndarray, idx: np.ndarray, new: np.ndarray) -> np.ndarray:
    """A copy of ``old`` with rows ``idx`` replaced by ``new``."""
    out = np.array(old, copy=True)
    out[idx] = new
    return out
