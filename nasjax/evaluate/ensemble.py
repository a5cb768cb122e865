"""Ensemble selection (Caruana et al. 2004) on held-out predictions.

Greedy forward selection **with replacement**, as auto-sklearn and AutoGluon
use it: start from the empty ensemble; each round adds the candidate whose
inclusion gives the lowest loss of the averaged predictions (a candidate may
be added again, which raises its weight); the ensemble of the best round is
kept. The weights are the selection counts over the rounds kept, so they are
non-negative multiples of ``1 / rounds`` that sum to one, and the first
round alone is the best single candidate: the selected ensemble never has a
larger loss than any single candidate on the data it was selected on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from nasjax.evaluate.metrics import log_loss


class EnsembleSelection(NamedTuple):
    """The outcome of :func:`select_ensemble`.

    Attributes:
        counts: ``int64[M]`` times each candidate was selected (kept rounds).
        weights: ``float64[M]`` ``counts / counts.sum()``.
        loss: Loss of the selected ensemble on the selection data.
        curve: ``float64[rounds]`` loss after each round.
        best_round: Index of the kept round (``counts.sum() - 1``).
    """

    counts: np.ndarray
    weights: np.ndarray
    loss: float
    curve: np.ndarray
    best_round: int

    def predict(self, preds: np.ndarray) -> np.ndarray:
        """The ensemble's prediction: the weighted mean over the candidates'
        axis (``preds: float[M, n]`` P(up) -> ``[n]``, or ``float[M, n, C]``
        class probabilities -> ``[n, C]``)."""
        return np.tensordot(
            np.asarray(self.weights), np.asarray(preds, np.float64), axes=1
        )


def select_ensemble(
    y: np.ndarray,
    preds: np.ndarray,
    rounds: int = 20,
    metric: Callable[[np.ndarray, np.ndarray], float] = log_loss,
) -> EnsembleSelection:
    """Greedy ensemble selection with replacement.

    Args:
        y: ``int[n]`` labels of the selection data (a validation block).
        preds: ``float[M, n]`` each candidate's P(up) on the same samples,
            or ``float[M, n, C]`` class probabilities (then pass a
            multi-class ``metric``, e.g.
            :func:`nasjax.evaluate.classification.log_loss`).
        rounds: Selection rounds (the most members an ensemble may count,
            repeats included).
        metric: Loss to minimise, ``metric(y, p) -> float`` (default the
            log loss). Ties go to the lower candidate index.

    Returns:
        The selection (weights ``[M]``).

    Raises:
        ValueError: On no candidate, or fewer than one round.
    """
    preds = np.asarray(preds, np.float64)
    if preds.ndim not in (2, 3) or preds.shape[0] == 0:
        raise ValueError(
            f"preds must be float[M >= 1, n] or float[M >= 1, n, C], got shape "
            f"{preds.shape}"
        )
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    n_cand = preds.shape[0]
    total = np.zeros(preds.shape[1:])
    counts = np.zeros(n_cand, np.int64)
    history = np.zeros((rounds, n_cand), np.int64)
    curve = np.zeros(rounds)
    for r in range(rounds):
        losses = [metric(y, (total + preds[m]) / (r + 1)) for m in range(n_cand)]
        pick = int(np.argmin(losses))  # first of equal losses
        total += preds[pick]
        counts[pick] += 1
        history[r] = counts
        curve[r] = losses[pick]
    best = int(np.argmin(curve))
    kept = history[best]
    return EnsembleSelection(
        counts=kept,
        weights=kept / kept.sum(),
        loss=float(curve[best]),
        curve=curve,
        best_round=best,
    )
