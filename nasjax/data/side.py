"""Side series (sentiment, on-chain activity) as features, joined as of
their publication.

A side series is a CSV or Parquet table of timestamped numeric values, either
market-wide (one row per time, broadcast to every coin) or per coin (a symbol
column). A value stamped ``t0`` becomes visible at ``t0 + lag``; the bar that
opens at ``t`` sees the latest value visible at ``t`` (an as-of backward
join), as long as it became visible at most ``max_age`` before ``t``. A date
without a time of day stamps 00:00 UTC of that day, so with the default lag of
one day a daily value dated D is first seen by the first bar of day D + 1:
bars during day D see day D - 1's value.

Bars without a visible value (before the series starts, after it ends, in a
gap longer than ``max_age``) get a missing feature: by default no sample
whose window touches such a bar is labelled (``missing="mask"``, logged), or
the build fails (``missing="error"``). A series that gives no bar of the
panel a value is refused.

The bundled example: ``path="fear_greed"`` is the daily Crypto Fear & Greed
index (``nasjax/data/side_sample/fear_greed_index.csv``, 2018-02-01..2020-11-30
and 2021-07-18..2023-12-31; see ``PROVENANCE.md`` there).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from nasjax.data.errors import DataError, where
from nasjax.data.readers import epoch_to_ts, parse_times
from nasjax.data.schema import TIMESTAMP_DTYPE, normalize_symbol, timeframe_us

logger = logging.getLogger("nasjax.data")

SIDE_DIR = Path(__file__).parent / "side_sample"
"""Folder of the bundled side series (with their ``PROVENANCE.md``)."""
SIDE_PRESETS: dict[str, Path] = {"fear_greed": SIDE_DIR / "fear_greed_index.csv"}
"""Names ``SideSeries.path`` may take for the series bundled with the package:
``fear_greed`` is the daily Crypto Fear & Greed index (column ``fng_value``,
0 = extreme fear .. 100 = extreme greed)."""

TIME_COLUMNS: tuple[str, ...] = ("timestamp", "date", "datetime", "time")
"""Time columns looked for (case-insensitively, in this order) when
``SideSeries.time_column`` is None."""

MISSING_POLICIES: tuple[str, ...] = ("mask", "error")
"""``SideSeries.missing`` values."""

SIDE_EXTENSIONS: tuple[str, ...] = (".csv", ".parquet", ".pq")
"""File types a side series is read from."""

_US_PER_DAY = 86_400_000_000


def _duration_us(text: str) -> int:
    """``"0"`` (or ``"0h"``...) -> 0, else `nasjax.data.schema.timeframe_us`
    (``"90m"``, ``"1d"``)."""
    text = text.strip()
    return 0 if re.fullmatch(r"0+[smhdw]?", text) else timeframe_us(text)


@dataclasses.dataclass(frozen=True)
class SideSeries:
    """One side series joined onto the candles as feature columns.

    Attributes:
        path: A CSV or Parquet file, or the name of a bundled series
            (:data:`SIDE_PRESETS`: ``fear_greed``).
        columns: Numeric columns that become features (empty: every numeric
            column but the time and ``symbol_column`` columns). A named column that is
            not numeric (e.g. the text ``fng_class``) is refused; encode
            categories as numbers first.
        time_column: Column of the values' time stamps (None: the first of
            :data:`TIME_COLUMNS` present, any case). Datetimes (naive = UTC),
            dates (00:00 UTC), ISO text (with or without a UTC offset) or
            integer epochs (s, ms, us or ns) are understood.
        symbol_column: Column holding the coin of each row, for per-coin series
            (``BTC/USDT``, ``BTCUSDT``... match that pair; a bare asset such as
            ``BTC`` matches every pair with that base); None: one market-wide
            value per time, the same for every coin.
        lag: Publication lag: a value stamped ``t0`` is visible from
            ``t0 + lag`` on (``"1d"``, ``"90m"``, ``"0"``). The default of
            one day lets bars of day D see the value dated D - 1 at the
            latest: right for daily series such as Fear & Greed, stamped with
            the day they describe; intraday series stamped with their
            publication time may use ``"0"``.
        max_age: A value stays usable this long after it became visible
            (``"7d"``); older, the bar has no value (see ``missing``). None:
            no limit (a value is carried over any gap).
        missing: What a candle bar without a visible value does: ``mask``
            (its feature is missing, so no sample whose window touches it is
            labelled; the count is logged) or ``error`` (a `DataError`
            naming the first such bar).
        prefix: Prepended to the column names to make the feature names
            (e.g. ``"onchain_"``); the names must not collide with other
            features.

    Raises:
        ValueError: On an empty path, a bad lag or max_age, or an unknown
            missing policy.
    """

    path: str
    columns: tuple[str, ...] = ()
    time_column: str | None = None
    symbol_column: str | None = None
    lag: str = "1d"
    max_age: str | None = "7d"
    missing: str = "mask"
    prefix: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not str(self.path).strip():
            problems.append("data.side: path is empty")
        for key in ("lag", "max_age"):
            value = getattr(self, key)
            if value is None:
                continue
            try:
                _duration_us(str(value))
            except DataError as e:
                problems.append(f"data.side {self.path}: {key}: {e}")
        if self.missing not in MISSING_POLICIES:
            problems.append(
                f"data.side {self.path}: missing must be one of {MISSING_POLICIES}, "
                f"got {self.missing!r}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def file(self) -> Path:
        """The file read: the bundled one of a preset name, else ``path``."""
        preset = SIDE_PRESETS.get(str(self.path))
        return preset if preset is not None else Path(self.path).expanduser()

    def absolute(self) -> SideSeries:
        """This series with an absolute file path (preset names kept), so it
        can be read again from another working folder (model exports)."""
        if str(self.path) in SIDE_PRESETS:
            return self
        return dataclasses.replace(self, path=str(self.file.absolute()))


@dataclasses.dataclass(frozen=True)
class SideTable:
    """A side series read and checked (`read_side`).

    Attributes:
        series: Its configuration.
        visible: ``int64[N]`` epoch microseconds (UTC) from which each row
            is visible (time stamp + lag).
        keys: ``[N]`` normalised symbol of each row (None: market-wide).
        values: Column name -> ``float64[N]`` (NaN: no value in that row).
    """

    series: SideSeries
    visible: np.ndarray
    keys: np.ndarray | None
    values: dict[str, np.ndarray]


def _read_table(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise DataError(f"no such side-data file{where(path)}")
    suffix = path.suffix.lower()
    if suffix not in SIDE_EXTENSIONS:
        raise DataError(
            f"side data must be one of {SIDE_EXTENSIONS}, got {suffix!r}{where(path)}"
        )
    try:
        if suffix == ".csv":
            frame = pl.read_csv(path, infer_schema_length=None)
        else:
            frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise DataError(f"unreadable side data ({e}){where(path)}") from e
    if frame.height == 0:
        raise DataError(f"side data has no rows{where(path)}")
    return frame


def _time_column(frame: pl.DataFrame, series: SideSeries, path: Path) -> str:
    if series.time_column is not None:
        if series.time_column not in frame.columns:
            raise DataError(
                f"side data has no time column {series.time_column!r} (columns: "
                f"{frame.columns}){where(path, series.time_column)}"
            )
        return series.time_column
    lower = {c.lower(): c for c in frame.columns}
    for cand in TIME_COLUMNS:
        if cand in lower:
            return lower[cand]
    raise DataError(
        f"side data has none of the time columns {TIME_COLUMNS} (columns: "
        f"{frame.columns}; set time_column){where(path)}"
    )


def _stamps_us(col: pl.Series, path: Path) -> np.ndarray:
    """A time column of any supported dtype -> ``int64`` epoch microseconds."""
    name = col.name
    dtype = col.dtype
    if isinstance(dtype, pl.Datetime):
        stamps = (
            col.dt.replace_time_zone("UTC")
            if dtype.time_zone is None
            else col.dt.convert_time_zone("UTC")
        )
    elif isinstance(dtype, pl.Date):
        stamps = col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif dtype.is_integer() or dtype.is_float():
        if dtype.is_float():
            bad = (col != col.round()) | ~col.is_finite()
            if bad.fill_null(False).any():
                row = int(bad.fill_null(False).arg_true()[0])
                raise DataError(
                    f"time {col[row]!r} is not an integer epoch{where(path, name, row)}"
                )
        stamps = col.to_frame().select(epoch_to_ts(pl.col(name))).to_series()
    elif dtype == pl.String:
        stamps = parse_times(col)
        bad = stamps.is_null() & col.is_not_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            raise DataError(f"unparsable time {col[row]!r}{where(path, name, row)}")
    else:
        raise DataError(f"time column has unsupported dtype {dtype}{where(path, name)}")
    if stamps.is_null().any():
        row = int(stamps.is_null().arg_true()[0])
        raise DataError(f"empty time{where(path, name, row)}")
    return stamps.cast(TIMESTAMP_DTYPE).to_physical().to_numpy().astype(np.int64)


def _numeric(col: pl.Series, path: Path) -> np.ndarray:
    """A value column -> ``float64`` (NaN where null); refuses text and inf."""
    name = col.name
    if col.dtype == pl.Boolean:
        col = col.cast(pl.Float64)
    if col.dtype.is_numeric():
        values = col.cast(pl.Float64)
    elif col.dtype == pl.String:
        values = col.str.strip_chars().cast(pl.Float64, strict=False)
        bad = values.is_null() & col.is_not_null() & (col.str.strip_chars() != "")
        if bad.any():
            row = int(bad.arg_true()[0])
            raise DataError(
                f"non-numeric side-data column: value {col[row]!r} (side columns "
                f"must be numbers; encode categories as numbers first)"
                f"{where(path, name, row)}"
            )
    else:
        raise DataError(
            f"non-numeric side-data column of dtype {col.dtype}{where(path, name)}"
        )
    out = values.to_numpy().astype(np.float64)  # nulls -> NaN
    inf = np.isinf(out)
    if inf.any():
        row = int(np.flatnonzero(inf)[0])
        raise DataError(f"infinite value {out[row]}{where(path, name, row)}")
    return out


def read_side(series: SideSeries) -> SideTable:
    """Reads and checks one side series.

    Args:
        series: What to read (`SideSeries`).

    Returns:
        The `SideTable`: visibility times (time stamp + lag), symbol keys and
        float64 values.

    Raises:
        DataError: Missing or unreadable file, no rows, no time column, an
            unparsable time, a missing or non-numeric column, an infinite
            value, an empty symbol, or a repeated time (per symbol); the
            message names the file, and the column and row where there is one.
    """
    path = series.file
    frame = _read_table(path)
    time_col = _time_column(frame, series, path)
    keys = None
    if series.symbol_column is not None:
        if series.symbol_column not in frame.columns:
            raise DataError(
                f"side data has no symbol column {series.symbol_column!r} (columns: "
                f"{frame.columns}){where(path, series.symbol_column)}"
            )
        raw = frame[series.symbol_column].cast(pl.String)
        if raw.is_null().any():
            row = int(raw.is_null().arg_true()[0])
            raise DataError(f"empty symbol{where(path, series.symbol_column, row)}")
        keys = np.array([normalize_symbol(s) for s in raw.to_list()], dtype=object)
    skip = {time_col, *([series.symbol_column] if series.symbol_column else [])}
    if series.columns:
        columns = list(series.columns)
        for c in columns:
            if c not in frame.columns:
                raise DataError(
                    f"side data has no column {c!r} (columns: {frame.columns})"
                    f"{where(path, c)}"
                )
            if c in skip:
                raise DataError(
                    f"column {c!r} is the time or symbol column{where(path, c)}"
                )
    else:
        columns = [
            c for c, t in frame.schema.items() if c not in skip and t.is_numeric()
        ]
        if not columns:
            raise DataError(
                f"side data has no numeric column besides {sorted(skip)} "
                f"(columns: {frame.columns}){where(path)}"
            )
    stamps = _stamps_us(frame[time_col], path)
    order = np.lexsort((stamps,) if keys is None else (stamps, keys.astype(str)))
    same = stamps[order][1:] == stamps[order][:-1]
    if keys is not None:
        same &= keys[order][1:] == keys[order][:-1]
    if same.any():
        row = int(order[1:][same][0])
        at = where(path, time_col, row, frame[time_col][row])
        raise DataError(
            f"repeated time{' for one symbol' if keys is not None else ''}{at}"
        )
    values = {c: _numeric(frame[c], path) for c in columns}
    return SideTable(
        series=series,
        visible=stamps + _duration_us(series.lag),
        keys=keys,
        values=values,
    )


def _asof(
    visible: np.ndarray, values: np.ndarray, t: np.ndarray, max_age_us: int | None
) -> np.ndarray:
    """As-of backward lookup: the latest non-NaN value visible at each ``t``.

    Args:
        visible: ``int64[N]`` visibility times (any order).
        values: ``float64[N]`` (NaN: none).
        t: ``int64[T]`` sorted query times.
        max_age_us: Values visible longer than this before ``t`` are not used
            (None: no limit).

    Returns:
        ``float64[T]``, NaN where no value is visible.
    """
    ok = ~np.isnan(values)
    vis, val = visible[ok], values[ok]
    order = np.argsort(vis, kind="stable")
    vis, val = vis[order], val[order]
    idx = np.searchsorted(vis, t, side="right") - 1
    out = np.full(t.shape, np.nan)
    hit = idx >= 0
    if max_age_us is not None:
        hit &= t - vis[np.maximum(idx, 0)] <= max_age_us
    out[hit] = val[idx[hit]]
    return out


def _fmt(us: int) -> str:
    when = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(us))
    return when.strftime("%Y-%m-%d %H:%M") + " UTC"


def side_grids(
    table: SideTable,
    timestamps: np.ndarray,
    symbols: Sequence[str],
    present: np.ndarray | None = None,
) -> list[tuple[str, np.ndarray]]:
    """The feature grids of one side series on a panel.

    Args:
        table: The series (`read_side`).
        timestamps: ``int64[T]`` sorted bar open times of the panel, epoch
            microseconds (UTC).
        symbols: The panel's S symbols (``BASE/QUOTE``).
        present: Optional ``bool[S, T]``: bars that exist (only these count
            as missing a value; default all).

    Returns:
        ``(name, values)`` per column: ``float64[1, T]`` for a market-wide
        series, ``float64[S, T]`` for a per-coin one; NaN where no value is
        visible.

    Raises:
        DataError: A coin of the panel absent from a per-coin series, no bar
            of the panel with a value, or (``missing="error"``) a bar without
            one; the message names the file.
    """
    series = table.series
    path = series.file
    t = np.asarray(timestamps, np.int64)
    n_sym = len(symbols)
    if present is None:
        present = np.ones((n_sym, len(t)), bool)
    max_age = None if series.max_age is None else _duration_us(series.max_age)
    rows: list[np.ndarray] = []
    if table.keys is None:
        rows.append(np.arange(len(table.visible)))
    else:
        available = set(table.keys.tolist())
        for sym in symbols:
            key = sym if sym in available else sym.split("/")[0]
            if key not in available:
                at = where(path, series.symbol_column, symbol=sym)
                raise DataError(
                    f"side data has no rows for {sym} (symbols in the file: "
                    f"{sorted(available)[:20]}){at}"
                )
            rows.append(np.flatnonzero(table.keys == key))
    out = []
    for column, values in table.values.items():
        grid = np.stack([_asof(table.visible[r], values[r], t, max_age) for r in rows])
        have = ~np.isnan(grid)
        lacking = np.broadcast_to(~have, present.shape) & present
        name = series.prefix + column
        if not (have & present).any():
            vis = table.visible[~np.isnan(values)]
            span = f"{_fmt(vis.min())} .. {_fmt(vis.max())}" if vis.size else "never"
            raise DataError(
                f"side data gives no candle bar a value of {column!r}: its values "
                f"are visible {span} (lag={series.lag}, max_age={series.max_age}), "
                f"the candles span {_fmt(t[0])} .. {_fmt(t[-1])}"
                f"{where(path, column)}"
            )
        n_lacking = int(lacking.sum())
        if n_lacking and series.missing == "error":
            s, i = (int(v) for v in np.argwhere(lacking)[0])
            raise DataError(
                f"no value of {column!r} visible at a candle bar (lag="
                f"{series.lag}, max_age={series.max_age}; missing=mask drops such "
                f"bars instead)"
                + where(path, column, timestamp=_fmt(t[i]), symbol=symbols[s])
            )
        if n_lacking:
            logger.warning(
                "side feature %s (%s): %d of %d bars have no value (lag=%s, "
                "max_age=%s); no sample's window touches them",
                name,
                path,
                n_lacking,
                int(present.sum()),
                series.lag,
                series.max_age,
            )
        else:
            logger.info("side feature %s (%s): every bar has a value", name, path)
        out.append((name, grid))
    return out


def side_features(
    series: Sequence[SideSeries],
    timestamps: pl.Series,
    symbols: Sequence[str],
    present: np.ndarray | None = None,
    taken: Sequence[str] = (),
) -> list[tuple[str, np.ndarray]]:
    """The feature grids of several side series on a panel.

    Args:
        series: The side series.
        timestamps: ``[T]`` sorted bar open times (polars datetimes, UTC).
        symbols: The panel's S symbols.
        present: Optional ``bool[S, T]`` of the bars that exist.
        taken: Feature names already used (a side feature may not reuse one).

    Returns:
        ``(name, float64[1 or S, T])`` per column of every series, in order.

    Raises:
        DataError: See `read_side` and `side_grids`; also a feature name
            used twice (set ``prefix``).
    """
    t = timestamps.cast(TIMESTAMP_DTYPE).to_physical().to_numpy().astype(np.int64)
    names = set(taken)
    out: list[tuple[str, np.ndarray]] = []
    for s in series:
        for name, grid in side_grids(read_side(s), t, symbols, present):
            if name in names:
                raise DataError(
                    f"side feature name {name!r} is already a feature (set the "
                    f"series' prefix){where(s.file, name[len(s.prefix) :])}"
                )
            names.add(name)
            out.append((name, grid))
    return out
