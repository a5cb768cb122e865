"""The answer of a price-direction search: final fit, ensemble, calibration.

After the search, on the last fold (training ids: everything before the test
period, purge and embargo kept). Its validation block is split in time
(:func:`stop_and_select`, ``evaluation.selection_fraction``): the older part
stops the final fits, the recent part (the **selection block**) selects,
chooses and calibrates, so the answer is not picked on the block its weights
were stopped on. The search itself never sees the selection block
(:func:`nasjax.app.run.search_data`): the searched architectures were not
ranked on it, so they meet the classical candidates there on equal terms.

1. **final fit** (:func:`final_fit`): the winner and the next ``top_k - 1``
   architectures continue from their searched weights of the last fold
   and train to convergence, early-stopping on the validation loss of the
   older part (``evaluation.final_fit``);
2. **candidates** (:func:`candidates`): their P(up) on the selection block
   and the test ids, plus the portable classical candidates
   (``evaluation.ensemble.classical``: logistic regression as coefficients,
   the GBDT as tree arrays), fitted on the same training ids;
3. **ensemble selection** (:func:`nasjax.evaluate.ensemble.select_ensemble`)
   on the selection block's log loss;
4. the **answer** is the single best architecture or the ensemble, whichever
   has the lower selection-block log loss (ties: the single arch), each with
   a **calibration** map fitted on its selection-block predictions
   (:func:`nasjax.evaluate.calibrate.fit_calibration`).

No step reads a test label; test P(up) are computed once, for the report.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from nasjax.app.config import AppConfig
from nasjax.app.finish import Finalist
from nasjax.app.members import Member
from nasjax.baselines.classical import logistic_model
from nasjax.baselines.deep import DEEP_ARCHS
from nasjax.baselines.fit import ArchFit, fit_archs
from nasjax.baselines.registry import CLASSIFICATION_ONLY, default_spec, predict_arch
from nasjax.baselines.trees import gbdt_trees
from nasjax.data import FoldedData
from nasjax.data.splits import split_last_validation
from nasjax.evaluate.bootstrap import bootstrap_ci
from nasjax.evaluate.calibrate import Calibration, fit_calibration
from nasjax.evaluate.ensemble import EnsembleSelection, select_ensemble
from nasjax.evaluate.metrics import accuracy, brier, log_loss
from nasjax.train.config import TrainConfig
from nasjax.train.data import split_ids
from nasjax.typing import Key

logger = logging.getLogger("nasjax.run")

PORTABLE_CLASSICAL: tuple[str, ...] = ("logistic", "gbdt")
"""Classical baselines that can be ensemble members (stored as arrays)."""


class Candidate(NamedTuple):
    """A model offered to ensemble selection.

    Attributes:
        name: The arch's fingerprint, or the baseline's name.
        member: The model as an answer member (weight 1).
        val: ``float32[n_val]`` P(up) on the selection block.
        test: ``float32[n_test]`` P(up) on the test ids.
        fit: How it was fitted (:meth:`ArchFit.record`; None if classical).
    """

    name: str
    member: Member
    val: np.ndarray
    test: np.ndarray
    fit: dict[str, Any] | None


def stop_and_select(data: FoldedData, cfg: AppConfig) -> tuple[FoldedData, FoldedData]:
    """The data of the final fits and the data of the selection.

    Both are ``data`` with the last validation block cut in time by
    :func:`~nasjax.data.splits.split_last_validation`
    (``evaluation.selection_fraction`` of its bars in the recent part, a gap
    of the label horizon between): ``(older part, recent part)``. With a
    fraction of 0, or a block too short to split (logged), both are
    ``data``.
    """
    frac = cfg.evaluation.selection_fraction
    if frac == 0:
        return data, data
    ds, folds, norm = data
    try:
        older, recent = split_last_validation(
            folds, int(ds.features.shape[1]), frac, int(ds.meta.horizon)
        )
    except ValueError as e:
        logger.warning("selection block: %s; one block stops and selects", e)
        return data, data
    return FoldedData(ds, older, norm), FoldedData(ds, recent, norm)


def final_train_config(cfg: AppConfig) -> TrainConfig:
    """The training of the final fits (``train`` when the final fit is off)."""
    ff = cfg.evaluation.final_fit
    return ff.train_config(cfg.train) if ff.enabled else cfg.train


def final_fit(
    key: Key, finalists: Sequence[Finalist], data: FoldedData, cfg: AppConfig
) -> list[ArchFit]:
    """Fit the finalists on the last fold, from their searched weights.

    With ``evaluation.final_fit.enabled``, every finalist trains (together,
    one population) on the last fold's training ids with the final-fit budget,
    early-stopping on the validation loss of its validation block; a
    finalist without searched weights starts afresh. Without it, the searched
    weights are kept as they are (finalists without any are dropped).

    Returns:
        One :class:`ArchFit` per (kept) finalist, in order.
    """
    last = int(data.folds.train.shape[0]) - 1
    starts = [
        None
        if f.fold_params is None
        else jax.tree.map(lambda x: np.asarray(x)[last], f.fold_params)
        for f in finalists
    ]
    if cfg.evaluation.final_fit.enabled:
        tc = final_train_config(cfg)
        return fit_archs(key, [f.arch for f in finalists], data, cfg=tc, params=starts)
    return [
        ArchFit(
            params=p,
            best_step=int(f.row.get(f"best_step_fold{last}", -1)),
            steps_trained=0,
            budget_steps=0,
            best_val_loss=float(f.row.get(f"val_loss_fold{last}", np.nan)),
            best_val_accuracy=float(f.row.get(f"val_accuracy_fold{last}", np.nan)),
            failed=False,
            from_scratch=False,
        )
        for f, p in zip(finalists, starts, strict=True)
        if p is not None
    ]


def candidates(
    finalists: Sequence[Finalist],
    fits: Sequence[ArchFit],
    data: FoldedData,
    cfg: AppConfig,
    key: Key | None = None,
) -> tuple[list[Candidate], dict[str, str]]:
    """The ensemble candidates: final-fitted archs and portable classical
    models, with their validation-block and test P(up).

    The classical ones are fitted on the last fold's training ids; the GBDT
    takes its seed from ``key`` (default ``jax.random.key(cfg.seed)``).

    Returns:
        ``(candidates, skipped)``: the winner first; ``skipped`` names the
        classical candidates left out and why.
    """
    ds, folds, norm = data
    last = int(folds.train.shape[0]) - 1
    _, val_ids, test_ids = split_ids(folds, "test")
    bs = cfg.train.eval_batch_size
    out = []
    for f, fit in zip(finalists, fits, strict=False):
        fp = f.row["fingerprint"]
        out.append(
            Candidate(
                name=fp,
                member=Member(1.0, f.arch, fit.params, name=fp),
                val=predict_arch(f.arch, fit.params, data, split="val", batch_size=bs),
                test=predict_arch(f.arch, fit.params, data, batch_size=bs),
                fit=fit.record(),
            )
        )
    skipped: dict[str, str] = {}
    ens = cfg.evaluation.ensemble
    for name in ens.classical if ens.enabled else ():
        if name in CLASSIFICATION_ONLY:
            skipped[name] = "a classification candidate (whole series) only"
            continue
        if name not in PORTABLE_CLASSICAL:
            skipped[name] = (
                "not portable: only models stored as arrays "
                f"({', '.join(PORTABLE_CLASSICAL)}) can be exported as members"
            )
            continue
        if name == "gbdt":
            k = jax.random.key(cfg.seed) if key is None else key
            trees = gbdt_trees(k, data)
            member = Member(1.0, trees=trees, name=name)
            val = trees.predict(data, val_ids, last)
            test = trees.predict(data, test_ids, last)
        else:
            lm = logistic_model(data)
            member = Member(1.0, coef=lm.coef, intercept=lm.intercept, name=name)
            val = lm.predict(ds, val_ids, norm, last)
            test = lm.predict(ds, test_ids, norm, last)
        out.append(Candidate(name, member, val, test, fit=None))
    return out, skipped


class Delivered(NamedTuple):
    """One deliverable (the single best arch, or the ensemble).

    Attributes:
        members: Its weighted members.
        calibration: Its calibration (fitted on the selection block).
        val: ``float64[n_val]`` uncalibrated P(up) on the selection block.
        test_raw: ``float64[n_test]`` uncalibrated P(up) on the test ids.
    """

    members: tuple[Member, ...]
    calibration: Calibration
    val: np.ndarray
    test_raw: np.ndarray


def deliverables(
    cands: Sequence[Candidate], y_val: np.ndarray, cfg: AppConfig
) -> tuple[Delivered, Delivered | None, EnsembleSelection | None]:
    """The single best arch (``cands[0]``) and the selected ensemble.

    Returns:
        ``(best, ensemble, selection)``; the last two None when the ensemble
        is off.
    """
    method = cfg.evaluation.calibration
    top = cands[0]
    val0 = np.asarray(top.val, np.float64)
    best = Delivered(
        (top.member,),
        fit_calibration(y_val, val0, method),
        val0,
        np.asarray(top.test, np.float64),
    )
    ens = cfg.evaluation.ensemble
    if not ens.enabled:
        return best, None, None
    vals = np.stack([c.val for c in cands])
    sel = select_ensemble(y_val, vals, ens.rounds)
    members = tuple(
        dataclasses.replace(c.member, weight=float(w))
        for c, w in zip(cands, sel.weights, strict=True)
        if w > 0
    )
    val = sel.predict(vals)
    ensemble = Delivered(
        members,
        fit_calibration(y_val, val, method),
        val,
        sel.predict(np.stack([c.test for c in cands])),
    )
    return best, ensemble, sel


def choose(best: Delivered, ensemble: Delivered | None, y_val: np.ndarray) -> str:
    """``"ensemble"`` if its validation log loss is lower, else ``"best"``."""
    if ensemble is None:
        return "best"
    better = log_loss(y_val, ensemble.val) < log_loss(y_val, best.val) - 1e-12
    return "ensemble" if better else "best"


def deep_baselines(
    key: Key, names: Sequence[str], data: FoldedData, cfg: AppConfig
) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """The deep baselines trained from scratch with the final-fit budget.

    Returns:
        ``name -> (float32[n_test] P(up), fit record)``.
    """
    out = {}
    tc = final_train_config(cfg)
    bs = cfg.train.eval_batch_size
    # One at a time: a population of three different deep archs would run
    # every member through the union of their ops.
    for j, name in enumerate(n for n in names if n in DEEP_ARCHS):
        arch = DEEP_ARCHS[name](default_spec(data.dataset))
        (fit,) = fit_archs(jax.random.fold_in(key, j), [arch], data, cfg=tc)
        p = predict_arch(arch, fit.params, data, batch_size=bs)
        out[name] = (p, fit.record())
    return out


def kept_start_warnings(records: dict[str, dict[str, Any] | None]) -> list[str]:
    """A warning (also logged) per fitted model whose kept step is 0."""
    out = []
    for name, rec in records.items():
        if rec is None or not rec.get("kept_start"):
            continue
        what = (
            "is UNTRAINED (its fresh initial weights were kept)"
            if rec.get("untrained")
            else "never improved on its searched weights (kept step 0)"
        )
        msg = f"final fit: {name} {what}"
        logger.warning(msg)
        out.append(msg)
    return out


def validation_block(
    y: np.ndarray, p: np.ndarray, cal: Calibration, n_boot: int, seed: int
) -> dict[str, Any]:
    """Log loss and accuracy (95% block-bootstrap CIs) on the selection
    block, and the calibrated log loss (fitted on the same block)."""
    out: dict[str, Any] = {}
    for name, fn in (("log_loss", log_loss), ("accuracy", accuracy)):
        v, lo, hi = bootstrap_ci(fn, y, p, n_boot=n_boot, seed=seed)
        out[name] = {"value": v, "low": lo, "high": hi}
    out["log_loss_calibrated"] = log_loss(y, cal.apply(p))
    out["n"] = len(y)
    return out


def calibration_record(
    cal: Calibration,
    y_test: np.ndarray,
    raw: np.ndarray,
    calibrated: np.ndarray,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """The calibration map and the test log loss and Brier score before and
    after it (95% block-bootstrap CIs)."""
    out: dict[str, Any] = {**cal.to_dict(), "fitted_on": "selection block"}
    for name, fn in (("log_loss", log_loss), ("brier", brier)):
        entry = {}
        for when, p in (("before", raw), ("after", calibrated)):
            v, lo, hi = bootstrap_ci(fn, y_test, p, n_boot=n_boot, seed=seed)
            entry[when] = {"value": v, "low": lo, "high": hi}
        out[f"test_{name}"] = entry
    return out
