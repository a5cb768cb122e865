"""Trading view of direction predictions: after-cost PnL of a simple rule."""

from __future__ import annotations

import numpy as np

#: 5-minute bars per year (24 * 12 * 365).
BARS_PER_YEAR_5M = 105_120
RULES: tuple[str, ...] = ("long_short", "long_flat")


def positions(p: np.ndarray, rule: str = "long_short") -> np.ndarray:
    """``float[n]`` positions: +1 when ``p > 0.5``; else -1 (long/short) or 0."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    up = np.asarray(p) > 0.5
    return np.where(up, 1.0, -1.0 if rule == "long_short" else 0.0)


def strategy_returns(
    p: np.ndarray,
    forward_return: np.ndarray,
    coin: np.ndarray,
    time: np.ndarray,
    *,
    cost_bps: float = 5.0,
    rule: str = "long_short",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bar net returns of an equal-weight portfolio over coins.

    Each coin holds ``positions(p)`` over the next bar (horizon-1 labels);
    trading ``|pos_t - pos_prev|`` units costs ``cost_bps / 1e4`` per unit
    (the first position of each coin is traded from flat). Bars are the
    distinct ``time`` values; a bar's return is the mean over its coins.

    Args:
        p: ``float[n]`` up probabilities.
        forward_return: ``float[n]`` log return over the label horizon.
        coin: ``int[n]`` coin index of each sample.
        time: ``int[n]`` time index of each sample.
        cost_bps: Cost per unit turnover, in basis points.
        rule: ``"long_short"`` or ``"long_flat"``.

    Returns:
        ``(times int[m], net float[m], turnover float[m])`` per distinct bar.
    """
    pos = positions(p, rule)
    coin, time = np.asarray(coin), np.asarray(time)
    order = np.lexsort((time, coin))
    prev = np.zeros_like(pos)
    pc, pp = coin[order], pos[order]
    same = np.r_[False, pc[1:] == pc[:-1]]
    prev_sorted = np.where(same, np.r_[0.0, pp[:-1]], 0.0)
    prev[order] = prev_sorted
    turnover = np.abs(pos - prev)
    net = pos * np.asarray(forward_return, np.float64) - turnover * cost_bps / 1e4
    times, inv = np.unique(time, return_inverse=True)
    counts = np.bincount(inv).astype(np.float64)
    return (
        times,
        np.bincount(inv, weights=net) / counts,
        np.bincount(inv, weights=turnover) / counts,
    )


def max_drawdown(net: np.ndarray) -> float:
    """Largest peak-to-trough loss of ``exp(cumsum(net))`` (a fraction >= 0)."""
    equity = np.exp(np.concatenate([[0.0], np.cumsum(net)]))
    peak = np.maximum.accumulate(equity)
    return float(np.max(1.0 - equity / peak))


def trading_summary(
    net: np.ndarray, turnover: np.ndarray, bars_per_year: int = BARS_PER_YEAR_5M
) -> dict[str, float]:
    """Cumulative return, annualised Sharpe, max drawdown and mean turnover."""
    net = np.asarray(net, np.float64)
    sd = net.std(ddof=1) if len(net) > 1 else 0.0
    sharpe = float(net.mean() / sd * np.sqrt(bars_per_year)) if sd > 0 else 0.0
    return {
        "cumulative_return": float(np.expm1(net.sum())),
        "sharpe": sharpe,
        "max_drawdown": max_drawdown(net),
        "turnover": float(np.mean(turnover)) if len(turnover) else 0.0,
        "n_bars": len(net),
    }
