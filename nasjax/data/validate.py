"""Vectorised checks of loaded OHLCV rows; every failure is a `DataError`.

Works on the frame produced by `nasjax.data.readers` (with the bookkeeping
columns ``__file`` and ``__row``), so messages name the file, the column, the
0-based data row in that file and the timestamp.
"""

from __future__ import annotations

import polars as pl

from nasjax.data.errors import DataError, where
from nasjax.data.schema import OHLCV_COLUMNS, PRICE_COLUMNS, timeframe_str

REPAIRS: tuple[str, ...] = ("sort", "dedupe")


def _first(df: pl.DataFrame, mask: pl.Expr) -> dict:
    row = df.filter(mask).head(1).to_dicts()
    return row[0] if row else {}


def _fail(msg: str, row: dict, column: str | None = None) -> DataError:
    return DataError(
        msg
        + where(
            row.get("__file"),
            column,
            row.get("__row"),
            row.get("timestamp"),
            row.get("symbol"),
        )
    )


def check_values(df: pl.DataFrame) -> None:
    """Checks finiteness, positive prices, volume >= 0 and OHLC consistency.

    Args:
        df: Loaded rows (any order) with ``__file``/``__row``.

    Raises:
        DataError: On the first violation of each kind, naming file/column/row.
    """
    numeric = [
        c
        for c, t in df.schema.items()
        if t.is_float() and c not in ("__row",) and c != "timestamp"
    ]
    hi, lo = pl.col("high"), pl.col("low")
    oc_max = pl.max_horizontal("open", "close")
    oc_min = pl.min_horizontal("open", "close")
    checks: list[tuple[str, str | None, pl.Expr]] = [
        (
            "null timestamp (unparsable or missing)",
            "timestamp",
            pl.col("timestamp").is_null(),
        )
    ]
    checks += [
        ("missing or non-numeric value", c, pl.col(c).is_null()) for c in numeric
    ]
    checks += [("NaN or infinite value", c, ~pl.col(c).is_finite()) for c in numeric]
    checks += [("non-positive price", c, pl.col(c) <= 0) for c in PRICE_COLUMNS]
    checks += [
        ("negative volume", "volume", pl.col("volume") < 0),
        ("high < low", "high", hi < lo),
        ("high < max(open, close)", "high", hi < oc_max),
        ("low > min(open, close)", "low", lo > oc_min),
    ]
    flags = df.select(
        [e.fill_null(False).any().alias(str(i)) for i, (_, _, e) in enumerate(checks)]
    ).row(0)
    for (msg, col, expr), bad in zip(checks, flags, strict=True):
        if bad:
            raise _fail(msg, _first(df, expr.fill_null(False)), col)


def order_and_repair(
    df: pl.DataFrame, repair: tuple[str, ...]
) -> tuple[pl.DataFrame, int, int]:
    """Checks per-symbol timestamp order; applies the explicit repairs.

    Files of one symbol are ordered by their first timestamp, rows by their
    position in the file. Without repairs, any decreasing or repeated timestamp
    raises. ``"sort"`` sorts each symbol by time (stable); ``"dedupe"`` drops
    repeated timestamps, keeping the first occurrence.

    Args:
        df: Loaded rows with ``__file``/``__row``.
        repair: Subset of `REPAIRS`.

    Returns:
        ``(frame sorted by (symbol, timestamp), rows_sorted, duplicates_dropped)``.

    Raises:
        DataError: Unsorted or duplicate timestamps not covered by ``repair``.
    """
    unknown = set(repair) - set(REPAIRS)
    if unknown:
        raise DataError(f"unknown repair(s) {sorted(unknown)}; known: {REPAIRS}")
    first_ts = pl.col("timestamp").min().over("__file")
    df = df.sort(["symbol", first_ts, "__file", "__row"])
    step = pl.col("timestamp").diff().over("symbol")
    n_unsorted = int(df.select((step < pl.duration(microseconds=0)).sum()).item())
    rows_sorted = 0
    if n_unsorted:
        if "sort" not in repair:
            raise _fail(
                "timestamps not sorted (decreasing; pass repair=('sort',))",
                _first(df, (step < pl.duration(microseconds=0)).fill_null(False)),
                "timestamp",
            )
        rows_sorted = n_unsorted
        df = df.sort(["symbol", "timestamp"], maintain_order=True)
    dup = (step == pl.duration(microseconds=0)).fill_null(False)
    n_dup = int(df.select(dup.sum()).item())
    if n_dup:
        if "dedupe" not in repair:
            raise _fail(
                "duplicate timestamp (pass repair=('dedupe',))",
                _first(df, dup),
                "timestamp",
            )
        df = df.filter(~dup)
    return df, rows_sorted, n_dup


def check_timeframe(
    df: pl.DataFrame, name_timeframes: dict[str, set[str]], requested_us: int | None
) -> int | None:
    """Checks that every symbol has one timeframe, common to all symbols.

    Args:
        df: Rows sorted by (symbol, timestamp) without duplicates.
        name_timeframes: Timeframes found in file names, per symbol.
        requested_us: The requested timeframe in microseconds, or None.

    Returns:
        The common timeframe in microseconds (None if it cannot be determined,
        e.g. one row per symbol and nothing requested).

    Raises:
        DataError: Mixed timeframes within a symbol or across symbols.
    """
    from nasjax.data.schema import timeframe_us

    step_us = pl.col("timestamp").diff().over("symbol").dt.total_microseconds()
    steps = (
        df.select("symbol", step_us.alias("__step"))
        .group_by("symbol")
        .agg(pl.col("__step").min().alias("min_step"))
    )
    min_step = dict(zip(steps["symbol"], steps["min_step"], strict=True))
    common: int | None = requested_us
    for sym in df["symbol"].unique(maintain_order=True):
        names = name_timeframes.get(sym, set())
        if len(names) > 1:
            raise DataError(
                f"mixed timeframes {sorted(names)} in one symbol{where(symbol=sym)}"
            )
        tf = timeframe_us(next(iter(names))) if names else min_step.get(sym)
        if tf is None:
            continue
        if common is None:
            common = tf
        elif tf != common:
            what = "requested" if requested_us is not None else "other symbols'"
            raise DataError(
                f"timeframe {timeframe_str(int(tf))} differs from the {what} "
                f"timeframe {timeframe_str(common)}{where(symbol=sym)}"
            )
    if common is None:
        return None
    off_grid = (step_us % common != 0).fill_null(False)
    bad = _first(df, off_grid)
    if bad:
        raise _fail(
            f"mixed timeframes: step is not a multiple of {timeframe_str(common)}",
            bad,
            "timestamp",
        )
    return common


def columns_present(df: pl.DataFrame) -> None:
    """Raises if a canonical column is absent (defensive; readers check too)."""
    missing = [
        c for c in ("timestamp", "symbol", *OHLCV_COLUMNS) if c not in df.columns
    ]
    if missing:
        raise DataError(f"missing column(s) {missing}")
