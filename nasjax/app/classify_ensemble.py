"""The answer of a classification search: an ensemble selected out of fold.

A UCR-sized TRAIN set (tens of instances) cannot spare a selection block, so
the candidates are judged as AutoGluon's bagged models are: each candidate
is a K-fold model (one model per validation fold, trained without that
fold), its **out-of-fold** (OOF) predictions cover every TRAIN instance once,
and greedy ensemble selection with replacement (Caruana et al. 2004,
:func:`nasjax.evaluate.ensemble.select_ensemble`) minimises the multi-class
log loss of the averaged OOF probabilities. On test, each candidate predicts
with the mean of its K fold models, and the ensemble with the selected
weights.

Candidates: the search's best architecture and its runners-up whose fold
params the searcher kept (their fold models as searched, no retraining), and
the classical models ``evaluation.ensemble.classical`` names, one fit per
fold: ``logistic`` (multinomial logistic regression on the flattened series)
and ``minirocket`` (MiniRocket features and a ridge classifier whose
temperature is fitted on its own leave-one-out scores,
:mod:`nasjax.baselines.minirocket`). The answer then never trails a strong
classical model by more than what selection on out-of-fold predictions
costs; ``ensemble.members`` says how much of it is search and how much is
classical.
The OOF loss of the selected ensemble is optimistic (it was minimised on
those predictions); the test metrics are not.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from nasjax.app.config import AppConfig
from nasjax.app.finish import BestEvaluation
from nasjax.baselines import classification as cb
from nasjax.data import FoldedData
from nasjax.evaluate.classification import log_loss
from nasjax.evaluate.ensemble import EnsembleSelection, select_ensemble
from nasjax.graph.arch import Arch
from nasjax.train import split_ids
from nasjax.typing import Key, Params

CLASSICAL: tuple[str, ...] = ("logistic", "minirocket")
"""Classical candidates of a classification ensemble."""


class ClassCandidate(NamedTuple):
    """One K-fold candidate of the ensemble.

    Attributes:
        name: Fingerprint of an architecture, or a classical model's name.
        kind: ``"arch"`` or the classical model's name.
        oof: ``float32[n_train, C]`` out-of-fold class probabilities, rows in
            the order of :func:`oof_ids`.
        test: ``float32[n_test, C]`` the mean of the fold models' test
            probabilities.
        arch: The architecture (None for a classical model).
        fold_params: Its fold params, leaves ``[K, ...]`` (None for a
            classical model).
    """

    name: str
    kind: str
    oof: np.ndarray
    test: np.ndarray
    arch: Arch | None = None
    fold_params: Params | None = None


def oof_ids(data: FoldedData) -> np.ndarray:
    """``int32[n_train]`` TRAIN instance ids in out-of-fold order (fold 0's
    validation ids, then fold 1's, ...)."""
    folds = data.folds
    k = int(folds.train.shape[0])
    return np.concatenate([split_ids(folds, "val", f)[1] for f in range(k)])


def classical_candidate(name: str, data: FoldedData, key: Key) -> ClassCandidate:
    """A classical model (``logistic`` or ``minirocket``) as a K-fold model:
    fold ``k``'s fit predicts its own validation instances and the test
    instances.

    Raises:
        ValueError: If ``name`` is not in :data:`CLASSICAL`.
    """
    if name not in CLASSICAL:
        raise ValueError(f"{name!r} is not one of {CLASSICAL}")
    ds, folds = data.dataset, data.folds
    test = cb.test_ids(folds)
    oof, tests = [], []
    for f in range(int(folds.train.shape[0])):
        train, val, _ = split_ids(folds, "val", f)
        both_ids = np.concatenate([val, test])
        if name == "logistic":
            both = cb.logistic_ids(ds, train, both_ids)
        else:
            both = cb.minirocket_ids(jax.random.fold_in(key, f), ds, train, both_ids)
        oof.append(both[: len(val)])
        tests.append(both[len(val) :])
    return ClassCandidate(
        name,
        name,
        np.concatenate(oof).astype(np.float32),
        np.mean(tests, axis=0).astype(np.float32),
    )


def candidates(
    best: BestEvaluation, data: FoldedData, cfg: AppConfig
) -> tuple[list[ClassCandidate], dict[str, str]]:
    """The ensemble's candidates, the best architecture first.

    Returns:
        ``(candidates, skipped)``: ``skipped`` names the runners-up and
        classical models left out, with the reason.
    """
    bs = cfg.train.eval_batch_size
    ds, folds, norm = data
    test = cb.test_ids(folds)
    want = oof_ids(data)
    out: list[ClassCandidate] = []
    skipped: dict[str, str] = {}
    entries = [(best.row, best.arch, best.fold_params), *best.runners_up]
    for row, arch, params in entries:
        fp = row["fingerprint"]
        if params is None:
            skipped[fp] = "the searcher kept no fold params of this architecture"
            continue
        ids, oof, _ = cb.out_of_fold(arch, params, data, bs)
        assert np.array_equal(ids, want)
        proba = cb.predict_ensemble(arch, params, ds, norm, test, bs)
        out.append(ClassCandidate(fp, "arch", oof, proba, arch, params))
    ens = cfg.evaluation.ensemble
    key = jax.random.key(cfg.seed)
    for name in ens.classical if ens.enabled else ():
        if name in CLASSICAL:
            out.append(classical_candidate(name, data, key))
        else:
            skipped[name] = (
                f"not a classification candidate (those are: {', '.join(CLASSICAL)})"
            )
    return out, skipped


def select(
    cands: list[ClassCandidate], data: FoldedData, rounds: int
) -> EnsembleSelection:
    """Greedy selection with replacement on the OOF multi-class log loss."""
    y = cb.labels_of(data.dataset, oof_ids(data))
    return select_ensemble(y, np.stack([c.oof for c in cands]), rounds, log_loss)


def ensemble_record(
    cands: list[ClassCandidate],
    selection: EnsembleSelection,
    data: FoldedData,
    skipped: dict[str, str],
) -> dict[str, Any]:
    """JSON record of the selection: members with weights, every candidate's
    OOF log loss and accuracy, the ensemble's, and what was left out."""
    y = cb.labels_of(data.dataset, oof_ids(data))

    def scores(p: np.ndarray) -> dict[str, float]:
        return {
            "oof_log_loss": log_loss(y, p),
            "oof_accuracy": float(np.mean(np.argmax(p, axis=1) == y)),
        }

    oof = selection.predict(np.stack([c.oof for c in cands]))
    return {
        "members": [
            {"name": c.name, "kind": c.kind, "weight": float(w)}
            for c, w in zip(cands, selection.weights, strict=True)
            if w > 0
        ],
        "candidates": [
            {"name": c.name, "kind": c.kind, **scores(c.oof)} for c in cands
        ],
        **scores(oof),
        "rounds_kept": selection.best_round + 1,
        "skipped": skipped,
        "selected_on": (
            "out-of-fold predictions of every TRAIN instance (each fold's model "
            "predicts the fold it did not train on); optimistic, the test "
            "metrics are not"
        ),
    }
