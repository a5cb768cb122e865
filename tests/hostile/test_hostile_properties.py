"""Property tests: malformed CSV / JSON / feather / zip files load correctly
or raise `DataError` naming the file, never any other exception type."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasjax.data import DataError, load_ohlcv
from tests.hostile.hostile_cases import (
    binance_lines,
    candles,
    csv_lines,
    json_rows,
    write,
    zip_bytes,
)

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
CSV = "\n".join(csv_lines()) + "\n"
CELLS = st.sampled_from(
    [
        "",
        "nan",
        "NaN",
        "inf",
        "-1",
        "0",
        "abc",
        "1e400",
        "true",
        "2023-01-01T00:00:00Z",
        "2023-01-01 00:00:00+01:00",
        "BTC/USDT",
        "ETH_USDT",
        '"',
        "1,5",
        "\x00",
        "12345678901234567890",
    ]
)


def _loads_or_names(path: Path, **kw) -> pl.DataFrame | None:
    """The loaded frame, or None after a DataError that names ``path``."""
    try:
        df = load_ohlcv(path, **kw)
    except DataError as e:
        assert path.name in str(e) or "symbol" in str(e), str(e)
        return None
    assert isinstance(df, pl.DataFrame)
    assert df.schema["timestamp"] == pl.Datetime("us", "UTC")
    prices = df.select("open", "high", "low", "close").to_numpy()
    assert (prices > 0).all() and all(math.isfinite(v) for v in prices.ravel())
    assert df["timestamp"].is_sorted() or df["symbol"].n_unique() > 1
    return df


@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes_as_any_format(tmp_path_factory, data: bytes) -> None:
    folder = tmp_path_factory.mktemp("bytes")
    for name in (
        "a.csv",
        "BTC_USDT-5m.json",
        "BTC_USDT-5m.feather",
        "a.parquet",
        "BTCUSDT-5m-2023-01.zip",
        "BTCUSDT-5m-2023-01.csv",
    ):
        _loads_or_names(write(folder / name, data))


@SETTINGS
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 24), st.integers(0, 6), CELLS), min_size=1, max_size=4
    ),
    cut=st.one_of(st.none(), st.integers(0, len(CSV))),
)
def test_generic_csv_with_bad_cells_or_cut(tmp_path_factory, edits, cut) -> None:
    lines = CSV.splitlines()
    for row, col, value in edits:
        cells = lines[row].split(",")
        cells[col % len(cells)] = value
        lines[row] = ",".join(cells)
    text = "\n".join(lines) + "\n"
    path = write(tmp_path_factory.mktemp("csv") / "a.csv", text[:cut])
    _loads_or_names(path, format="csv")


@SETTINGS
@given(
    columns=st.lists(
        st.sampled_from(
            [
                "timestamp",
                "date",
                "symbol",
                "open",
                "high",
                "low",
                "close",
                "volume",
                "extra",
            ]
        ),
        max_size=8,
    ),
    order=st.permutations(list(range(24))),
    tz=st.sampled_from(["", "Z", "+00:00", "+0000", "-05:30"]),
)
def test_csv_random_columns_order_and_zones(
    tmp_path_factory, columns, order, tz
) -> None:
    frame = candles().with_columns(extra=pl.lit(1.0))
    keep = [c for c in dict.fromkeys(columns) if c != "date"]
    if "date" in columns and "timestamp" in keep:
        frame = frame.rename({"timestamp": "date"})
        keep = ["date" if c == "timestamp" else c for c in keep]
    text = (
        frame[order]
        .select(keep)
        .write_csv(datetime_format=f"%Y-%m-%dT%H:%M:%S{tz}".replace("-05:30", "%z"))
    )
    path = write(tmp_path_factory.mktemp("cols") / "a.csv", text)
    _loads_or_names(path, format="csv", repair=("sort",))


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
)


@SETTINGS
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 23), st.integers(0, 6), JSON_VALUES), max_size=4
    ),
    drop=st.integers(0, 30),
    shuffle=st.booleans(),
)
def test_freqtrade_json_with_bad_values(tmp_path_factory, edits, drop, shuffle) -> None:
    rows: list[list[object]] = [list(r) for r in json_rows()]
    for row, col, value in edits:
        if col < len(rows[row]):
            rows[row][col] = value
        else:
            rows[row].append(value)
    rows = rows[: max(len(rows) - drop, 0)]
    if shuffle:
        rows = rows[::-1]
    path = write(tmp_path_factory.mktemp("json") / "BTC_USDT-5m.json", json.dumps(rows))
    _loads_or_names(path)


@SETTINGS
@given(
    price=st.floats(allow_nan=True, allow_infinity=True),
    column=st.sampled_from(["open", "high", "low", "close", "volume"]),
    row=st.integers(0, 23),
    duplicate=st.booleans(),
    dtype=st.sampled_from([pl.Float64, pl.Float32, pl.Int64, pl.String]),
)
def test_feather_with_bad_prices_or_types(
    tmp_path_factory, price, column, row, duplicate, dtype
) -> None:
    frame = (
        candles()
        .drop("symbol")
        .with_columns(
            pl.when(pl.int_range(pl.len()) == row)
            .then(price)
            .otherwise(pl.col(column))
            .alias(column)
        )
    )
    if duplicate:
        frame = pl.concat([frame.head(row + 1), frame.slice(row)])
    frame = frame.with_columns(pl.col(column).cast(dtype, strict=False))
    path = tmp_path_factory.mktemp("feather") / "BTC_USDT-5m.feather"
    frame.rename({"timestamp": "date"}).write_ipc(path)
    _loads_or_names(path)


ZIP = zip_bytes("\n".join(binance_lines()) + "\n")


@SETTINGS
@given(
    cut=st.integers(0, len(ZIP)),
    flips=st.lists(
        st.tuples(st.integers(0, len(ZIP) - 1), st.integers(0, 255)), max_size=3
    ),
)
def test_zip_cut_or_corrupted(tmp_path_factory, cut: int, flips) -> None:
    data = bytearray(ZIP[:cut])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    path = write(tmp_path_factory.mktemp("zip") / "BTCUSDT-5m-2023-01.zip", bytes(data))
    _loads_or_names(path)
