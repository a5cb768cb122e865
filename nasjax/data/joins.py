"""Point-in-time joins of side data (sentiment, on-chain) onto a panel.

Both joins are as-of BACKWARD on the publication time: a row at bar open time
t only sees values whose publication time is <= t.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from nasjax.data.errors import DataError, where
from nasjax.data.schema import TIMESTAMP_DTYPE, timeframe_us


def _as_timedelta(lag: dt.timedelta | str) -> dt.timedelta:
    if isinstance(lag, dt.timedelta):
        return lag
    if lag.strip() in ("0", ""):
        return dt.timedelta(0)
    return dt.timedelta(microseconds=timeframe_us(lag.strip()))


def join_asof(
    panel: pl.DataFrame,
    frame: pl.DataFrame,
    publication_lag: dt.timedelta | str = dt.timedelta(0),
    columns: Sequence[str] | None = None,
    by: str | None = None,
) -> pl.DataFrame:
    """Joins timestamped side data as of publication time (backward).

    A value stamped ``timestamp`` becomes visible at ``timestamp +
    publication_lag``; each panel row gets the latest value visible at its
    bar open time (null before the first one).

    Args:
        panel: Long frame with ``timestamp`` (UTC) and ``symbol``.
        frame: Side data with a ``timestamp`` column (datetime; naive = UTC) and
            numeric columns; optionally a ``by`` column (e.g. ``symbol``).
        publication_lag: Delay before a value is public, a timedelta or a
            string such as ``"90m"``, ``"1h"``, ``"1d"``.
        columns: Columns of ``frame`` to join (default: all numeric ones).
        by: Optional key column matched exactly (e.g. per-symbol metrics).

    Returns:
        ``panel`` (same row order) with the joined columns appended.

    Raises:
        DataError: Missing/non-numeric columns or non-UTC-convertible times.
    """
    if "timestamp" not in frame.columns:
        raise DataError(
            f"side data has no 'timestamp' column{where(column='timestamp')}"
        )
    ts = frame.schema["timestamp"]
    if not isinstance(ts, pl.Datetime):
        raise DataError(
            f"side data 'timestamp' must be a datetime, got {ts}"
            + where(column="timestamp")
        )
    conv = (
        pl.col("timestamp").dt.replace_time_zone("UTC")
        if ts.time_zone is None
        else pl.col("timestamp").dt.convert_time_zone("UTC")
    )
    keys = ["timestamp", *([by] if by else [])]
    if columns is None:
        columns = [
            c for c, t in frame.schema.items() if t.is_numeric() and c not in keys
        ]
    for c in columns:
        if c not in frame.columns:
            raise DataError(f"side data has no column {c!r}{where(column=c)}")
        if not frame.schema[c].is_numeric():
            raise DataError(f"non-numeric side-data column{where(column=c)}")
    lag = _as_timedelta(publication_lag)
    side = (
        frame.select(*keys, *columns)
        .with_columns(conv.dt.cast_time_unit("us").cast(TIMESTAMP_DTYPE))
        .with_columns((pl.col("timestamp") + lag).alias("__visible"))
        .drop("timestamp")
        .sort("__visible")
    )
    left = panel.with_row_index("__order").with_columns(
        pl.col("timestamp").cast(TIMESTAMP_DTYPE).alias("__t")
    )
    out = left.sort("__t").join_asof(
        side, left_on="__t", right_on="__visible", strategy="backward", by=by
    )
    return out.sort("__order").drop("__order", "__t", "__visible", strict=False)


def join_daily(
    panel: pl.DataFrame,
    source: str | Path | pl.DataFrame,
    columns: Sequence[str] = ("fng_value",),
    publication_lag: dt.timedelta | str = dt.timedelta(0),
    date_column: str = "Date",
) -> pl.DataFrame:
    """Joins a daily series (e.g. the Fear & Greed index) without look-ahead.

    The value dated day D (a UTC calendar day) becomes visible at
    ``D + 1 day 00:00 UTC + publication_lag``: bars during day D see day
    D-1's value (or an older one when days are missing).

    Args:
        panel: Long frame with ``timestamp`` (UTC).
        source: CSV path (header e.g. ``Date,fng_value,fng_class``) or a frame.
        columns: Numeric columns to join.
        publication_lag: Extra delay after the end of day D.
        date_column: Name of the ``YYYY-MM-DD`` date column.

    Returns:
        ``panel`` (same row order) with ``columns`` appended (Float64).

    Raises:
        DataError: Missing/non-numeric columns, bad dates, duplicate days.
    """
    name = str(source) if not isinstance(source, pl.DataFrame) else "<frame>"
    if isinstance(source, pl.DataFrame):
        daily = source
    else:
        if not Path(source).is_file() or Path(source).stat().st_size == 0:
            raise DataError(f"missing or empty file{where(source)}")
        daily = pl.read_csv(source, infer_schema_length=None)
    for c in (date_column, *columns):
        if c not in daily.columns:
            raise DataError(f"missing column{where(name, c)}")
    dates = daily[date_column]
    if dates.dtype != pl.Date:
        dates = dates.cast(pl.String).str.to_date("%Y-%m-%d", strict=False)
    bad = dates.is_null() & daily[date_column].is_not_null()
    if bad.any():
        row = int(bad.arg_true()[0])
        raise DataError(
            f"bad date {daily[date_column][row]!r}{where(name, date_column, row)}"
        )
    if dates.is_duplicated().any():
        row = int(dates.is_duplicated().arg_true()[1])
        raise DataError(f"duplicate day{where(name, date_column, row, dates[row])}")
    vals = []
    for c in columns:
        v = daily[c].cast(pl.Float64, strict=False)
        badv = v.is_null() & daily[c].is_not_null()
        if badv.any():
            row = int(badv.arg_true()[0])
            raise DataError(f"non-numeric value {daily[c][row]!r}{where(name, c, row)}")
        vals.append(v.alias(c))
    side = pl.DataFrame([dates.alias("__day"), *vals]).with_columns(
        (pl.col("__day").cast(pl.Datetime("us")) + dt.timedelta(days=1)).alias(
            "timestamp"
        )
    )
    return join_asof(panel, side.drop("__day"), publication_lag, columns=list(columns))
