"""Multi-fidelity rungs and noise-aware scores (host-side, pure numpy).

A round of a search is successive halving inside the round (Hyperband /
ASHA style): every member is trained to the rung-0 budget, the best
``ceil(n / eta)`` by a noise-aware score continue training (weights and
optimiser state carried, per fold) to the next rung's budget, and so on up
to the top rung, whose budget is the full training length. These helpers
compute the schedule and the scores; the driver (``nasjax.app.loop``)
trains.

Fitness carries its uncertainty: the mean over the walk-forward folds of the
validation score, its fold spread (``std``) and a standard error ``se``
that is the larger of the fold spread's (``std / sqrt(K)``) and, for
accuracy, the binomial sampling error of the validation samples
(``sqrt(sum_k p_k (1 - p_k) / n_k) / K``): with three folds, the fold
spread alone can come out near zero by chance. A lower confidence bound
``mean - z * se`` ranks members without rewarding luck: a member whose high
mean comes with a large spread does not beat a consistent one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

SELECT_RULES: tuple[str, ...] = ("lcb", "mean")
"""Rules ranking members: ``lcb`` (``mean - z * se``) or ``mean``."""


def rung_budgets(top_steps: int, eta: int, n_rungs: int, every: int) -> tuple[int, ...]:
    """Total training steps of each rung (increasing, multiples of ``every``).

    Rung ``r`` of ``R = n_rungs`` gets ``top_steps / eta ** (R - 1 - r)``
    steps rounded up to a multiple of ``every``; rungs that round to the same
    budget are merged, so the last budget is always ``top_steps`` (rounded
    up).

    Args:
        top_steps: Budget of the top rung (the full training length).
        eta: Reduction factor (>= 2): each rung trains ``eta`` times longer
            and keeps ``1 / eta`` of the members.
        n_rungs: Rungs (1: no multi-fidelity).
        every: Steps between evaluations (the budgets' granularity).

    Returns:
        The budgets, strictly increasing.
    """
    if top_steps < 1 or every < 1 or n_rungs < 1 or eta < 2:
        raise ValueError(
            f"rung_budgets needs top_steps, every, n_rungs >= 1 and eta >= 2, got "
            f"{top_steps=}, {every=}, {n_rungs=}, {eta=}"
        )
    out: list[int] = []
    for r in range(n_rungs):
        steps = top_steps / eta ** (n_rungs - 1 - r)
        b = max(1, math.ceil(steps / every - 1e-9)) * every
        if not out or b > out[-1]:
            out.append(b)
    return tuple(out)


def n_promoted(n: int, eta: int) -> int:
    """Members of ``n`` that continue to the next rung: ``ceil(n / eta)``."""
    return max(1, math.ceil(n / eta)) if n > 0 else 0


class FitnessStats(NamedTuple):
    """A fitness with its uncertainty, ``float64[P]`` each.

    Attributes:
        mean: Mean validation score over the folds (NaN if any fold failed).
        std: Standard deviation over the folds (``ddof=1``; 0 for one fold).
        se: Standard error of ``mean`` (see the module docstring).
    """

    mean: np.ndarray
    std: np.ndarray
    se: np.ndarray


def fitness_stats(
    scores: np.ndarray, n_val: np.ndarray | None = None, accuracy: bool = True
) -> FitnessStats:
    """The mean, fold spread and standard error of per-fold scores.

    Args:
        scores: ``float[P, K]`` validation score per member and fold (NaN:
            failed).
        n_val: ``int[K]`` validation samples per fold (for the binomial
            error of an accuracy); None: fold spread only.
        accuracy: The scores are accuracies (``p (1 - p) / n`` applies).

    Returns:
        :class:`FitnessStats`.
    """
    s = np.asarray(scores, np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be [P, K], got shape {s.shape}")
    k = s.shape[1]
    with np.errstate(invalid="ignore"):
        mean = s.mean(axis=1)
        std = s.std(axis=1, ddof=1) if k > 1 else np.zeros(s.shape[0])
        var = std**2 / k
        if accuracy and n_val is not None:
            n = np.maximum(np.asarray(n_val, np.float64).reshape(1, k), 1.0)
            p = np.clip(s, 0.0, 1.0)
            var = np.maximum(var, np.sum(p * (1 - p) / n, axis=1) / k**2)
    se = np.sqrt(var)
    bad = ~np.isfinite(mean)
    return FitnessStats(
        np.where(bad, np.nan, mean),
        np.where(bad, np.nan, std),
        np.where(bad, np.nan, se),
    )


def select_score(
    mean: np.ndarray, se: np.ndarray, rule: str = "lcb", z: float = 1.0
) -> np.ndarray:
    """The score members are ranked by (higher is better; NaN: failed).

    Args:
        mean: ``float[P]`` fitness.
        se: ``float[P]`` its standard error.
        rule: ``"lcb"`` (``mean - z * se``) or ``"mean"``.
        z: Width of the lower confidence bound in standard errors.
    """
    if rule not in SELECT_RULES:
        raise ValueError(f"select rule must be one of {SELECT_RULES}, got {rule!r}")
    mean = np.asarray(mean, np.float64)
    if rule == "mean":
        return mean
    return mean - z * np.nan_to_num(np.asarray(se, np.float64), nan=0.0)


def top_members(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest finite scores, best first (ties: the
    lower index first); fewer when fewer are finite."""
    score = np.asarray(score, np.float64)
    ok = np.flatnonzero(np.isfinite(score))
    order = ok[np.argsort(-score[ok], kind="stable")]
    return order[:k]
