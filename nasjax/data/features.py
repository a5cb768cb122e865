"""Causal per-coin features: a feature at bar t uses only bars <= t."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from itertools import pairwise

import numpy as np
import polars as pl

from nasjax.data.errors import DataError

_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Which features `compute_features` builds (all causal).

    Attributes:
        return_lags: Log returns ``log(close_t / close_{t-L})`` for each L (bars).
        vol_windows: Realised volatility: rolling std of 1-bar log returns.
        hl_range: ``log(high / low)`` of the bar.
        volume_window: Rolling z-score window of ``log1p(volume)``; 0 disables.
        market_return: Equal-weight mean of 1-bar log returns over the
            symbols that have one at that bar (absent coins of a ragged panel
            are left out).
        reference_symbol: Also the 1-bar log return of this symbol (e.g. BTC)
            for every coin; skipped when the symbol is absent or None, and
            when ``cross_asset_returns`` already includes it. 0 at bars where
            that symbol has no return.
        cross_asset_returns: The 1-bar log return of EVERY symbol as features of
            every coin (``ret_1@SYM``), so a pooled per-coin model can see
            cross-asset structure. Adds one feature per symbol; 0 at bars
            where SYM has no return (not listed yet, delisted, in a gap).
        calendar: Time-of-day and day-of-week sin/cos encodings.
        symbol_onehot: One-hot symbol id features (``is@SYM``).
    """

    return_lags: tuple[int, ...] = (1, 3, 12)
    vol_windows: tuple[int, ...] = (12, 48)
    hl_range: bool = True
    volume_window: int = 48
    market_return: bool = True
    reference_symbol: str | None = "BTC/USDT"
    cross_asset_returns: bool = True
    calendar: bool = True
    symbol_onehot: bool = False

    @classmethod
    def minimal(
        cls,
        return_lags: tuple[int, ...] = (1,),
        vol_windows: tuple[int, ...] = (6,),
    ) -> FeatureConfig:
        """Returns and realised volatility only, plus every coin's last return
        (``cross_asset_returns``): no volume, market, reference-coin or
        calendar features. A small panel for tests and benchmarks that still
        shows the synthetic task's cross-coin signal."""
        return cls(
            return_lags=return_lags,
            vol_windows=vol_windows,
            volume_window=0,
            market_return=False,
            reference_symbol=None,
            calendar=False,
        )

    def lookback(self) -> int:
        """Bars before t a feature needs (rows before that are null)."""
        need = [*self.return_lags, *(w for w in self.vol_windows)]
        need += [self.volume_window - 1] if self.volume_window else []
        need += [1] if (self.market_return or self.cross_asset_returns) else []
        return max(need, default=0)


def aligned(panel: pl.DataFrame) -> tuple[pl.DataFrame, tuple[str, ...], int]:
    """The panel sorted by (symbol, timestamp), checked to be a dense grid.

    Every symbol must have the same timestamps, so that a column reshapes to a
    [S, T] array (symbol-major). A frame that is already sorted (as from
    `align_panel`) is not copied.

    Args:
        panel: Long frame with ``timestamp`` and ``symbol``.

    Returns:
        ``(frame, symbols, n_steps)``: the sorted frame, the S symbols in
        sorted order and T.

    Raises:
        DataError: If symbols have different row counts or timestamps.
    """
    df = panel if is_sorted_by_symbol_time(panel) else panel.sort(SORT_KEY)
    runs = df["symbol"].rle().struct.unnest()
    symbols, lens = tuple(runs["value"].to_list()), runs["len"].to_numpy()
    if len(set(lens.tolist())) > 1:
        raise DataError("panel is not aligned: symbols have different row counts")
    n_sym = len(symbols)
    n_steps = df.height // max(n_sym, 1)
    ts = df["timestamp"].to_physical().to_numpy().reshape(n_sym, n_steps)
    if n_sym and not (ts == ts[:1]).all():
        raise DataError("panel is not aligned: symbols have different timestamps")
    return df, symbols, n_steps


SORT_KEY = ("symbol", "timestamp")


def is_sorted_by_symbol_time(df: pl.DataFrame) -> bool:
    """Whether ``df`` is sorted by (symbol, timestamp) (cheap check, no sort).

    Nulls in either column count as unsorted.
    """
    if df.height == 0:
        return True
    if df["symbol"].null_count() or df["timestamp"].null_count():
        return False
    runs = df["symbol"].rle().struct.unnest()
    names = runs["value"].to_list()
    if not all(a < b for a, b in pairwise(names)):
        return False
    ts = df["timestamp"].to_physical().to_numpy()
    step = np.diff(ts)
    block_end = np.cumsum(runs["len"].to_numpy())[:-1] - 1  # a new symbol starts
    step[block_end] = 0
    return bool((step >= 0).all())


def _rolling(x: np.ndarray, *ops: tuple[str, int]) -> list[np.ndarray]:
    """Per-symbol (row) rolling ``(fn, window)`` ops of a [S, T] array.

    Polars rolling kernels, one column per symbol (nulls, not NaN, mark
    missing values); the result is NaN until a window is full.
    """
    wide = pl.DataFrame(
        {str(i): pl.Series(row, nan_to_null=True) for i, row in enumerate(x)}
    )
    outs = []
    for fn, window in ops:
        out = wide.select(getattr(pl.all(), fn)(window).cast(pl.Float64))
        outs.append(np.stack([c.to_numpy() for c in out.iter_columns()]))
    return outs


def feature_grids(
    df: pl.DataFrame, symbols: tuple[str, ...], n_steps: int, cfg: FeatureConfig
) -> Iterator[tuple[str, np.ndarray]]:
    """Yields ``(name, values)`` of each feature on the dense grid.

    ``df`` is an aligned panel as returned by `aligned`. ``values`` is float64
    and broadcasts to [S, T] (shape [S, T], [1, T] for features shared by all
    symbols, or [S, 1]); NaN marks warm-up bars.
    """
    n_sym = len(symbols)

    def grid(col: str) -> np.ndarray:
        return df[col].cast(pl.Float64).to_numpy().reshape(n_sym, n_steps)

    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(grid("close"))
    r1 = _lagged_diff(logc, 1)
    for lag in cfg.return_lags:
        yield f"ret_{lag}", r1 if lag == 1 else _lagged_diff(logc, lag)
    del logc
    vols = _rolling(r1, *[("rolling_std", w) for w in cfg.vol_windows])
    for w, vol in zip(cfg.vol_windows, vols, strict=True):
        yield f"vol_{w}", vol
    del vols
    if cfg.hl_range:
        with np.errstate(divide="ignore", invalid="ignore"):
            hl = np.divide(grid("high"), grid("low"))
            yield "hl_range", np.log(hl, out=hl)
    if cfg.volume_window:
        w = cfg.volume_window
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.log1p(grid("volume"))
        mean, std = _rolling(z, ("rolling_mean", w), ("rolling_std", w))
        z -= mean  # (lv - mean) / (std + 1e-6), in place
        std += 1e-6
        z /= std
        del mean, std
        yield f"volume_z_{w}", z
    if cfg.market_return:
        # Mean over the symbols that have a return (only warm-up bars lack one).
        total = r1.sum(axis=0)
        n = np.full(n_steps, float(n_sym))
        partial = np.flatnonzero(np.isnan(total))
        if len(partial):
            sub = r1[:, partial]
            ok = ~np.isnan(sub)
            n[partial] = ok.sum(axis=0)
            total[partial] = np.where(ok, sub, 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            yield "mkt_ret_1", np.where(n > 0, total / n, np.nan)[None]
    if cfg.calendar:
        ts = df["timestamp"].head(n_steps)
        day = (ts.dt.hour() * 60 + ts.dt.minute()).cast(pl.Float64).to_numpy() / 1440
        week = (ts.dt.weekday().cast(pl.Float64).to_numpy() - 1.0 + day) / 7.0
        yield "tod_sin", np.sin(2 * math.pi * day)[None]
        yield "tod_cos", np.cos(2 * math.pi * day)[None]
        yield "dow_sin", np.sin(2 * math.pi * week)[None]
        yield "dow_cos", np.cos(2 * math.pi * week)[None]
    if cfg.symbol_onehot:
        eye = np.eye(n_sym)
        for i, s in enumerate(symbols):
            yield f"is@{s}", eye[:, i : i + 1]
    # Another coin's return is 0 (no move) where that coin has none (before
    # its listing, after its delisting, in a masked gap, its first bar), so
    # that an absent coin does not mask every other coin's samples.
    ref = cfg.reference_symbol
    if ref is not None and ref in symbols and not cfg.cross_asset_returns:
        yield f"ref_ret_1@{ref}", np.nan_to_num(r1[symbols.index(ref)], nan=0.0)[None]
    if cfg.cross_asset_returns:
        for i, s in enumerate(symbols):
            yield f"ret_1@{s}", np.nan_to_num(r1[i], nan=0.0)[None]


def _lagged_diff(x: np.ndarray, lag: int) -> np.ndarray:
    """``x[:, t] - x[:, t - lag]`` along time, NaN for t < lag."""
    out = np.empty_like(x)
    out[:, :lag] = np.nan
    if lag < x.shape[1]:
        np.subtract(x[:, lag:], x[:, :-lag], out=out[:, lag:])
    return out


def compute_features(
    panel: pl.DataFrame, cfg: FeatureConfig | None = None
) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """Adds causal feature columns to an aligned panel.

    Features are computed on the dense [S, T] grid (one numpy/polars pass per
    feature, no per-symbol joins) and appended to the long frame.

    Args:
        panel: Aligned long frame (`align_panel`): every symbol has the same
            timestamps; columns ``timestamp``, ``symbol``, ``open``, ``high``,
            ``low``, ``close``, ``volume``.
        cfg: The feature configuration (default `FeatureConfig()`).

    Returns:
        ``(frame, names)``: the panel sorted by (symbol, timestamp) with the
        Float64 feature columns ``names`` appended. Warm-up rows (first
        ``cfg.lookback()`` bars of each symbol) hold nulls.

    Raises:
        DataError: If the panel is not aligned or a lag/window is not positive.
    """
    cfg = check_config(cfg)
    df, symbols, n_steps = aligned(panel)
    shape = (len(symbols), n_steps)
    tile: pl.Series | None = None  # row i -> time step i % T
    cols = []
    for name, v in feature_grids(df, symbols, n_steps, cfg):
        if v.shape[0] == 1 and shape[0] > 1:  # shared by all symbols
            if tile is None:
                tile = pl.Series(np.tile(np.arange(n_steps, dtype=np.uint32), shape[0]))
            col = pl.Series(name, v[0], nan_to_null=True).gather(tile)
        else:
            col = pl.Series(name, np.broadcast_to(v, shape).ravel(), nan_to_null=True)
        cols.append(col)
    return df.with_columns(cols), tuple(c.name for c in cols)


def check_config(cfg: FeatureConfig | None) -> FeatureConfig:
    """The config (default `FeatureConfig()`), checked."""
    cfg = FeatureConfig() if cfg is None else cfg
    bad = [x for x in (*cfg.return_lags, *cfg.vol_windows) if x <= 0]
    if bad or cfg.volume_window < 0:
        raise DataError(f"lags and windows must be positive, got {cfg}")
    return cfg
