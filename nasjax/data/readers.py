"""Per-format readers: each file becomes a lazy frame in the canonical schema.

Every reader returns a `polars.LazyFrame` with columns ``timestamp``
(``Datetime("us", "UTC")``, candle open time), ``symbol`` (normalised, see
`nasjax.data.schema`), ``open``, ``high``, ``low``, ``close``, ``volume``
(Float64), extra numeric columns as Float64, and the bookkeeping columns
``__file`` (source path) and ``__row`` (0-based data row in the file) used for
error messages. Validation happens later, on all files at once.
"""

from __future__ import annotations

import dataclasses
import re
import zipfile
from pathlib import Path

import numpy as np
import polars as pl

from nasjax import safe_json
from nasjax.data.errors import DataError, where
from nasjax.data.schema import OHLCV_COLUMNS, TIMESTAMP_DTYPE, normalize_symbol

FORMATS: tuple[str, ...] = (
    "auto",
    "binance",
    "freqtrade_json",
    "freqtrade_feather",
    "csv",
    "parquet",
)
EXTENSIONS: tuple[str, ...] = (".csv", ".zip", ".json", ".feather", ".parquet")

BINANCE_COLUMNS: tuple[str, ...] = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
_BINANCE_KEEP = ("quote_volume", "trades", "taker_buy_volume", "taker_buy_quote_volume")
_BINANCE_NAME = re.compile(
    r"^(?P<sym>[A-Z0-9]+)-(?P<tf>\d+[smhdw])-\d{4}-\d{2}(?:-\d{2})?$"
)
_FREQTRADE_NAME = re.compile(
    r"^(?P<pair>[A-Za-z0-9]+(?:_[A-Za-z0-9]+){1,2})-(?P<tf>\d+[smhdw])"
    r"(?:-(?P<kind>[a-z_]+))?$"
)
_TIME_CANDIDATES = ("timestamp", "date", "datetime", "time", "open_time")
_BOOKKEEPING = ("__file", "__row")


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """A source file with its detected format and file-name metadata.

    Attributes:
        path: The file.
        format: One of `FORMATS` except ``"auto"``.
        symbol: Normalised symbol from the file name, or None.
        timeframe: Timeframe from the file name (e.g. ``"5m"``), or None.
    """

    path: Path
    format: str
    symbol: str | None
    timeframe: str | None


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


def parse_name(path: Path) -> tuple[str | None, str | None]:
    """Symbol and timeframe from a Binance or freqtrade file name.

    ``BTCUSDT-5m-2023-01.csv`` -> ``("BTC/USDT", "5m")``;
    ``BTC_USDT-5m.json`` -> ``("BTC/USDT", "5m")``;
    ``XRP_USDT_USDT-5m-futures.feather`` -> ``("XRP/USDT:USDT", "5m")``.
    Other names give ``(None, None)``.
    """
    stem = _stem(path)
    m = _BINANCE_NAME.match(stem) or _FREQTRADE_NAME.match(stem)
    if m is None:
        return None, None
    raw = m.groupdict().get("sym") or m.group("pair")
    return normalize_symbol(raw), m.group("tf")


def _first_line(path: Path) -> str:
    with path.open("rb") as f:
        return f.readline(4096).decode("utf-8", "replace").strip()


def detect(path: Path, fmt: str = "auto") -> FileSpec:
    """Detects the format of one file.

    Args:
        path: The file.
        fmt: Requested format, or ``"auto"`` to decide from the extension and,
            for ``.csv``, the name (``SYMBOL-5m-YYYY-MM``) or the first line
            (12 numeric fields or a Binance header -> Binance).

    Returns:
        The `FileSpec`.

    Raises:
        DataError: Unknown format or extension, or an empty file.
    """
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}, expected one of {FORMATS}")
    if not path.is_file():
        raise DataError(f"no such file{where(path)}")
    if path.stat().st_size == 0:
        raise DataError(f"empty file{where(path)}")
    symbol, timeframe = parse_name(path)
    ext = path.suffix.lower()
    if fmt == "auto":
        if ext == ".zip":
            fmt = "binance"
        elif ext == ".json":
            fmt = "freqtrade_json"
        elif ext == ".feather":
            fmt = "freqtrade_feather"
        elif ext == ".parquet":
            fmt = "parquet"
        elif ext == ".csv":
            first = _first_line(path)
            fields = first.split(",")
            is_binance_header = fields[:2] == ["open_time", "open"]
            binance_name = _BINANCE_NAME.match(_stem(path)) is not None
            if (
                (len(fields) == 12 and first[:1].isdigit())
                or is_binance_header
                or binance_name
            ):
                fmt = "binance"
            else:
                fmt = "csv"
        else:
            raise DataError(
                f"unknown format: extension {ext!r} (expected one of "
                f"{EXTENSIONS}){where(path)}"
            )
    return FileSpec(path=path, format=fmt, symbol=symbol, timeframe=timeframe)


def epoch_to_ts(expr: pl.Expr) -> pl.Expr:
    """Integer epoch in s/ms/us/ns (detected per value by magnitude) -> UTC us."""
    a = expr.cast(pl.Int64)
    us = (
        pl.when(a.abs() < 100_000_000_000)
        .then(a * 1_000_000)
        .when(a.abs() < 100_000_000_000_000)
        .then(a * 1_000)
        .when(a.abs() < 100_000_000_000_000_000)
        .then(a)
        .otherwise(a // 1_000)
    )
    return us.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _finish(
    lf: pl.LazyFrame, spec: FileSpec, symbol_from_column: bool = False
) -> pl.LazyFrame:
    schema = lf.collect_schema()
    missing = [c for c in ("timestamp", *OHLCV_COLUMNS) if c not in schema]
    if missing:
        raise DataError(
            f"missing column(s) {missing} (have {list(schema)}){where(spec.path)}"
        )
    if not symbol_from_column:
        if spec.symbol is None:
            raise DataError(
                "no symbol: the file name does not follow BASE_QUOTE-<tf>.<ext> or "
                f"SYMBOL-<tf>-YYYY-MM.<ext> and there is no 'symbol' column"
                f"{where(spec.path)}"
            )
        lf = lf.with_columns(pl.lit(spec.symbol).alias("symbol"))
    extras = []
    for name, dtype in schema.items():
        if name in ("timestamp", "symbol", *OHLCV_COLUMNS):
            continue
        if dtype.is_numeric():
            extras.append(name)
    for name in OHLCV_COLUMNS:
        dtype = schema[name]
        if dtype == pl.String and _all_numbers(lf, name):
            continue  # e.g. a lowercase "nan" cell: cast, then located by validation
        if not dtype.is_numeric():
            _raise_non_numeric(lf, spec, name)
    return lf.select(
        pl.col("timestamp"),
        pl.col("symbol").cast(pl.String),
        *[pl.col(c).cast(pl.Float64) for c in (*OHLCV_COLUMNS, *extras)],
        pl.lit(str(spec.path)).alias("__file"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("__row"),
    )


def _all_numbers(lf: pl.LazyFrame, column: str) -> bool:
    """Whether every non-null cell of a text column reads as a float
    (``"nan"``, ``"inf"`` included)."""
    col = pl.col(column)
    bad = col.is_not_null() & col.cast(pl.Float64, strict=False).is_null()
    return not lf.select(bad.any()).collect().item()


def _raise_non_numeric(lf: pl.LazyFrame, spec: FileSpec, column: str) -> None:
    df = (
        lf.select(pl.col(column).cast(pl.String))
        .with_row_index("__i")
        .filter(
            pl.col(column).is_not_null()
            & pl.col(column).cast(pl.Float64, strict=False).is_null()
        )
        .head(1)
        .collect()
    )
    detail = ""
    row = None
    if df.height:
        row = int(df["__i"][0])
        detail = f": value {df[column][0]!r} is not a number"
    raise DataError(f"non-numeric column{detail}{where(spec.path, column, row)}")


_BINANCE_TYPED: dict[str, pl.DataType] = {
    **{c: pl.Float64() for c in BINANCE_COLUMNS},
    "open_time": pl.Int64(),
    "close_time": pl.String(),  # never used: projected away, never parsed
    "ignore": pl.String(),
}
"""Fast-path schema: parse numbers while reading (a bad cell raises)."""
_BINANCE_TEXT: dict[str, pl.DataType] = {c: pl.String() for c in BINANCE_COLUMNS}
"""Slow-path schema: everything as text; bad cells become nulls located by
`nasjax.data.validate` (file, column, row)."""


def read_zip_csv(path: Path) -> bytes:
    """The bytes of the one ``.csv`` inside a zip archive.

    Raises:
        DataError: Naming the file, if the archive is truncated or corrupted
            (bad CRC, bad headers, undecompressable data...) or does not hold
            exactly one ``.csv``.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
            raw = zf.read(names[0]) if len(names) == 1 else None
    except Exception as e:  # zipfile raises many types on a damaged archive
        raise DataError(
            f"broken zip file, download it again ({type(e).__name__}: {e}){where(path)}"
        ) from e
    if raw is None:
        raise DataError(
            f"expected exactly one .csv inside the zip, found {names}{where(path)}"
        )
    return raw


def _binance_select(lf: pl.LazyFrame, typed: bool) -> list[pl.Expr]:
    """Canonical columns of a Binance scan (typed or all-text schema)."""
    values = ("open", "high", "low", "close", "volume", *_BINANCE_KEEP)
    if typed:
        return [
            epoch_to_ts(pl.col("open_time")).alias("timestamp"),
            *[pl.col(c) for c in values],
        ]
    # Unparsable cells become null here and are reported by validation.
    return [
        epoch_to_ts(pl.col("open_time").cast(pl.Int64, strict=False)).alias(
            "timestamp"
        ),
        *[pl.col(c).cast(pl.Float64, strict=False) for c in values],
    ]


def _read_binance(spec: FileSpec) -> pl.LazyFrame:
    if spec.path.suffix.lower() == ".zip":
        raw = read_zip_csv(spec.path)
        if not raw.strip():
            raise DataError(f"empty file{where(spec.path)}")
        source: Path | bytes = raw
        first = raw[:4096].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    else:
        source = spec.path
        first = _first_line(spec.path)
    has_header = not first[:1].isdigit()
    n_fields = len(first.split(","))
    if n_fields != len(BINANCE_COLUMNS):
        raise DataError(
            f"Binance kline CSV needs {len(BINANCE_COLUMNS)} columns "
            f"{BINANCE_COLUMNS}, found {n_fields}{where(spec.path, row=0)}"
        )

    def scan(typed: bool) -> pl.LazyFrame:
        lf = pl.scan_csv(
            source,
            has_header=False,
            skip_rows=int(has_header),
            schema=_BINANCE_TYPED if typed else _BINANCE_TEXT,
        )
        return lf.select(_binance_select(lf, typed))

    try:  # fast path: typed parse; on a bad cell, re-read as text to locate it
        numeric = scan(typed=True).collect().lazy()
    except pl.exceptions.PolarsError:
        numeric = scan(typed=False)
    return _finish(numeric, spec)


def _read_binance_csvs(specs: list[FileSpec]) -> pl.DataFrame:
    """Reads many plain Binance CSVs with one multi-file scan per header kind.

    The scan parses numbers directly (typed schema). Only if that fails (a
    cell that is not a number) are the files re-read as text, so that the bad
    cell becomes a null that `nasjax.data.validate` reports by file, column
    and row.
    """
    groups: dict[bool, list[FileSpec]] = {}
    for spec in specs:
        first = _first_line(spec.path)
        if len(first.split(",")) != len(BINANCE_COLUMNS):
            raise DataError(
                f"Binance kline CSV needs {len(BINANCE_COLUMNS)} columns "
                f"{BINANCE_COLUMNS}, found {len(first.split(','))}"
                f"{where(spec.path, row=0)}"
            )
        if spec.symbol is None:
            raise DataError(
                f"no symbol: Binance file names look like BTCUSDT-5m-2023-01.csv"
                f"{where(spec.path)}"
            )
        groups.setdefault(not first[:1].isdigit(), []).append(spec)
    # The file column is an Enum over all (sorted) paths: 4 bytes a row instead
    # of a string, it sorts like the path strings and reads back as str.
    paths = sorted({str(s.path) for s in specs})
    file_dtype = pl.Enum(paths)
    by_path = {str(s.path): s.symbol for s in specs}
    symbol_of = pl.Series("symbol", [by_path[p] for p in paths], pl.String)
    out = []
    for has_header, group in groups.items():

        def scan(typed: bool, group=group, has_header=has_header) -> pl.LazyFrame:
            lf = pl.scan_csv(
                [g.path for g in group],
                has_header=False,
                skip_rows=int(has_header),
                schema=_BINANCE_TYPED if typed else _BINANCE_TEXT,
                include_file_paths="__file",
            )
            return lf.select(
                *_binance_select(lf, typed), pl.col("__file").cast(file_dtype)
            )

        try:
            frame = scan(typed=True).collect()
        except pl.exceptions.PolarsError:
            try:
                frame = scan(typed=False).collect()
            except pl.exceptions.PolarsError as e:
                raise _locate_unreadable(group, has_header, e) from e
        code = frame["__file"].to_physical()
        out.append(
            frame.select(
                "timestamp",
                symbol_of.gather(code).alias("symbol"),
                pl.exclude("timestamp", "__file"),
                "__file",
                pl.int_range(pl.len(), dtype=pl.Int64).over("__file").alias("__row"),
            )
        )
    return pl.concat(out)


def _locate_unreadable(
    group: list[FileSpec], has_header: bool, error: Exception
) -> DataError:
    """The `DataError` naming the first file of ``group`` that the text scan
    cannot read (e.g. a row with another number of fields)."""
    for spec in group:
        try:
            pl.scan_csv(
                spec.path,
                has_header=False,
                skip_rows=int(has_header),
                schema=_BINANCE_TEXT,
            ).collect()
        except pl.exceptions.PolarsError as e:
            error = e
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            return DataError(
                f"cannot read Binance CSV ({type(e).__name__}: {first})"
                f"{where(spec.path)}"
            )
    return DataError(
        f"cannot read Binance CSVs ({type(error).__name__}: {error})"
        f"{where(group[0].path)}"
    )


def read_files(
    specs: list[FileSpec], column_map: dict[str, str] | None = None
) -> pl.DataFrame:
    """Reads and concatenates many files (canonical schema, not validated).

    Plain Binance CSVs are read with one multi-file scan; other files one by
    one. Columns missing in some files (extras) are null there.

    Args:
        specs: Detected files.
        column_map: See `read_file`.

    Returns:
        The concatenated frame with ``__file``/``__row`` bookkeeping columns.
    """
    plain = [
        s for s in specs if s.format == "binance" and s.path.suffix.lower() == ".csv"
    ]
    frames = [_read_binance_csvs(plain)] if plain else []
    frames += [_read_collect(s, column_map) for s in specs if s not in plain]
    return pl.concat(frames, how="diagonal_relaxed")


def _read_collect(spec: FileSpec, column_map: dict[str, str] | None) -> pl.DataFrame:
    """`read_file` collected; a reader's own error becomes a `DataError`
    naming the file."""
    try:
        return read_file(spec, column_map).collect()
    except (pl.exceptions.PolarsError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataError(
            f"cannot read {spec.format} file ({type(e).__name__}: {first})"
            f"{where(spec.path)}"
        ) from e


def _read_freqtrade_json(spec: FileSpec) -> pl.LazyFrame:
    raw = spec.path.read_bytes()
    try:
        rows = safe_json.loads(raw)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError,
        # an integer of over 4300 digits, or nesting deeper than the parser's stack
        raise DataError(
            f"invalid JSON ({type(e).__name__}: {e}){where(spec.path)}"
        ) from e
    if not isinstance(rows, list):
        raise DataError(f"expected a JSON array of rows{where(spec.path)}")
    if not rows:
        raise DataError(f"empty file{where(spec.path)}")
    names = ("timestamp", *OHLCV_COLUMNS)
    try:
        arr = np.asarray(rows, dtype=np.float64)
        ok = arr.ndim == 2 and arr.shape[1] == len(names)
    except (ValueError, TypeError, OverflowError):
        ok = False
    if ok and _JSON_BOOL.search(raw):  # numpy reads true/false as 1/0: find the row
        ok = False
    if not ok:
        for i, r in enumerate(rows):  # error path only: find the bad row
            if not isinstance(r, list) or len(r) != len(names):
                raise DataError(
                    f"expected rows [ms, open, high, low, close, volume], got {r!r}"
                    f"{where(spec.path, row=i)}"
                )
            for name, v in zip(names, r, strict=True):
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise DataError(
                        f"non-numeric value {v!r}{where(spec.path, name, i)}"
                    )
        raise DataError(f"unreadable rows{where(spec.path)}")
    ts = arr[:, 0]
    wrong = ~np.isfinite(ts) | (ts != np.round(ts)) | (np.abs(ts) >= 2.0**63)
    if wrong.any():
        bad = int(np.argmax(wrong))
        raise DataError(
            f"timestamp {rows[bad][0]!r} is not an integer epoch (s, ms, us or ns)"
            f"{where(spec.path, 'timestamp', bad)}"
        )
    data = {"timestamp": ts.astype(np.int64)}
    data.update({c: arr[:, j + 1] for j, c in enumerate(OHLCV_COLUMNS)})
    lf = pl.DataFrame(data).lazy()
    lf = lf.with_columns(epoch_to_ts(pl.col("timestamp")).alias("timestamp"))
    return _finish(lf, spec)


_JSON_BOOL = re.compile(rb"\btrue\b|\bfalse\b")
"""A JSON boolean anywhere in a file of rows (a price cannot be one)."""

_AWARE = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}:?\d{2})$"
"""A time of day followed by a UTC offset: ``Z``, ``+00:00``, ``+0000``..."""
_AWARE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%z")


def parse_times(text: pl.Series) -> pl.Series:
    """Date-time text -> ``Datetime("us", "UTC")`` (null where unparsable).

    Values ending in a UTC offset (``2023-01-01T00:05:00Z``, ``...+00:00``,
    ``...+0000``, ``...+01:00``; ``T`` or a space before the time) are
    converted to UTC; the others are naive and taken as UTC, their format
    inferred from the first one (``2023-01-01 00:05:00``, ``2023-01-01``...).

    Args:
        text: String values.

    Returns:
        The parsed times, same length.
    """
    text = text.str.strip_chars()
    aware = text.str.contains(_AWARE).fill_null(False)
    iso = text.str.replace(r"[zZ]$", "+00:00").str.replace(
        r"^(\d{4}-\d{2}-\d{2})[Tt ]\s*", "${1} "
    )
    with_offset = pl.select(
        pl.coalesce(
            iso.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False)
            for f in _AWARE_FORMATS
        )
    ).to_series()
    naive = text.filter(~aware)
    out = with_offset
    if naive.len():
        try:
            parsed = naive.str.to_datetime(time_unit="us", strict=False)
        except pl.exceptions.ComputeError:  # no format fits the first value
            parsed = pl.Series(naive.name, [None] * naive.len(), pl.Datetime("us"))
        if not isinstance(parsed.dtype, pl.Datetime):  # e.g. all null
            parsed = parsed.cast(pl.Datetime("us"))
        out = out.scatter(
            (~aware).arg_true(), parsed.dt.replace_time_zone("UTC").cast(out.dtype)
        )
    return out.alias(text.name)


def _check_integral_epochs(lf: pl.LazyFrame, spec: FileSpec) -> None:
    """Refuses float epochs that are not whole numbers of a unit (``1.5e9``
    seconds would be silently rounded) or beyond the int64 range."""
    col = pl.col("timestamp")
    wrong = (col != col.round()) | ~col.is_finite() | (col.abs() >= 2.0**63)
    bad = (
        lf.select(col, pl.int_range(pl.len(), dtype=pl.Int64).alias("__i"))
        .filter(wrong.fill_null(False))
        .head(1)
        .collect()
    )
    if bad.height:
        raise DataError(
            f"timestamp {bad['timestamp'][0]!r} is not an integer epoch (s, ms, "
            f"us or ns){where(spec.path, 'timestamp', int(bad['__i'][0]))}"
        )


def _to_utc(lf: pl.LazyFrame, spec: FileSpec) -> pl.LazyFrame:
    """Converts the ``timestamp`` column of any supported dtype to UTC us."""
    dtype = lf.collect_schema()["timestamp"]
    col = pl.col("timestamp")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:  # naive times are taken as UTC
            expr = col.dt.replace_time_zone("UTC")
        else:
            expr = col.dt.convert_time_zone("UTC")
        expr = expr.dt.cast_time_unit("us")
    elif isinstance(dtype, pl.Date):
        expr = col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif dtype.is_integer():
        expr = epoch_to_ts(col)
    elif dtype.is_float():
        _check_integral_epochs(lf, spec)
        expr = epoch_to_ts(col)
    elif dtype == pl.String:
        df = lf.collect()
        text = df["timestamp"]
        parsed = parse_times(text)
        bad = parsed.is_null() & text.is_not_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            raise DataError(
                f"unparsable timestamp {text[row]!r}"
                f"{where(spec.path, 'timestamp', row)}"
            )
        return df.with_columns(parsed.cast(TIMESTAMP_DTYPE).alias("timestamp")).lazy()
    else:
        raise DataError(
            f"timestamp column has unsupported dtype {dtype}"
            f"{where(spec.path, 'timestamp')}"
        )
    return lf.with_columns(expr.cast(TIMESTAMP_DTYPE).alias("timestamp"))


def _read_table(
    spec: FileSpec, column_map: dict[str, str] | None
) -> tuple[pl.LazyFrame, bool]:
    if spec.format == "csv":
        lf = pl.scan_csv(spec.path, infer_schema_length=10_000)
    elif spec.format == "parquet":
        lf = pl.scan_parquet(spec.path)
    else:
        lf = pl.read_ipc(spec.path).lazy()
    if column_map:
        schema = lf.collect_schema()
        absent = [k for k in column_map if k not in schema]
        if absent:
            raise DataError(
                f"column_map names missing column(s) {absent} (have {list(schema)})"
                f"{where(spec.path)}"
            )
        lf = lf.rename(column_map)
    schema = lf.collect_schema()
    lower = {c.lower(): c for c in schema}
    if "timestamp" not in schema:
        for cand in _TIME_CANDIDATES:
            if cand in lower:
                lf = lf.rename({lower[cand]: "timestamp"})
                break
    renames = {lower[c]: c for c in OHLCV_COLUMNS if c not in schema and c in lower}
    if renames:
        lf = lf.rename(renames)
    schema = lf.collect_schema()
    if "timestamp" not in schema:
        raise DataError(
            f"missing column 'timestamp' (or one of {_TIME_CANDIDATES}; use "
            f"column_map){where(spec.path, 'timestamp')}"
        )
    if lf.select(pl.len()).collect().item() == 0:
        raise DataError(f"empty file{where(spec.path)}")
    lf = _to_utc(lf, spec)
    has_symbol = "symbol" in schema
    if has_symbol:
        raw = lf.select(pl.col("symbol").cast(pl.String).unique()).collect()
        mapping = {r: normalize_symbol(r) for r in raw["symbol"].drop_nulls()}
        lf = lf.with_columns(
            pl.col("symbol").cast(pl.String).replace_strict(mapping, default=None)
        )
    return lf, has_symbol


def read_file(spec: FileSpec, column_map: dict[str, str] | None = None) -> pl.LazyFrame:
    """Reads one file into the canonical lazy schema (see module docstring).

    Args:
        spec: The detected file.
        column_map: Optional renames ``{source_name: canonical_name}`` applied
            before anything else (generic CSV/Parquet/feather).

    Returns:
        A lazy frame; not validated yet.

    Raises:
        DataError: Missing or non-numeric columns, empty file, no symbol.
    """
    if spec.format == "binance":
        return _read_binance(spec)
    if spec.format == "freqtrade_json":
        return _read_freqtrade_json(spec)
    lf, has_symbol = _read_table(spec, column_map)
    return _finish(lf, spec, symbol_from_column=has_symbol)
