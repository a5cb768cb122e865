"""Moving-block bootstrap: confidence intervals and a paired model test.

Samples are assumed in time order (sample ids ``t * S + s`` sorted), so a
block of consecutive samples covers consecutive bars of every coin and keeps
their serial and cross-sectional dependence.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def default_block(n: int) -> int:
    """Block length ``ceil(n ** (1/3))`` (at least 1)."""
    return max(1, int(np.ceil(n ** (1.0 / 3.0))))


def block_indices(
    rng: np.random.Generator, n: int, block: int, n_boot: int
) -> np.ndarray:
    """``int64[n_boot, n]`` resampled indices of a moving-block bootstrap.

    Each row concatenates ``ceil(n / block)`` blocks of ``block`` consecutive
    indices with uniformly drawn starts in ``[0, n - block]``, cut to ``n``.
    """
    block = int(min(max(block, 1), n))
    n_blocks = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(n_boot, n_blocks))
    idx = starts[:, :, None] + np.arange(block)[None, None, :]
    return idx.reshape(n_boot, -1)[:, :n]


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y: np.ndarray,
    p: np.ndarray,
    *,
    block: int | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Point estimate and percentile ``1 - alpha`` CI of ``metric(y, p)``.

    Returns:
        ``(estimate, low, high)``.
    """
    y, p = np.asarray(y), np.asarray(p)
    n = len(y)
    est = metric(y, p)
    if n < 2:
        return est, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = block_indices(rng, n, block or default_block(n), n_boot)
    stats = np.array([metric(y[i], p[i]) for i in idx])
    stats = stats[np.isfinite(stats)]
    if len(stats) == 0:
        return est, float("nan"), float("nan")
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return est, float(lo), float(hi)


def paired_test(
    y: np.ndarray,
    p_a: np.ndarray,
    p_b: np.ndarray,
    *,
    block: int | None = None,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """Block-bootstrap test of accuracy(A) - accuracy(B) on the same bars.

    The p-value is two-sided: twice the smaller tail mass of the centred
    bootstrap distribution beyond the observed difference (i.e. of the
    bootstrap differences on the other side of 0), capped at 1.

    Returns:
        ``{"diff", "low", "high", "p_value"}``.
    """
    y = np.asarray(y)
    hit_a = ((np.asarray(p_a) > 0.5) == y).astype(np.float64)
    hit_b = ((np.asarray(p_b) > 0.5) == y).astype(np.float64)
    d = hit_a - hit_b
    n = len(d)
    diff = float(d.mean())
    rng = np.random.default_rng(seed)
    idx = block_indices(rng, n, block or default_block(n), n_boot)
    boot = d[idx].mean(axis=1)
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    centred = boot - diff
    p_value = float(min(1.0, 2 * np.mean(np.abs(centred) >= abs(diff))))
    return {"diff": diff, "low": float(lo), "high": float(hi), "p_value": p_value}
