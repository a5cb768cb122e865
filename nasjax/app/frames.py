"""Candle frames as users hand them to a model: made canonical, or refused clearly.

:func:`candle_frame` turns what :meth:`nasjax.Model.predict` receives into the
long polars frame the feature pipeline reads (``timestamp`` UTC, ``symbol``,
``open``, ``high``, ``low``, ``close``, ``volume``):

* a polars ``DataFrame`` or ``LazyFrame``, or a pandas ``DataFrame`` (a
  ``DatetimeIndex`` becomes the time column);
* the time in ``timestamp`` or freqtrade's ``date`` (also ``datetime``,
  ``time``, ``open_time``): datetimes (naive ones are read as UTC, aware
  ones converted), ISO strings, or integer epochs (s / ms / us / ns);
* long frames with a ``symbol`` (or ``pair``) column, a single-symbol frame
  (a freqtrade strategy's dataframe) with ``symbol=``, or a mapping
  ``{symbol: frame}`` of single-symbol frames.

Anything else raises :class:`~nasjax.data.DataError` naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from nasjax.data.errors import DataError, where
from nasjax.data.readers import epoch_to_ts, parse_times
from nasjax.data.schema import (
    OHLCV_COLUMNS,
    TIMESTAMP_DTYPE,
    normalize_symbol,
    timeframe_us,
)
from nasjax.data.validate import check_timeframe, check_values

TIME_COLUMNS: tuple[str, ...] = ("timestamp", "date", "datetime", "time", "open_time")
"""Accepted names of the candle open-time column, in order of preference."""
SYMBOL_COLUMNS: tuple[str, ...] = ("symbol", "pair")
"""Accepted names of the symbol column."""


def _polars(frame: Any) -> pl.DataFrame:
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, pl.DataFrame):
        return frame
    if type(frame).__module__.split(".")[0] == "pandas":
        import pandas as pd

        if isinstance(frame.index, pd.DatetimeIndex):
            name = frame.index.name or "timestamp"
            frame = frame.rename_axis(name).reset_index()
        try:
            return pl.from_pandas(frame)
        except Exception as e:  # pyarrow / polars conversion errors, many types
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            raise DataError(
                "cannot convert the pandas frame (a column of Python objects?): "
                f"{type(e).__name__}: {first}"
            ) from e
    raise DataError(
        "expected a polars or pandas DataFrame of candles (or a mapping "
        f"symbol -> frame), got {type(frame).__name__}"
    )


def _utc(column: pl.Series) -> pl.Series:
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            column = column.dt.replace_time_zone("UTC")
        return column.dt.convert_time_zone("UTC").cast(TIMESTAMP_DTYPE)
    if dtype == pl.Date:
        return column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if dtype.is_integer():
        return pl.select(epoch_to_ts(pl.lit(column))).to_series()
    if dtype == pl.String:
        return parse_times(column).cast(TIMESTAMP_DTYPE)
    raise DataError(
        f"time column {column.name!r} has type {dtype}: expected datetimes, "
        "ISO strings or integer epochs"
    )


def _time_column(df: pl.DataFrame) -> str:
    time_col = next((c for c in TIME_COLUMNS if c in df.columns), None)
    if time_col is None:
        raise DataError(
            f"no time column: expected one of {list(TIME_COLUMNS)}, the frame "
            f"has {df.columns}"
        )
    return time_col


def row_times(frame: Any) -> pl.Series:
    """The candle open times of one frame's rows, in row order.

    Read as :func:`candle_frame` reads them (``timestamp`` or ``date``, ...,
    UTC), without sorting: row ``i`` is the frame's row ``i``, e.g. of a
    freqtrade strategy's dataframe.

    Raises:
        DataError: If the frame has no readable time column.
    """
    df = _polars(frame)
    return _utc(df[_time_column(df)]).alias("timestamp")


def _single(frame: Any, symbol: str | None, known: Sequence[str]) -> pl.DataFrame:
    df = _polars(frame)
    time_col = _time_column(df)
    missing = [c for c in OHLCV_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; the frame has {df.columns}")
    sym_col = next((c for c in SYMBOL_COLUMNS if c in df.columns), None)
    if sym_col is not None:
        symbols = df[sym_col].cast(pl.String)
        # Normalise each distinct name once (as the file readers do), not
        # every row through a Python call.
        mapping = {r: normalize_symbol(r) for r in symbols.unique().drop_nulls()}
        symbols = symbols.replace_strict(mapping, default=None)
    else:
        if symbol is None and len(known) == 1:
            symbol = known[0]
        if symbol is None:
            raise DataError(
                "the frame has no 'symbol' column: pass symbol=... for a "
                "single-symbol frame, or a mapping {symbol: frame} (the model "
                f"was trained on {list(known)})"
            )
        if not isinstance(symbol, str):
            raise DataError(
                f"symbol= must be a string such as 'BTC/USDT', got {symbol!r}"
            )
        symbols = pl.repeat(normalize_symbol(symbol), len(df), eager=True)
    try:
        prices = [df[c].cast(pl.Float64) for c in OHLCV_COLUMNS]
    except pl.exceptions.InvalidOperationError as e:
        raise DataError(f"non-numeric OHLCV values: {e}") from e
    return pl.DataFrame(
        [_utc(df[time_col]).alias("timestamp"), symbols.alias("symbol"), *prices]
    )


def candle_frame(
    frame: Any, known_symbols: Sequence[str] = (), *, symbol: str | None = None
) -> pl.DataFrame:
    """The canonical long candle frame of what a user passes.

    Args:
        frame: A polars/pandas frame, or a mapping ``{symbol: frame}`` (see
            the module docstring).
        known_symbols: The symbols the model was trained on (a frame without
            a symbol column is taken to be the only one, if there is one).
        symbol: The symbol of a single-symbol frame without a symbol column.

    Returns:
        ``timestamp`` (UTC, us), ``symbol``, ``open``, ``high``, ``low``,
        ``close``, ``volume`` (Float64), sorted by (symbol, timestamp).

    Raises:
        DataError: If the frame cannot be read as candles.
    """
    if isinstance(frame, Mapping):
        if symbol is not None:
            raise DataError("symbol= is for one frame, not a mapping of frames")
        if not frame:
            raise DataError("the mapping {symbol: frame} is empty")
        parts = [_single(f, str(s), known_symbols) for s, f in frame.items()]
        out = pl.concat(parts)
    else:
        out = _single(frame, symbol, known_symbols)
    if out.is_empty():
        raise DataError("the frame has no rows")
    for column, what in (
        ("timestamp", "unparsable or missing timestamps"),
        ("symbol", "missing symbols"),
    ):
        if out[column].null_count():  # row: 0-based, frames of a mapping in order
            row = int(out[column].is_null().arg_max() or 0)
            raise DataError(f"{what}, the first{where(None, column, row)}")
    return out.sort("symbol", "timestamp")


def check_candles(
    candles: pl.DataFrame, symbols: Sequence[str], timeframe: str, warmup_bars: int
) -> None:
    """Refuse candles a model cannot predict from, saying why.

    Args:
        candles: A frame from :func:`candle_frame`.
        symbols: The model's symbols (only their rows are checked).
        timeframe: The model's bar length, e.g. ``"5m"``.
        warmup_bars: Bars each prediction needs (``Model.warmup_bars``).

    Raises:
        DataError: On a null, non-finite or non-positive price, a negative
            volume, inconsistent high/low, a duplicate (symbol, timestamp), a
            bar spacing that is not the model's timeframe, or a coin with fewer
            than ``warmup_bars`` bars; naming the symbol and timestamp.
    """
    df = candles.filter(pl.col("symbol").is_in(list(symbols)))
    check_values(df)
    dup = df.select(pl.struct("symbol", "timestamp").is_duplicated()).to_series()
    if dup.any():
        row = df.row(int(dup.arg_max() or 0), named=True)
        raise DataError(
            "duplicate candle"
            + where(None, None, None, row["timestamp"], row["symbol"])
            + ": keep one row per (symbol, timestamp)"
        )
    check_timeframe(df, {}, timeframe_us(timeframe))
    counts = df.group_by("symbol").len()
    short = counts.filter(pl.col("len") < warmup_bars).sort("symbol")
    if short.height:
        few = ", ".join(f"{s} {n}" for s, n in short.iter_rows())
        raise DataError(
            f"too few bars to predict anything: {few}; each prediction needs "
            f"{warmup_bars} bars of its coin (the window plus the features' "
            "lookback, Model.warmup_bars)"
        )
