"""`load_ohlcv`: many files of many formats -> one validated long frame."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from nasjax.data.errors import DataError, LoadReport, where
from nasjax.data.readers import EXTENSIONS, FileSpec, detect, read_files
from nasjax.data.schema import normalize_symbol, timeframe_str, timeframe_us
from nasjax.data.validate import check_timeframe, check_values, order_and_repair

logger = logging.getLogger("nasjax.data")

PathLike = str | Path


def expand_sources(source: PathLike | Sequence[PathLike]) -> list[Path]:
    """Files named by ``source``: a file, a folder (searched recursively for
    known extensions, sorted by path) or a list of those."""
    items = [source] if isinstance(source, str | Path) else list(source)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in EXTENSIONS
            )
            if not found:
                raise DataError(f"no data files {EXTENSIONS} in folder{where(p)}")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise DataError(f"no such file or folder{where(p)}")
    if not files:
        raise DataError("no source files given")
    return files


def load_ohlcv(
    source: PathLike | Sequence[PathLike],
    format: str = "auto",
    timeframe: str | None = None,
    symbols: Sequence[str] | None = None,
    column_map: dict[str, str] | None = None,
    repair: Sequence[str] = (),
    return_report: bool = False,
) -> pl.DataFrame | tuple[pl.DataFrame, LoadReport]:
    """Loads OHLCV candles from files into one validated long frame.

    Symbols follow the ``BASE/QUOTE`` convention (``"BTC/USDT"``; perpetuals
    ``"XRP/USDT:USDT"``), whatever the source spelling (see
    `nasjax.data.schema.normalize_symbol`).

    Formats (``format="auto"`` decides per file):
      * ``"binance"``: kline CSV of data.binance.vision (12 columns, with or
        without header; open time in ms or, from 2025, us; ``.csv`` or a
        ``.zip`` holding one csv). Symbol and interval come from the name
        ``BTCUSDT-5m-2023-01.csv``. Extra columns kept: ``quote_volume``,
        ``trades``, ``taker_buy_volume``, ``taker_buy_quote_volume``.
      * ``"freqtrade_json"``: ``[[ms, o, h, l, c, v], ...]`` named
        ``BASE_QUOTE-5m.json``.
      * ``"freqtrade_feather"``: ``date`` + OHLCV, named ``BASE_QUOTE-5m.feather``
        or ``BASE_QUOTE_SETTLE-5m-futures.feather``.
      * ``"csv"`` / ``"parquet"``: generic tables; ``column_map`` renames
        columns to ``timestamp``/``symbol``/``open``...; the time column may be
        epoch s/ms/us/ns, a string or a datetime (naive = UTC); the symbol comes
        from a ``symbol`` column or from a freqtrade-style file name.

    Extra numeric columns are kept as Float64; non-numeric extras are dropped.

    Args:
        source: A file, a folder (recursive) or a list of files/folders.
        format: One of ``"auto"``, ``"binance"``, ``"freqtrade_json"``,
            ``"freqtrade_feather"``, ``"csv"``, ``"parquet"``.
        timeframe: E.g. ``"5m"``. Selects files whose name carries this
            timeframe (others are skipped) and validates the data against it.
        symbols: Keep only these symbols (any spelling); each must be present.
        column_map: ``{source_column: canonical_column}`` for generic tables.
        repair: Explicit repairs, counted in the report: ``"sort"`` (sort rows
            by time) and ``"dedupe"`` (drop repeated timestamps, keep first).
            Nothing else is ever changed or dropped.
        return_report: Also return a `LoadReport`.

    Returns:
        Frame sorted by (symbol, timestamp) with ``timestamp``
        (``Datetime("us", "UTC")``, candle open time), ``symbol`` (String),
        ``open``, ``high``, ``low``, ``close``, ``volume`` (Float64) and any
        extras; with ``return_report`` a ``(frame, report)`` tuple.

    Raises:
        DataError: Bad input; the message names file, column and row/timestamp.
    """
    files = expand_sources(source)
    specs = [detect(f, format) for f in files]
    if timeframe is not None:
        requested_us = timeframe_us(timeframe)
        kept = [s for s in specs if s.timeframe in (None, timeframe)]
        if not kept:
            raise DataError(f"no file has timeframe {timeframe!r}{where(files[0])}")
        have = {s.symbol for s in kept}
        only_other = sorted(
            {
                f"{s.symbol} ({s.timeframe})"
                for s in specs
                if s.timeframe not in (None, timeframe) and s.symbol not in have
            }
        )
        if only_other:
            logger.warning(
                "timeframe %s: skipping symbols whose files are all of another "
                "timeframe: %s",
                timeframe,
                ", ".join(only_other),
            )
        specs = kept
    else:
        requested_us = None
    wanted = None
    if symbols is not None:
        wanted = [normalize_symbol(s) for s in symbols]
        specs = [s for s in specs if s.symbol is None or s.symbol in wanted]
        if not specs:
            raise DataError(f"requested symbol(s) {wanted} absent from the sources")
    df = read_files(specs, column_map)
    seen_files = set(df["__file"].unique())
    for s in specs:
        if str(s.path) not in seen_files:
            raise DataError(f"empty file (no data rows){where(s.path)}")
    if wanted is not None:
        present = set(df["symbol"].unique())
        absent = [w for w in wanted if w not in present]
        if absent:
            raise DataError(
                f"requested symbol(s) {absent} absent from the sources "
                f"(available: {sorted(present)})"
            )
        df = df.filter(pl.col("symbol").is_in(wanted))
    name_tfs = _name_timeframes(specs, df)
    for sym, tfs in name_tfs.items():
        if len(tfs) > 1:
            raise DataError(
                f"mixed timeframes {sorted(tfs)} in one symbol (pass timeframe=)"
                f"{where(symbol=sym)}"
            )
    check_values(df)
    df, rows_sorted, n_dup = order_and_repair(df, tuple(repair))
    tf_us = check_timeframe(df, name_tfs, requested_us)
    df = df.drop("__file", "__row")
    if not return_report:
        return df
    counts = df.group_by("symbol", maintain_order=True).len()
    report = LoadReport(
        files=tuple(str(s.path) for s in specs),
        rows_per_symbol=dict(zip(counts["symbol"], counts["len"], strict=True)),
        timeframe=None if tf_us is None else timeframe_str(tf_us),
        rows_sorted=rows_sorted,
        duplicates_dropped=n_dup,
    )
    return df, report


def _name_timeframes(specs: list[FileSpec], df: pl.DataFrame) -> dict[str, set[str]]:
    by_file = {str(s.path): s.timeframe for s in specs if s.timeframe is not None}
    if not by_file:
        return {}
    if all(s.symbol is not None for s in specs if s.timeframe is not None):
        # Symbol and timeframe both come from the names (symbols filter applied).
        present = set(df["symbol"].unique())
        out: dict[str, set[str]] = {}
        for s in specs:
            if s.timeframe is not None and s.symbol is not None and s.symbol in present:
                out.setdefault(s.symbol, set()).add(s.timeframe)
        return out
    pairs = (
        df.select("symbol", "__file")
        .unique()
        .filter(pl.col("__file").is_in(list(by_file)))
    )
    out = {}
    for sym, f in pairs.iter_rows():
        out.setdefault(sym, set()).add(by_file[f])
    return out
