"""Time-zone-aware timestamps load as UTC; broken files raise `DataError`
naming the file, never a reader's own exception."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasjax.data import DataError, load_ohlcv, load_sample
from nasjax.data.readers import parse_times
from tests.data.test_data_loaders import binance_lines
from tests.helpers import ohlcv

T0 = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)


def iso_csv(path: Path, stamp, n: int = 12) -> Path:
    """A generic CSV of one coin whose i-th time is ``stamp(T0 + 5 min * i)``."""
    rows = ["timestamp,symbol,open,high,low,close,volume"]
    for i, (o, h, lo, c, v) in enumerate(ohlcv(n).tolist()):
        when = T0 + dt.timedelta(minutes=5 * i)
        rows.append(f"{stamp(when)},BTC/USDT,{o!r},{h!r},{lo!r},{c!r},{v!r}")
    path.write_text("\n".join(rows) + "\n")
    return path


PLUS_ONE = dt.timezone(dt.timedelta(hours=1))
FORMATS = {
    "naive": lambda t: t.strftime("%Y-%m-%d %H:%M:%S"),
    "Z": lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "+00:00": lambda t: t.isoformat(),
    "+0000": lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f%z"),
    "space +00:00": lambda t: t.isoformat(sep=" "),
    "+01:00": lambda t: t.astimezone(PLUS_ONE).isoformat(),
    "-0530 no seconds": lambda t: t.astimezone(
        dt.timezone(-dt.timedelta(hours=5, minutes=30))
    ).strftime("%Y-%m-%dT%H:%M%z"),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_timezone_aware_iso_timestamps_load_as_utc(tmp_path: Path, name: str) -> None:
    df = load_ohlcv(iso_csv(tmp_path / "a.csv", FORMATS[name]), format="csv")
    assert isinstance(df, pl.DataFrame)
    assert df.schema["timestamp"] == pl.Datetime("us", "UTC")
    want = [T0 + dt.timedelta(minutes=5 * i) for i in range(12)]
    assert df["timestamp"].to_list() == want


def test_a_csv_written_by_polars_round_trips(tmp_path: Path) -> None:
    frame = load_sample(["BTC/USDT", "ETH/USDT"]).head(500)
    frame.write_csv(tmp_path / "sample.csv")  # times like ...T00:00:00.000000+0000
    back = load_ohlcv(tmp_path / "sample.csv", format="csv")
    assert isinstance(back, pl.DataFrame) and back.equals(frame)


def test_unparsable_timestamp_names_file_column_and_row(tmp_path: Path) -> None:
    path = iso_csv(tmp_path / "a.csv", FORMATS["Z"])
    lines = path.read_text().splitlines()
    lines[4] = "2023-13-01T00:15:00Z" + lines[4][lines[4].index(",") :]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"unparsable timestamp '2023-13-01T00:15:00Z'.*a\.csv.*row=3"
    ):
        load_ohlcv(path, format="csv")
    assert parse_times(pl.Series(["nope", None])).to_list() == [None, None]


def test_a_cell_past_schema_inference_names_the_file(tmp_path: Path) -> None:
    path = iso_csv(tmp_path / "long.csv", FORMATS["naive"], n=10_050)
    text = path.read_text().rstrip("\n")
    path.write_text(text[: text.rindex(",")] + ",abc\n")  # last volume
    with pytest.raises(DataError, match=r"long\.csv"):
        load_ohlcv(path, format="csv")


def _zip_bytes(n: int = 40) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("BTCUSDT-5m-2023-01.csv", binance_lines(n))
    return buf.getvalue()


ZIP = _zip_bytes()
NAME = "BTCUSDT-5m-2023-01.zip"


@pytest.fixture(scope="module")
def intact(tmp_path_factory) -> pl.DataFrame:
    path = tmp_path_factory.mktemp("zip") / NAME
    path.write_bytes(ZIP)
    df = load_ohlcv(path)
    assert isinstance(df, pl.DataFrame) and df.height == 40
    return df


def _load_or_data_error(path: Path, intact: pl.DataFrame) -> None:
    """Loads the same candles, or raises a DataError naming the file."""
    try:
        df = load_ohlcv(path)
    except DataError as e:
        assert str(path) in str(e)
        return
    assert isinstance(df, pl.DataFrame) and df.equals(intact)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
def test_truncated_zip_names_the_file(tmp_path: Path, intact, keep: float) -> None:
    path = tmp_path / NAME
    path.write_bytes(ZIP[: int(len(ZIP) * keep)])
    with pytest.raises(DataError, match=r"broken zip file.*BTCUSDT-5m-2023-01\.zip"):
        load_ohlcv(path)


def test_corrupted_data_byte_names_the_file(tmp_path: Path) -> None:
    data = bytearray(ZIP)
    data[len(data) // 3] ^= 0xFF  # inside the compressed csv
    path = tmp_path / NAME
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"broken zip file.*BTCUSDT-5m-2023-01\.zip"):
        load_ohlcv(path)


@settings(max_examples=120, deadline=None)
@given(pos=st.integers(0, len(ZIP) - 1), value=st.integers(0, 255))
def test_any_corrupted_byte_loads_the_same_or_names_the_file(
    tmp_path_factory, intact, pos: int, value: int
) -> None:
    data = bytearray(ZIP)
    data[pos] = value
    path = tmp_path_factory.mktemp("byte") / NAME
    path.write_bytes(bytes(data))
    _load_or_data_error(path, intact)
