"""`align_panel`: put every symbol on one regular UTC grid."""

from __future__ import annotations

import datetime as dt

import polars as pl

from nasjax.data.errors import AlignReport, DataError, where
from nasjax.data.schema import OHLCV_COLUMNS, timeframe_us

GAP_POLICIES: tuple[str, ...] = ("drop", "raise")
SPANS: tuple[str, ...] = ("intersection", "union")
FLOW_COLUMNS: tuple[str, ...] = (
    "volume",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
)
"""Columns that are zero on a filled (no-trade) bar; other extras are carried."""


def align_panel(
    df: pl.DataFrame,
    timeframe: str,
    max_fill: int = 3,
    gap_policy: str = "drop",
    span: str = "intersection",
    return_report: bool = False,
) -> pl.DataFrame | tuple[pl.DataFrame, AlignReport]:
    """Aligns a long OHLCV frame of several symbols on one regular UTC grid.

    Missing bars in runs of at most ``max_fill`` bars are filled with a flat
    candle at the last close (open = high = low = close = previous close),
    zero volume (and zero for the other `FLOW_COLUMNS`; other extra columns
    carry their last value) and ``filled = True``. Longer runs (and bars with
    no previous close) are "long gaps", handled by ``gap_policy``:

      * ``"drop"``: the grid timestamps of every long gap are removed for ALL
        symbols, so the panel stays rectangular (the time axis then jumps over
        the hole; the count is in the report).
      * ``"raise"``: a `DataError` naming the symbol, the first missing
        timestamp and the gap length.

    Args:
        df: Long frame as returned by `load_ohlcv` (sorted or not).
        timeframe: Grid step, e.g. ``"5m"``.
        max_fill: Longest run of missing bars that is forward-filled.
        gap_policy: ``"drop"`` or ``"raise"``.
        span: ``"intersection"`` (default): from the latest first bar to the
            earliest last bar over symbols; ``"union"``: from the earliest first
            bar to the latest last bar (leading/trailing holes are long gaps).
        return_report: Also return an `AlignReport`.

    Returns:
        Frame sorted by (symbol, timestamp) with the same columns plus
        ``filled`` (Boolean); every symbol has the same timestamps. With
        ``return_report``, ``(frame, report)``.

    Raises:
        DataError: Unknown policy/span, empty range, or a long gap with
            ``gap_policy="raise"``.
    """
    if gap_policy not in GAP_POLICIES:
        raise DataError(f"unknown gap_policy {gap_policy!r}; known: {GAP_POLICIES}")
    if span not in SPANS:
        raise DataError(f"unknown span {span!r}; known: {SPANS}")
    if max_fill < 0:
        raise DataError(f"max_fill must be >= 0, got {max_fill}")
    step = timeframe_us(timeframe)
    bounds = df.group_by("symbol").agg(
        pl.col("timestamp").min().alias("first"),
        pl.col("timestamp").max().alias("last"),
    )
    if span == "intersection":
        start, end = bounds["first"].max(), bounds["last"].min()
    else:
        start, end = bounds["first"].min(), bounds["last"].max()
    assert isinstance(start, dt.datetime) and isinstance(end, dt.datetime)
    if start > end:
        raise DataError(f"symbols do not overlap in time (common range {start}..{end})")
    symbols = sorted(df["symbol"].unique())
    grid = pl.datetime_range(
        start, end, dt.timedelta(microseconds=step), time_unit="us", eager=True
    ).dt.convert_time_zone("UTC")
    full = (
        pl.DataFrame({"symbol": symbols})
        .join(pl.DataFrame({"timestamp": grid}), how="cross")
        .with_columns(pl.col("timestamp").cast(df.schema["timestamp"]))
    )
    inside = df.filter(pl.col("timestamp").is_between(start, end))
    trimmed = (
        df.group_by("symbol")
        .len()
        .join(inside.group_by("symbol").len(), on="symbol", how="left", suffix="_in")
    )
    off_grid = inside.filter(
        (pl.col("timestamp") - pl.lit(start)).dt.total_microseconds() % step != 0
    )
    if off_grid.height:
        r = off_grid.row(0, named=True)
        raise DataError(
            f"timestamp is not on the {timeframe} grid starting at {start}"
            f"{where(column='timestamp', timestamp=r['timestamp'], symbol=r['symbol'])}"
        )
    panel = full.join(inside, on=["symbol", "timestamp"], how="left")
    panel = panel.sort(["symbol", "timestamp"])
    missing = pl.col("close").is_null()
    run_id = (missing != missing.shift(1)).fill_null(True).cum_sum().over("symbol")
    panel = panel.with_columns(missing.alias("filled"), run_id.alias("__run"))
    run_len = pl.len().over(["symbol", "__run"])
    prev_close = pl.col("close").forward_fill().over("symbol")
    long_gap = pl.col("filled") & ((run_len > max_fill) | prev_close.is_null())
    panel = panel.with_columns(long_gap.alias("__long"))
    long_runs = (
        panel.filter(pl.col("__long"))
        .group_by(["symbol", "__run"])
        .agg(pl.col("timestamp").min().alias("from"), pl.len().alias("bars"))
    )
    if long_runs.height and gap_policy == "raise":
        r = long_runs.sort(["from", "symbol"]).row(0, named=True)
        raise DataError(
            f"gap of {r['bars']} missing bars > max_fill={max_fill} "
            f"(gap_policy='raise'){where(symbol=r['symbol'], timestamp=r['from'])}"
        )
    drop_ts = panel.filter(pl.col("__long")).select("timestamp").unique()
    panel = panel.join(drop_ts, on="timestamp", how="anti")
    extras = [c for c in df.columns if c not in ("timestamp", "symbol", *OHLCV_COLUMNS)]
    fill_exprs = [
        pl.col(c).fill_null(prev_close) for c in ("open", "high", "low", "close")
    ]
    fill_exprs += [
        pl.col(c).fill_null(0.0)
        if c in FLOW_COLUMNS
        else pl.col(c).forward_fill().over("symbol")
        for c in ("volume", *extras)
    ]
    panel = panel.with_columns(fill_exprs).drop("__run", "__long")
    panel = panel.sort(["symbol", "timestamp"]).select(*df.columns, "filled")
    if panel.height == 0:
        raise DataError("no timestamps left after dropping long gaps")
    if not return_report:
        return panel
    filled = panel.group_by("symbol").agg(pl.col("filled").sum())
    n_long = long_runs.group_by("symbol").len()
    report = AlignReport(
        start=start,
        end=end,
        n_steps=panel.height // len(symbols),
        filled_per_symbol={s: int(n) for s, n in filled.iter_rows()},
        long_gaps_per_symbol={
            s: int(dict(n_long.iter_rows()).get(s, 0)) for s in symbols
        },
        dropped_steps=drop_ts.height,
        trimmed_rows={s: int(n) - int(n_in or 0) for s, n, n_in in trimmed.iter_rows()},
    )
    return panel, report
