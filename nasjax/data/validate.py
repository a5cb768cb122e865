"""Vectorised checks of loaded OHLCV rows; every failure is a `DataError`.

Works on the frame produced by `nasjax.data.readers` (with the bookkeeping
columns ``__file`` and ``__row``), so messages name the file, the column, the
0-based data row in that file and the timestamp.
"""

from __future__ import annotations

import numpy as np
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
    """Checks timestamps and symbols are present, finiteness, positive prices,
    volume >= 0 and OHLC consistency.

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
        ),
        ("missing symbol (empty cell)", "symbol", pl.col("symbol").is_null()),
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
    order = _file_block_order(df)
    if order is None:  # general case: sort the rows
        first_ts = pl.col("timestamp").min().over("__file")
        df = df.sort(["symbol", first_ts, "__file", "__row"])
    elif order is not _IDENTITY:
        df = df[order]
    step = _diff_within_symbol(pl.col("timestamp"))
    n_unsorted = int(df.select((step < pl.duration(microseconds=0)).sum()).item())
    rows_sorted = 0
    if n_unsorted:
        if "sort" not in repair:
            raise _fail(
                "timestamps not sorted (decreasing; sort them with data.repair=[sort], "
                "or load_ohlcv(..., repair=('sort',)))",
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
                "duplicate timestamp (drop repeats with data.repair=[dedupe], or "
                "load_ohlcv(..., repair=('dedupe',)))",
                _first(df, dup),
                "timestamp",
            )
        df = df.filter(~dup)
    return df, rows_sorted, n_dup


_IDENTITY = np.empty(0, np.int64)


def _diff_within_symbol(expr: pl.Expr) -> pl.Expr:
    """``expr.diff().over("symbol")`` for a frame sorted by symbol (cheaper)."""
    sym = pl.col("symbol")
    return pl.when(sym == sym.shift(1)).then(expr.diff())


def _file_block_order(df: pl.DataFrame) -> np.ndarray | None:
    """Row order sorting ``df`` by (symbol, first time of file, file, row).

    Readers emit each file as one contiguous block in row order, so when every
    file is one block of one symbol, the sort is a permutation of blocks
    (usually the identity: files are read sorted by name).

    Returns:
        `_IDENTITY` if ``df`` is already in order, the row permutation, or
        None when the fast path does not apply (then sort the rows).
    """
    if df.height == 0 or df["timestamp"].null_count() or df["symbol"].null_count():
        return None
    file_run = df["__file"].rle_id().to_numpy()
    starts = np.flatnonzero(np.diff(file_run, prepend=-1))
    ends = np.r_[starts[1:], df.height]
    sym_run = df["symbol"].rle_id().to_numpy()
    row = df["__row"].to_numpy()
    row_step = np.diff(row, prepend=row[0] - 1)
    row_step[starts] = 1
    if (
        (sym_run[starts] != sym_run[ends - 1]).any()  # a file with several symbols
        or (row[starts] != 0).any()
        or (row_step != 1).any()
    ):
        return None
    files = df["__file"].gather(starts).cast(pl.String).to_list()
    if len(set(files)) != len(files):  # one file in several blocks
        return None
    first = np.minimum.reduceat(df["timestamp"].to_physical().to_numpy(), starts)
    syms = df["symbol"].gather(starts).to_list()
    keys = list(zip(syms, first.tolist(), files, strict=True))
    perm = sorted(range(len(keys)), key=keys.__getitem__)
    if perm == list(range(len(keys))):
        return _IDENTITY
    return np.concatenate([np.arange(starts[i], ends[i]) for i in perm])


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

    step_us = _diff_within_symbol(pl.col("timestamp")).dt.total_microseconds()
    step = df.select(step_us).to_series()
    steps = (
        pl.DataFrame([df["symbol"], step.alias("__step")])
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
            first = _first(df, pl.col("symbol") == sym)
            raise DataError(
                f"timeframe {timeframe_str(int(tf))} differs from the {what} "
                f"timeframe {timeframe_str(common)}"
                f"{where(first.get('__file'), symbol=sym)}"
            )
    if common is None:
        return None
    typical = (
        pl.DataFrame([df["symbol"], step.alias("__step")])
        .group_by("symbol", maintain_order=True)
        .agg(
            pl.col("__step").median().alias("median"),
            (pl.col("__step") > common).sum().alias("longer"),
            pl.col("__step").count().alias("n"),
        )
        .filter(pl.col("median") > common)
    )
    if typical.height:
        sym, median, longer, n = typical.row(0)
        if int(median) % common:  # bars off the typical grid, e.g. one at 00:31
            off = ((df["symbol"] == sym) & (step % int(median) != 0)).fill_null(False)
            raise _fail(
                f"mixed timeframes: step is not a multiple of "
                f"{timeframe_str(int(median))} (the typical step)",
                df.row(int(off.arg_max() or 0), named=True),
                "timestamp",
            )
        first_long = ((df["symbol"] == sym) & (step > common)).fill_null(False)
        raise _fail(
            f"mixed timeframes: most bars are {timeframe_str(int(median))} apart "
            f"({longer} of {n} steps are longer than {timeframe_str(common)}), "
            f"not {timeframe_str(common)}; is part of the data of another "
            "timeframe? The first longer step ends at",
            df.row(int(first_long.arg_max() or 0), named=True),
            "timestamp",
        )
    off_grid = (step % common != 0).fill_null(False)
    if off_grid.any():
        raise _fail(
            f"mixed timeframes: step is not a multiple of {timeframe_str(common)}",
            df.row(int(off_grid.arg_max() or 0), named=True),
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
