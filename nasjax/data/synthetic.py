"""Synthetic OHLCV with a planted nonlinear cross-asset signal of known
Bayes-optimal directional accuracy.

Let ``f[t, s]`` be iid signs, +1 with probability ``1 - p`` and -1 with
probability ``p``, ``p = 0.5 - signal``. With two driver coins ``a != b`` the
1-bar log return of every coin s is::

    sign(r[t + 1, s]) = sign(r[t, a]) * sign(r[t, b]) * f[t + 1, s]

(an XOR of two other coins' last return signs, flipped with probability p),
with magnitudes ``|r| = vol_s * |N(0, 1)|`` independent of everything else.
Since ``f[t + 1, s]`` is independent of all data up to t, the Bayes-optimal
prediction of the direction from t to t+1 is ``sign(r[t, a] * r[t, b])`` and
its accuracy is exactly ``1 - p = 0.5 + signal`` (horizon 1). The signal is
invisible to linear models and to each coin's own history alone; it is
visible through the 1-bar returns of the driver coins (features
``ret_1@SYM`` of `FeatureConfig(cross_asset_returns=True)`).
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import numpy as np
import polars as pl

from nasjax.data.errors import DataError
from nasjax.data.schema import TIMESTAMP_DTYPE, timeframe_us


class SyntheticData(NamedTuple):
    """Output of `synthetic`.

    Attributes:
        frame: Long OHLCV frame (as `load_ohlcv`), sorted by (symbol, timestamp).
        bayes_accuracy: Bayes-optimal accuracy of the horizon-1 direction.
        flip_prob: p, the probability that a sign is flipped.
        drivers: Indices (a, b) of the driver coins in ``symbols``.
        symbols: Symbol names; index i is coin i.
        oracle: int8[T, S]: the Bayes prediction (1 up, 0 down) of the
            direction from bar t to t+1; -1 on the last bar.
    """

    frame: pl.DataFrame
    bayes_accuracy: float
    flip_prob: float
    drivers: tuple[int, int]
    symbols: tuple[str, ...]
    oracle: np.ndarray


def synthetic(
    seed: int,
    n_symbols: int = 4,
    n_steps: int = 10_000,
    signal: float = 0.1,
    *,
    drivers: tuple[int, int] = (0, 1),
    vol: float = 0.002,
    timeframe: str = "5m",
    start: dt.datetime = dt.datetime(2022, 1, 1, tzinfo=dt.UTC),
) -> SyntheticData:
    """Generates a synthetic multi-coin OHLCV panel (see module docstring).

    Args:
        seed: Seed of the numpy Generator (the only source of randomness).
        n_symbols: S >= 2 coins, named ``SYN00/USDT``, ``SYN01/USDT``, ...
        n_steps: T bars.
        signal: In [0, 0.5): Bayes accuracy is ``0.5 + signal``; 0 = no signal.
        drivers: The two driver coins (a, b), distinct, in ``range(S)``.
        vol: Typical 1-bar log-return scale (per coin scaled by up to +-35%).
        timeframe: Bar length, e.g. ``"5m"``.
        start: First candle open time (UTC).

    Returns:
        `SyntheticData`. Prices are positive, ``high >= max(open, close)``,
        ``low <= min(open, close)``, volumes positive, regular UTC grid.

    Raises:
        DataError: On invalid arguments.
    """
    a, b = drivers
    if not 0.0 <= signal < 0.5:
        raise DataError(f"signal must be in [0, 0.5), got {signal}")
    if n_symbols < 2 or a == b or not (0 <= a < n_symbols and 0 <= b < n_symbols):
        raise DataError(f"need n_symbols >= 2 and distinct drivers, got {drivers}")
    if n_steps < 2:
        raise DataError(f"n_steps must be >= 2, got {n_steps}")
    rng = np.random.default_rng(seed)
    p = 0.5 - signal
    flips = np.where(rng.random((n_steps, n_symbols)) < p, -1.0, 1.0)
    pred = np.ones(n_steps)  # pred[t] = sign(r[t, a] * r[t, b])
    pred[1:] = flips[1:, a] * flips[1:, b]
    pred[0] = np.sign(rng.standard_normal()) or 1.0
    signs = np.empty((n_steps, n_symbols))
    signs[0] = np.where(rng.random(n_symbols) < 0.5, -1.0, 1.0)
    signs[0, a], signs[0, b] = 1.0, pred[0]
    signs[1:] = pred[:-1, None] * flips[1:]
    scale = vol * np.exp(rng.uniform(-0.3, 0.3, n_symbols))
    mag = np.abs(rng.standard_normal((n_steps, n_symbols))) * scale + 1e-9
    r = signs * mag
    p0 = np.exp(rng.uniform(0.0, 7.0, n_symbols))
    close = p0 * np.exp(np.cumsum(r, axis=0))
    open_ = np.vstack([p0[None], close[:-1]])
    wick = np.abs(rng.standard_normal((2, n_steps, n_symbols))) * scale * 0.5
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = np.exp(rng.normal(10.0, 0.5, (n_steps, n_symbols)))
    symbols = tuple(f"SYN{i:02d}/USDT" for i in range(n_symbols))
    step = timeframe_us(timeframe)
    t0 = int(start.timestamp() * 1_000_000)
    ts = t0 + step * np.arange(n_steps, dtype=np.int64)
    frame = pl.DataFrame(
        {
            "timestamp": np.tile(ts, n_symbols),
            "symbol": np.repeat(np.asarray(symbols), n_steps),
            "open": open_.T.ravel(),
            "high": high.T.ravel(),
            "low": low.T.ravel(),
            "close": close.T.ravel(),
            "volume": volume.T.ravel(),
        }
    ).with_columns(
        pl.col("timestamp").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    )
    assert frame.schema["timestamp"] == TIMESTAMP_DTYPE
    oracle = np.broadcast_to((pred > 0).astype(np.int8)[:, None], signs.shape).copy()
    oracle[-1] = -1
    return SyntheticData(
        frame=frame,
        bayes_accuracy=0.5 + signal,
        flip_prob=p,
        drivers=(a, b),
        symbols=symbols,
        oracle=oracle,
    )
