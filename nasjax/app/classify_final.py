"""The final fit of a classification answer: every fold model trained on.

On a UCR-sized TRAIN set the delivered models are K-fold models (one per
validation fold; :mod:`nasjax.app.classify_ensemble`). The final fit trains
each of them further, **from its searched weights**, on its own fold's
training instances with the ``evaluation.final_fit`` budget, early-stopping
on the validation loss of the fold it never trains on. Its out-of-fold
predictions therefore stay out of fold, and the ensemble selection that
follows judges the models that are delivered. A fold model whose kept step
is 0 keeps its searched weights (the final fit could not improve on them).

The architectures of one bucket train together (one population per fold);
fold ``k`` trains with ``fold_in(key, k)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from nasjax.app.answer import final_train_config
from nasjax.app.config import AppConfig
from nasjax.baselines.fit import ArchFit, fit_archs
from nasjax.data import FoldedData
from nasjax.graph.arch import Arch
from nasjax.typing import Key, Params

logger = logging.getLogger(__name__)


class FoldFit(NamedTuple):
    """One architecture's K fold models after the final fit.

    Attributes:
        fold_params: The kept params of every fold, leaves ``[K, ...]``.
        folds: The :class:`~nasjax.baselines.fit.ArchFit` of every fold
            (their ``params`` are those of ``fold_params``).
    """

    fold_params: Params
    folds: tuple[ArchFit, ...]

    def record(self) -> dict[str, Any]:
        """JSON-ready description: per-fold kept steps and budgets, whether
        every fold kept its searched weights."""
        recs = [f.record() for f in self.folds]
        return {
            "start": "searched",
            "best_step": [r["best_step"] for r in recs],
            "steps_trained": [r["steps_trained"] for r in recs],
            "budget_steps": recs[0]["budget_steps"] if recs else 0,
            "best_val_loss": [r["best_val_loss"] for r in recs],
            "best_val_accuracy": [r["best_val_accuracy"] for r in recs],
            "failed": any(r["failed"] for r in recs),
            "kept_start": all(r["kept_start"] for r in recs),
            "folds_kept_start": sum(r["kept_start"] for r in recs),
        }


def _fold(params: Params, k: int) -> Params:
    return jax.tree.map(lambda x: np.asarray(x)[k], params)


def final_fit_folds(
    key: Key,
    archs: Sequence[Arch],
    fold_params: Sequence[Params],
    data: FoldedData,
    cfg: AppConfig,
) -> list[FoldFit]:
    """Train every architecture's K fold models on, from their searched weights.

    Args:
        key: PRNG key (fold ``k`` trains with ``fold_in(key, k)``).
        archs: The architectures (any buckets; one population per bucket).
        fold_params: Their searched params, leaves ``[K, ...]``, in order.
        data: The search's data (folds within TRAIN).
        cfg: The run's configuration (``evaluation.final_fit`` budget).

    Returns:
        One :class:`FoldFit` per architecture, in order. A failed fold run
        (a non-finite loss) keeps that fold's searched weights.
    """
    if len(archs) != len(fold_params):
        raise ValueError(f"{len(fold_params)} fold params for {len(archs)} archs")
    tc = final_train_config(cfg)
    n_folds = int(data.folds.train.shape[0])
    buckets: dict[Any, list[int]] = {}
    for i, arch in enumerate(archs):
        buckets.setdefault(arch.spec, []).append(i)
    fits: list[list[ArchFit]] = [[] for _ in archs]
    for k in range(n_folds):
        for members in buckets.values():
            got = fit_archs(
                jax.random.fold_in(key, k),
                [archs[i] for i in members],
                data,
                fold=k,
                cfg=tc,
                params=[_fold(fold_params[i], k) for i in members],
            )
            for i, fit in zip(members, got, strict=True):
                if fit.failed:
                    logger.warning(
                        "final fit: fold %d of architecture %d failed (non-finite "
                        "loss); its searched weights are kept",
                        k,
                        i,
                    )
                    fit = fit._replace(params=_fold(fold_params[i], k), best_step=0)
                fits[i].append(fit)
    out = []
    for folds in fits:
        params = [f.params for f in folds]
        stacked = jax.tree.map(lambda *xs: np.stack(list(map(np.asarray, xs))), *params)
        out.append(FoldFit(stacked, tuple(folds)))
    kept = sum(f.record()["folds_kept_start"] for f in out)
    logger.info(
        "final fit of %d architectures x %d folds (%d steps at most): %d fold "
        "models kept their searched weights",
        len(archs),
        n_folds,
        tc.n_steps,
        kept,
    )
    return out
