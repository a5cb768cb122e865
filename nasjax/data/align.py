"""`align_panel`: put every symbol on one regular UTC grid."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from nasjax.data.errors import AlignReport, DataError, where
from nasjax.data.schema import OHLCV_COLUMNS, timeframe_us

GAP_POLICIES: tuple[str, ...] = ("drop", "raise", "mask")
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
    min_history: int = 0,
    return_report: bool = False,
) -> pl.DataFrame | tuple[pl.DataFrame, AlignReport]:
    """Aligns a long OHLCV frame of several symbols on one regular UTC grid.

    Missing bars (and bars without a close) in runs of at most ``max_fill``
    bars are filled with a flat candle at the last close, i.e. the close of
    the bar just before the run (open = high = low = close = previous close,
    even when that bar's timestamp is itself dropped for another symbol's long
    gap), zero volume (and zero for the other `FLOW_COLUMNS`; other extra
    columns carry their last value) and ``filled = True``. Longer runs (and
    bars with no previous close) are "long gaps", handled by ``gap_policy``:

      * ``"drop"``: the grid timestamps of every long gap are removed for ALL
        symbols, so the panel stays rectangular (the time axis then jumps over
        the hole; the count is in the report).
      * ``"raise"``: a `DataError` naming the symbol, the first missing
        timestamp and the gap length.
      * ``"mask"``: the gap's cells of that symbol are left *absent* (see
        below); the other symbols keep their bars.

    Ragged panels. With ``span="union"`` the grid runs from the earliest first
    bar to the latest last bar, and the bars before a symbol's first bar (a
    late listing) and after its last bar (a delisting) are *absent* cells,
    whatever their length: a row with the grid timestamp and the symbol but
    null ``open``/``high``/``low``/``close``/``volume`` and extras, and
    ``filled = False``. No other symbol loses a bar to them.

    Args:
        df: Long frame as returned by `load_ohlcv` (sorted or not).
        timeframe: Grid step, e.g. ``"5m"``.
        max_fill: Longest run of missing bars that is forward-filled.
        gap_policy: ``"drop"``, ``"raise"`` or ``"mask"`` (interior long gaps).
        span: ``"intersection"`` (default): from the latest first bar to the
            earliest last bar over symbols; ``"union"``: from the earliest first
            bar to the latest last bar (leading/trailing holes are absent
            cells).
        min_history: Symbols with fewer bars (rows with a close) are removed
            before anything else; the report gives the reason
            (``dropped_symbols``). 0 keeps every symbol.
        return_report: Also return an `AlignReport`.

    Returns:
        Frame sorted by (symbol, timestamp) with the same columns plus
        ``filled`` (Boolean); every symbol has the same timestamps (absent
        cells have a null ``close``). With ``return_report``,
        ``(frame, report)``.

    Works on int64 time indices of a dense [S, T] grid in numpy; the rows
    are gathered onto the grid in one pass (no copy at all when the input
    already is the grid, sorted) and only the filled cells are patched.

    Raises:
        DataError: Unknown policy/span, empty range, an off-grid or repeated
            timestamp, a long gap with ``gap_policy="raise"``, or no symbol
            with ``min_history`` bars.
    """
    if gap_policy not in GAP_POLICIES:
        raise DataError(f"unknown gap_policy {gap_policy!r}; known: {GAP_POLICIES}")
    if span not in SPANS:
        raise DataError(f"unknown span {span!r}; known: {SPANS}")
    if max_fill < 0:
        raise DataError(f"max_fill must be >= 0, got {max_fill}")
    df, short = _drop_short_histories(df, min_history)
    step = timeframe_us(timeframe)
    ts_dtype = df.schema["timestamp"]
    assert isinstance(ts_dtype, pl.Datetime)
    symbols = sorted(df["symbol"].unique())
    n_sym = len(symbols)
    if n_sym == 0:
        raise DataError("empty frame: nothing to align")
    # Everything below runs on int64 epoch microseconds and symbol codes, with
    # few full-length temporaries (fresh memory is slow to fault in).
    stamps = df["timestamp"]
    if ts_dtype.time_unit != "us":
        stamps = stamps.dt.cast_time_unit("us")
    ts = stamps.to_physical().to_numpy()
    code = df["symbol"].cast(pl.Enum(symbols)).to_physical().to_numpy()
    per_sym = np.bincount(code, minlength=n_sym)
    first = np.full(n_sym, np.iinfo(np.int64).max)
    last = np.full(n_sym, np.iinfo(np.int64).min)
    np.minimum.at(first, code, ts)
    np.maximum.at(last, code, ts)
    if span == "intersection":
        start_us, end_us = int(first.max()), int(last.min())
    else:
        start_us, end_us = int(first.min()), int(last.max())
    start, end = _to_datetime([start_us, end_us], ts_dtype)
    if start_us > end_us:
        raise DataError(f"symbols do not overlap in time (common range {start}..{end})")
    rel = ts - start_us
    inside = (rel >= 0) & (rel <= end_us - start_us)
    off_grid = rel % step != 0
    off_grid &= inside
    if off_grid.any():
        raise DataError(
            f"timestamp is not on the {timeframe} grid starting at {start}"
            f"{_where_row(df, int(np.argmax(off_grid)))}"
        )
    del off_grid
    n_steps = (end_us - start_us) // step + 1
    n_cells = n_sym * n_steps
    all_inside = bool(inside.all())
    rows = np.arange(len(ts)) if all_inside else np.flatnonzero(inside)
    cell = rel if all_inside else rel[rows]
    cell //= step  # time index
    cell += np.multiply(code if all_inside else code[rows], n_steps, dtype=np.int64)
    del rel
    src = np.full(n_cells, -1, np.int64)  # row of each (symbol, time) cell
    src[cell] = rows
    if np.count_nonzero(src >= 0) != len(cell):  # (rare) repeated timestamps
        counts = np.bincount(cell, minlength=n_cells)
        c = int(np.argmax(counts > 1))
        raise DataError(
            "duplicate timestamp (data.repair=[dedupe], or load_ohlcv with "
            "repair=('dedupe',), drops them)"
            f"{_where_row(df, int(rows[cell == c][0]))}"
        )
    del cell
    null_close = df["close"].is_null()
    if null_close.any():  # a bar without a close counts as missing
        src[np.isin(src, np.flatnonzero(null_close.to_numpy()))] = -1
    src = src.reshape(n_sym, n_steps)
    # Runs of missing bars per symbol (a padding column keeps runs apart).
    pad = np.zeros((n_sym, n_steps + 1), np.int8)
    np.less(src, 0, out=pad[:, :n_steps], casting="unsafe")
    edge = np.diff(pad.ravel(), prepend=np.int8(0))
    del pad
    run_start = np.flatnonzero(edge == 1)
    run_len = np.flatnonzero(edge == -1) - run_start
    del edge
    run_sym, run_t0 = np.divmod(run_start, n_steps + 1)
    # A run is long if longer than max_fill or if no close precedes it; with
    # span="union" the runs at either end (listing, delisting) are absent, and
    # with gap_policy="mask" so are the long ones.
    is_long = (run_len > max_fill) | (run_t0 == 0)
    if span == "union":
        is_absent = (run_t0 == 0) | (run_t0 + run_len == n_steps)
    else:
        is_absent = np.zeros(len(run_t0), bool)
    if gap_policy == "mask":
        is_absent |= is_long
    is_long &= ~is_absent
    l_sym, l_t0, l_len = run_sym[is_long], run_t0[is_long], run_len[is_long]
    if len(l_sym) and gap_policy == "raise":
        k = int(np.lexsort((l_sym, l_t0))[0])
        (when,) = _to_datetime([start_us + int(l_t0[k]) * step], ts_dtype)
        at = where(symbol=symbols[int(l_sym[k])], timestamp=when)
        raise DataError(
            f"gap of {int(l_len[k])} missing bars > max_fill={max_fill} "
            f"(gap_policy='raise'){at}"
        )
    mark = np.zeros(n_steps + 1, np.int64)
    np.add.at(mark, l_t0, 1)
    np.add.at(mark, l_t0 + l_len, -1)
    keep = np.cumsum(mark[:n_steps]) == 0
    n_kept = int(keep.sum())
    if n_kept == 0:
        raise DataError("no timestamps left after dropping long gaps")
    # Short runs are filled from the bar just before the run (its close).
    is_short = ~is_long & ~is_absent
    s_sym, s_t0, s_len = run_sym[is_short], run_t0[is_short], run_len[is_short]
    fill_t = np.repeat(s_t0 - np.cumsum(np.r_[0, s_len[:-1]]), s_len)
    fill_t += np.arange(len(fill_t))  # time of every short-gap cell
    fill_sym = np.repeat(s_sym, s_len)
    fill_src = np.repeat(src[s_sym, s_t0 - 1], s_len)
    src[fill_sym, fill_t] = fill_src
    new_t = np.cumsum(keep) - 1  # time index after the drops
    on = keep[fill_t]
    fill_pos = fill_sym[on] * n_kept + new_t[fill_t[on]]
    take = src if n_kept == n_steps else src[:, keep]
    take = take.ravel()
    n_absent = int(np.count_nonzero(take < 0))
    identity = (
        not n_absent and len(take) == df.height and bool((take[1:] > take[:-1]).all())
    )
    extras = [c for c in df.columns if c not in ("timestamp", "symbol", *OHLCV_COLUMNS)]
    carried = [c for c in ("volume", *extras) if c not in FLOW_COLUMNS]
    # One parallel gather of every column onto the grid (none if the rows
    # already are the grid); then the few short-gap cells are patched.
    if identity:
        panel = df
    elif not n_absent:
        panel = df.select(pl.all().gather(take))
    else:  # absent cells gather nulls, then get their timestamp and symbol
        present = take >= 0
        idx = pl.Series(take).set(pl.Series(~present), None)
        grid_us = start_us + np.flatnonzero(keep).astype(np.int64) * step
        panel = df.select(pl.all().gather(idx)).with_columns(
            pl.Series("timestamp", np.tile(grid_us, n_sym))
            .cast(pl.Datetime("us", ts_dtype.time_zone))
            .cast(ts_dtype),
            pl.Series("symbol", np.repeat(symbols, n_kept)).cast(df.schema["symbol"]),
        )
    filled = np.zeros(n_sym * n_kept, bool)
    filled[fill_pos] = True
    patched = []
    if len(fill_pos):
        prev_close = panel["close"].gather(fill_pos)
        grid_ts = pl.Series(start_us + (fill_t[on] * step)).cast(
            pl.Datetime("us", ts_dtype.time_zone)
        )
        patched.append(panel["timestamp"].scatter(fill_pos, grid_ts.cast(ts_dtype)))
        for c in ("open", "high", "low"):
            patched.append(panel[c].scatter(fill_pos, prev_close))
        for c in ("volume", *extras):
            if c not in carried:
                patched.append(panel[c].scatter(fill_pos, 0.0))
    panel = panel.with_columns(*patched, pl.Series("filled", filled))
    if carried:
        ffill = pl.col(carried).forward_fill().over("symbol")
        if n_absent:  # absent cells stay null
            ffill = pl.when(pl.col("close").is_not_null()).then(ffill)
        panel = panel.with_columns(ffill)
    filled = filled.reshape(n_sym, n_kept)
    if not return_report:
        return panel
    n_long = np.bincount(l_sym, minlength=n_sym)
    n_in = np.bincount(code[inside], minlength=n_sym)
    on_grid = (take >= 0).reshape(n_sym, n_kept)
    n_filled = filled.sum(axis=1)
    kept = on_grid.sum(axis=1) - n_filled
    absent = n_kept - on_grid.sum(axis=1)
    with_close = per_sym - np.bincount(code[null_close.to_numpy()], minlength=n_sym)
    report = AlignReport(
        start=start,
        end=end,
        n_steps=n_kept,
        filled_per_symbol={
            s: int(n) for s, n in zip(symbols, filled.sum(axis=1), strict=True)
        },
        long_gaps_per_symbol={s: int(n) for s, n in zip(symbols, n_long, strict=True)},
        dropped_steps=n_steps - n_kept,
        trimmed_rows={
            s: int(n) - int(m) for s, n, m in zip(symbols, per_sym, n_in, strict=True)
        },
        bars_per_symbol=_per_symbol(symbols, kept),
        dropped_per_symbol=_per_symbol(symbols, with_close - kept),
        absent_per_symbol=_per_symbol(symbols, absent),
        periods={
            s: (a, b)
            for s, a, b in zip(
                symbols,
                _to_datetime(first.tolist(), ts_dtype),
                _to_datetime(last.tolist(), ts_dtype),
                strict=True,
            )
        },
        dropped_symbols=short,
    )
    return panel, report


def _per_symbol(symbols: list[str], counts: np.ndarray) -> dict[str, int]:
    return {s: int(n) for s, n in zip(symbols, counts, strict=True)}


def _drop_short_histories(
    df: pl.DataFrame, min_history: int
) -> tuple[pl.DataFrame, dict[str, str]]:
    """``df`` without the symbols that have fewer than ``min_history`` bars
    with a close, and ``{symbol: reason}`` of those removed.

    Raises:
        DataError: If ``min_history`` is negative or no symbol is left.
    """
    if min_history < 0:
        raise DataError(f"min_history must be >= 0, got {min_history}")
    if min_history == 0 or df.height == 0:
        return df, {}
    counts = (
        df.group_by("symbol")
        .agg(pl.col("close").is_not_null().sum().alias("n"))
        .sort("symbol")
    )
    short = {
        str(s): f"{int(n)} bars < min_history={min_history}"
        for s, n in counts.iter_rows()
        if n < min_history
    }
    if not short:
        return df, {}
    if len(short) == counts.height:
        raise DataError(
            f"no symbol has min_history={min_history} bars: {short} "
            "(lower data.min_history_bars)"
        )
    return df.filter(~pl.col("symbol").is_in(list(short))), short


def _to_datetime(us: list[int], dtype: pl.Datetime) -> list[dt.datetime]:
    """Epoch microseconds -> Python datetimes in the time zone of ``dtype``."""
    s = pl.Series(us, dtype=pl.Int64).cast(pl.Datetime("us", dtype.time_zone))
    return s.to_list()


def _where_row(df: pl.DataFrame, i: int) -> str:
    return where(
        column="timestamp", timestamp=df["timestamp"][i], symbol=df["symbol"][i]
    )
