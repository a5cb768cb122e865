"""Per-fold feature normalisation fitted on each fold's training samples only."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from nasjax.data.splits import Folds


class NormStats(NamedTuple):
    """Per-fold normalisation statistics.

    Attributes:
        mean: float32[K, F].
        std: float32[K, F] (1 where a feature is constant on the train part).
    """

    mean: np.ndarray
    std: np.ndarray


def fit_norm_stats(
    features: np.ndarray, label_mask: np.ndarray, folds: Folds
) -> NormStats:
    """Mean/std per fold over the training samples (label_mask True) only.

    Uses the folds' contiguous ``train_range`` blocks: per-time sums are
    computed once (float64) and summed over each block, so no per-fold copy
    of the feature tensor is made and rows outside a fold's train block
    cannot influence its statistics.

    Args:
        features: float32[T, S, F], finite everywhere (masked rows may be 0).
        label_mask: bool[T, S].
        folds: Folds (time-step or sample-id; only ``train_range`` is used).

    Returns:
        `NormStats` with float32[K, F] arrays.
    """
    s1, s2, n = time_sums(features, label_mask)
    return stats_from_sums(s1, s2, n, folds)


def time_sums(
    features: np.ndarray, label_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-time masked sums over symbols: ``(sum x, sum x**2, count)``.

    Sums over the (few) symbols in the feature dtype, then float64. Each time
    step's sums depend on that step only, so computing them block by block
    (as `nasjax.data.build_dataset` does while filling the tensor) gives the
    same numbers.

    Args:
        features: float32[T, S, F].
        label_mask: bool[T, S].

    Returns:
        float64[T, F], float64[T, F] and float64[T].
    """
    w = label_mask.astype(features.dtype)
    s1 = np.einsum("tsf,ts->tf", features, w).astype(np.float64)
    s2 = np.einsum("tsf,tsf,ts->tf", features, features, w).astype(np.float64)
    return s1, s2, w.sum(axis=1, dtype=np.float64)


def stats_from_sums(
    s1: np.ndarray, s2: np.ndarray, n: np.ndarray, folds: Folds
) -> NormStats:
    """`NormStats` from `time_sums` output, summed over each train range."""
    means, stds = [], []
    for a, b in folds.train_range:
        cnt = max(float(n[a:b].sum()), 1.0)
        mean = s1[a:b].sum(0) / cnt
        var = np.maximum(s2[a:b].sum(0) / cnt - mean**2, 0.0)
        std = np.sqrt(var)
        means.append(mean)
        stds.append(np.where(std > 1e-8, std, 1.0))
    return NormStats(
        mean=np.asarray(means, np.float32), std=np.asarray(stds, np.float32)
    )


def normalize(x: ArrayLike, mean: ArrayLike, std: ArrayLike) -> jnp.ndarray:
    """``(x - mean) * (1 / std)`` broadcasting over the trailing feature axis.

    A multiplication by the reciprocal, not a division: XLA rewrites a
    division by a constant into that product, so writing it out makes the
    jitted, the eager and the numpy paths (the classical models' features,
    :func:`nasjax.baselines.classical.lagged_features`) agree to the bit,
    which a tree split on a feature value needs.

    Apply after `gather_windows`, with one fold's stats (``stats.mean[k]``,
    ``stats.std[k]``), e.g. inside a vmap over folds.

    Args:
        x: float32[..., F].
        mean: float32[F].
        std: float32[F].

    Returns:
        float32[..., F].
    """
    return (jnp.asarray(x) - jnp.asarray(mean)) * (1.0 / jnp.asarray(std))
