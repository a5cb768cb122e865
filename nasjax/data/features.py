"""Causal per-coin features: a feature at bar t uses only bars <= t."""

from __future__ import annotations

import dataclasses
import math

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
        market_return: Equal-weight mean over symbols of 1-bar log returns.
        reference_symbol: Also the 1-bar log return of this symbol (e.g. BTC)
            for every coin; skipped when the symbol is absent or None, and
            when ``cross_asset_returns`` already includes it.
        cross_asset_returns: The 1-bar log return of EVERY symbol as features of
            every coin (``ret_1@SYM``), so a pooled per-coin model can see
            cross-asset structure. Adds one feature per symbol.
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

    def lookback(self) -> int:
        """Bars before t a feature needs (rows before that are null)."""
        need = [*self.return_lags, *(w for w in self.vol_windows)]
        need += [self.volume_window - 1] if self.volume_window else []
        need += [1] if (self.market_return or self.cross_asset_returns) else []
        return max(need, default=0)


def compute_features(
    panel: pl.DataFrame, cfg: FeatureConfig | None = None
) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """Adds causal feature columns to an aligned panel.

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
    cfg = FeatureConfig() if cfg is None else cfg
    bad = [x for x in (*cfg.return_lags, *cfg.vol_windows) if x <= 0]
    if bad or cfg.volume_window < 0:
        raise DataError(f"lags and windows must be positive, got {cfg}")
    df = panel.sort(["symbol", "timestamp"])
    counts = df.group_by("symbol").len()["len"]
    if counts.n_unique() != 1:
        raise DataError("panel is not aligned: symbols have different row counts")
    symbols = sorted(df["symbol"].unique())
    logc = pl.col("close").log()
    r1 = (logc - logc.shift(1)).over("symbol")
    df = df.with_columns(r1.alias("__r1"))
    exprs: list[pl.Expr] = []
    for lag in cfg.return_lags:
        exprs.append((logc - logc.shift(lag)).over("symbol").alias(f"ret_{lag}"))
    for w in cfg.vol_windows:
        exprs.append(pl.col("__r1").rolling_std(w).over("symbol").alias(f"vol_{w}"))
    if cfg.hl_range:
        exprs.append((pl.col("high") / pl.col("low")).log().alias("hl_range"))
    if cfg.volume_window:
        w = cfg.volume_window
        lv = pl.col("volume").log1p()
        z = (lv - lv.rolling_mean(w)) / (lv.rolling_std(w) + 1e-6)
        exprs.append(z.over("symbol").alias(f"volume_z_{w}"))
    if cfg.market_return:
        exprs.append(pl.col("__r1").mean().over("timestamp").alias("mkt_ret_1"))
    if cfg.calendar:
        ts = pl.col("timestamp")
        day = (ts.dt.hour() * 60 + ts.dt.minute()).cast(pl.Float64) / 1440.0
        week = (ts.dt.weekday().cast(pl.Float64) - 1.0 + day) / 7.0
        exprs += [
            (2 * math.pi * day).sin().alias("tod_sin"),
            (2 * math.pi * day).cos().alias("tod_cos"),
            (2 * math.pi * week).sin().alias("dow_sin"),
            (2 * math.pi * week).cos().alias("dow_cos"),
        ]
    if cfg.symbol_onehot:
        exprs += [
            (pl.col("symbol") == s).cast(pl.Float64).alias(f"is@{s}") for s in symbols
        ]
    df = df.with_columns(exprs)
    names = [e.meta.output_name() for e in exprs]
    wide_syms: list[str] = []
    if cfg.cross_asset_returns:
        wide_syms = symbols
    ref = cfg.reference_symbol
    if ref is not None and ref in symbols and not cfg.cross_asset_returns:
        names.append(f"ref_ret_1@{cfg.reference_symbol}")
        df = _join_returns(df, [ref], prefix="ref_ret_1@")
    if wide_syms:
        df = _join_returns(df, wide_syms, prefix="ret_1@")
        names += [f"ret_1@{s}" for s in wide_syms]
    df = df.drop("__r1").sort(["symbol", "timestamp"])
    return df, tuple(names)


def _join_returns(df: pl.DataFrame, symbols: list[str], prefix: str) -> pl.DataFrame:
    """Joins each listed symbol's 1-bar return (``__r1``) on timestamp."""
    for s in symbols:
        one = df.filter(pl.col("symbol") == s).select(
            "timestamp", pl.col("__r1").alias(f"{prefix}{s}")
        )
        df = df.join(one, on="timestamp", how="left")
    return df
