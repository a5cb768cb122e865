"""Loader tests: every format from fixture files, every bad input raises."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nasjax.data import DataError, LoadReport, load_ohlcv, normalize_symbol
from tests.helpers import ohlcv

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "crypto"
T0_MS = 1_672_531_200_000  # 2023-01-01 00:00 UTC
STEP_MS = 300_000


def binance_lines(n: int, unit: str = "ms", seed: int = 0, t0: int = T0_MS) -> str:
    mult = 1000 if unit == "us" else 1
    rows = []
    for i, (o, h, lo, c, v) in enumerate(ohlcv(n, seed).tolist()):
        t = (t0 + i * STEP_MS) * mult
        rows.append(
            f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r},{t + (STEP_MS - 1) * mult},"
            f"{v * c!r},{10 + i},{v / 2!r},{v * c / 2!r},0"
        )
    return "\n".join(rows) + "\n"


HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_binance_csv_ms_and_extras(tmp_path: Path) -> None:
    f = write(tmp_path / "BTCUSDT-5m-2023-01.csv", binance_lines(20))
    df, report = load_ohlcv(f, return_report=True)
    assert isinstance(report, LoadReport)
    assert report.timeframe == "5m" and report.rows_per_symbol == {"BTC/USDT": 20}
    assert df.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert df["symbol"].unique().to_list() == ["BTC/USDT"]
    assert df["timestamp"][0].isoformat() == "2023-01-01T00:00:00+00:00"
    assert {"quote_volume", "trades", "taker_buy_volume"} <= set(df.columns)
    np.testing.assert_array_equal(df["close"].to_numpy(), ohlcv(20)[:, 3])


def test_binance_us_header_and_zip(tmp_path: Path) -> None:
    a = load_ohlcv(write(tmp_path / "ETHUSDT-5m-2023-01.csv", binance_lines(10)))
    d = tmp_path / "us"
    d.mkdir()
    b = load_ohlcv(
        write(d / "ETHUSDT-5m-2023-01.csv", HEADER + binance_lines(10, "us"))
    )
    assert isinstance(a, pl.DataFrame) and isinstance(b, pl.DataFrame)
    assert a.equals(b)
    z = tmp_path / "z" / "ETHUSDT-5m-2023-01.zip"
    z.parent.mkdir()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ETHUSDT-5m-2023-01.csv", binance_lines(10))
    c = load_ohlcv(z)
    assert isinstance(c, pl.DataFrame) and a.equals(c)


def test_monthly_files_concatenate_in_time_order(tmp_path: Path) -> None:
    jan = binance_lines(5, seed=1)
    feb = binance_lines(5, seed=2, t0=T0_MS + 5 * STEP_MS)
    write(tmp_path / "BTCUSDT-5m-2023-02.csv", feb)
    write(tmp_path / "BTCUSDT-5m-2023-01.csv", jan)
    df = load_ohlcv(tmp_path)
    assert isinstance(df, pl.DataFrame)
    assert df.height == 10 and df["timestamp"].is_sorted()


def freqtrade_json(path: Path, n: int = 12, seed: int = 0) -> Path:
    rows = [[T0_MS + i * STEP_MS, *map(float, r)] for i, r in enumerate(ohlcv(n, seed))]
    path.write_text(json.dumps(rows))
    return path


def test_freqtrade_json_and_feather(tmp_path: Path) -> None:
    j = load_ohlcv(freqtrade_json(tmp_path / "BTC_USDT-5m.json"))
    assert isinstance(j, pl.DataFrame)
    feather = tmp_path / "XRP_USDT_USDT-5m-futures.feather"
    pl.DataFrame(
        {
            "date": j["timestamp"].dt.cast_time_unit("ns"),
            **{c: j[c] for c in ("open", "high", "low", "close", "volume")},
        }
    ).write_ipc(feather, compression="zstd")
    f = load_ohlcv(feather)
    assert isinstance(f, pl.DataFrame)
    assert f["symbol"][0] == "XRP/USDT:USDT"
    assert f.drop("symbol").equals(j.drop("symbol"))


def test_generic_csv_with_column_map_and_parquet(tmp_path: Path) -> None:
    a = ohlcv(8)
    times = [f"2023-01-01 00:{5 * i:02d}:00" for i in range(8)]
    frame = pl.DataFrame(
        {
            "time": times * 2,
            "ticker": ["BTCUSDT"] * 8 + ["ETH-USDT"] * 8,
            "o": np.r_[a[:, 0], a[:, 0]],
            "h": np.r_[a[:, 1], a[:, 1]],
            "l": np.r_[a[:, 2], a[:, 2]],
            "c": np.r_[a[:, 3], a[:, 3]],
            "v": np.r_[a[:, 4], a[:, 4]],
            "note": ["x"] * 16,
        }
    )
    frame.write_csv(tmp_path / "panel.csv")
    cmap = {"time": "timestamp", "ticker": "symbol", "o": "open", "h": "high"}
    cmap |= {"l": "low", "c": "close", "v": "volume"}
    df = load_ohlcv(tmp_path / "panel.csv", column_map=cmap, timeframe="5m")
    assert isinstance(df, pl.DataFrame)
    assert df["symbol"].unique().sort().to_list() == ["BTC/USDT", "ETH/USDT"]
    assert "note" not in df.columns and df.height == 16
    pq = tmp_path / "SOL_USDT-5m.parquet"
    frame.head(8).drop("ticker").rename(cmap, strict=False).write_parquet(pq)
    p = load_ohlcv(pq)
    assert isinstance(p, pl.DataFrame) and p["symbol"][0] == "SOL/USDT"


def test_symbol_normalisation() -> None:
    assert normalize_symbol("BTCUSDT") == "BTC/USDT"
    assert normalize_symbol("eth_btc") == "ETH/BTC"
    assert normalize_symbol("XRP_USDT_USDT") == "XRP/USDT:USDT"
    assert normalize_symbol("ETHFDUSD") == "ETH/FDUSD"


def _bad_binance(tmp_path: Path, mutate) -> Path:
    lines = binance_lines(6).splitlines()
    lines = mutate(lines)
    return write(tmp_path / "BTCUSDT-5m-2023-01.csv", "\n".join(lines) + "\n")


def _set(i: int, col: int, value: str):
    def f(lines: list[str]) -> list[str]:
        parts = lines[i].split(",")
        parts[col] = value
        lines[i] = ",".join(parts)
        return lines

    return f


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (_set(3, 4, "nan"), ["NaN", "'close'", "row=3"]),
        (_set(2, 4, "inf"), ["infinite", "'close'", "row=2"]),
        (_set(4, 1, "abc"), ["non-numeric", "'open'", "row=4"]),
        (_set(1, 3, "-1.0"), ["non-positive", "'low'", "row=1"]),
        (_set(5, 2, "0.5"), ["high", "row=5"]),
        (_set(2, 3, "1e9"), ["low", "row=2"]),
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], ["not sorted", "row=2"]),
        (lambda ls: [*ls[:3], ls[2], *ls[3:]], ["duplicate", "row=3"]),
        (lambda ls: [ls[0], ",".join(ls[1].split(",")[:4])], ["'close'", "row=1"]),
        (lambda ls: [ls[0][: ls[0].rfind(",")]], ["12 columns", "row=0"]),
    ],
)
def test_bad_rows_raise_with_location(tmp_path: Path, mutate, needles) -> None:
    f = _bad_binance(tmp_path, mutate)
    with pytest.raises(DataError) as e:
        load_ohlcv(f)
    msg = str(e.value)
    assert f.name in msg
    for needle in needles:
        assert needle in msg, msg


def test_repairs_are_explicit_and_counted(tmp_path: Path) -> None:
    f = _bad_binance(tmp_path, lambda ls: [ls[1], ls[0], ls[2], ls[2], *ls[3:]])
    with pytest.raises(DataError, match="not sorted"):
        load_ohlcv(f)
    with pytest.raises(DataError, match=r"duplicate.*data\.repair=\[dedupe\]"):
        load_ohlcv(f, repair=("sort",))
    df, rep = load_ohlcv(f, repair=("sort", "dedupe"), return_report=True)
    assert isinstance(df, pl.DataFrame) and isinstance(rep, LoadReport)
    assert rep.rows_sorted == 1 and rep.duplicates_dropped == 1 and df.height == 6
    # The same repairs from the configuration (data.repair=[sort,dedupe]).
    from nasjax.data import DataConfig, load_data

    cfg = DataConfig(source="binance", path=str(f), min_history_bars=0)
    with pytest.raises(DataError, match="not sorted"):
        load_data(cfg)
    cfg = dataclasses.replace(cfg, repair=("sort", "dedupe"))
    with pytest.raises(DataError, match="does not fit"):  # repaired; 6 bars
        load_data(cfg)
    with pytest.raises(ValueError, match=r"data\.repair takes sort"):
        DataConfig(source="binance", path=str(f), repair=("shuffle",))
    with pytest.raises(DataError, match="unknown repair"):
        load_ohlcv(f, repair=("magic",))


def test_empty_unknown_missing_and_absent(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"empty file.*BTCUSDT"):
        load_ohlcv(write(tmp_path / "BTCUSDT-5m-2023-01.csv", ""))
    with pytest.raises(DataError, match=r"unknown format.*data\.xlsx"):
        load_ohlcv(write(tmp_path / "data.xlsx", "x"))
    with pytest.raises(DataError, match="unknown format 'foo'"):
        load_ohlcv(tmp_path / "data.xlsx", format="foo")
    with pytest.raises(DataError, match="empty file"):
        load_ohlcv(
            write(tmp_path / "e" / "BTC_USDT-5m.json", "[]")
            if (tmp_path / "e").mkdir() is None
            else tmp_path
        )
    g = tmp_path / "g.csv"
    pl.DataFrame({"timestamp": [1, 2], "open": [1.0, 1.0]}).write_csv(g)
    with pytest.raises(DataError, match=r"missing column.*'high'.*g\.csv"):
        load_ohlcv(g)
    h = tmp_path / "BTC_USDT-5m.csv"
    pl.DataFrame(
        {
            "timestamp": [T0_MS],
            "open": ["a"],
            "high": [1.0],
            "low": [1.0],
            "close": [1.0],
            "volume": [1.0],
        }
    ).write_csv(h)
    with pytest.raises(DataError, match=r"non-numeric.*'open'.*row=0"):
        load_ohlcv(h)
    j = freqtrade_json(tmp_path / "ETH_USDT-5m.json")
    with pytest.raises(DataError, match=r"DOGE/USDT.*absent"):
        load_ohlcv(j, symbols=["DOGEUSDT", "ETH/USDT"])


def test_mixed_timeframes(tmp_path: Path) -> None:
    freqtrade_json(tmp_path / "BTC_USDT-5m.json")
    rows = [[T0_MS + i * 3_600_000, *map(float, r)] for i, r in enumerate(ohlcv(5))]
    (tmp_path / "BTC_USDT-1h.json").write_text(json.dumps(rows))
    with pytest.raises(DataError, match="mixed timeframes"):
        load_ohlcv(tmp_path)
    df = load_ohlcv(tmp_path, timeframe="1h")
    assert isinstance(df, pl.DataFrame) and df.height == 5
    # Within one file: a 3-minute step in 5-minute data.
    rows = [[T0_MS + i * STEP_MS, *map(float, r)] for i, r in enumerate(ohlcv(5))]
    rows[3][0] -= 120_000
    bad = tmp_path / "m" / "ETH_USDT-5m.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"mixed timeframes.*row=3"):
        load_ohlcv(bad)
    with pytest.raises(DataError, match="no file has timeframe"):
        load_ohlcv(tmp_path / "BTC_USDT-1h.json", timeframe="5m", format="auto")


def test_hourly_rows_in_a_5m_file_are_refused(tmp_path: Path) -> None:
    """A 5m file that turns hourly: most steps are an hour, not 5m gaps."""
    times = [T0_MS + i * STEP_MS for i in range(4)]
    times += [times[-1] + k * 3_600_000 for k in range(1, 9)]
    rows = [[t, *map(float, r)] for t, r in zip(times, ohlcv(len(times)), strict=True)]
    p = tmp_path / "BTC_USDT-5m.json"
    p.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"mixed timeframes: most bars are 1h apart"):
        load_ohlcv(p, timeframe="5m")


def test_a_symbol_only_in_another_timeframe_is_skipped_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    freqtrade_json(tmp_path / "BTC_USDT-5m.json")
    rows = [[T0_MS + i * 3_600_000, *map(float, r)] for i, r in enumerate(ohlcv(5))]
    (tmp_path / "ETH_USDT-1h.json").write_text(json.dumps(rows))
    with caplog.at_level("WARNING", logger="nasjax.data"):
        df = load_ohlcv(tmp_path, timeframe="5m")
    assert isinstance(df, pl.DataFrame)
    assert df["symbol"].unique().to_list() == ["BTC/USDT"]
    assert "skipping symbols whose files are all of another timeframe" in caplog.text
    assert "ETH/USDT (1h)" in caplog.text


def test_json_non_numeric_cell(tmp_path: Path) -> None:
    rows = [[T0_MS + i * STEP_MS, *map(float, r)] for i, r in enumerate(ohlcv(4))]
    rows[2][4] = "oops"
    p = tmp_path / "BTC_USDT-5m.json"
    p.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"non-numeric.*'close'.*row=2"):
        load_ohlcv(p)


def test_zip_bytes_roundtrip_via_bytesio() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.csv", "1")
    assert buf.getvalue()[:2] == b"PK"


@pytest.mark.skipif(not SHARED.exists(), reason="shared data not present")
def test_shared_real_files() -> None:
    df, rep = load_ohlcv(SHARED / "saulo_2022", timeframe="5m", return_report=True)
    assert isinstance(df, pl.DataFrame) and isinstance(rep, LoadReport)
    assert set(rep.rows_per_symbol.values()) == {28966}
    ft = load_ohlcv(SHARED / "freqtrade_testdata")
    assert isinstance(ft, pl.DataFrame)
    assert ft.filter(pl.col("symbol") == "ADA/BTC").height == 5720


def test_bad_cell_in_one_of_many_files_is_located(tmp_path: Path) -> None:
    # The fast path parses numbers while scanning all files at once; a bad
    # cell makes it fall back to a text scan that locates file, column, row.
    for m in range(1, 4):
        t0 = T0_MS + (m - 1) * 5 * STEP_MS
        write(tmp_path / f"ETHUSDT-5m-2023-0{m}.csv", binance_lines(5, seed=m, t0=t0))
        write(tmp_path / f"BTCUSDT-5m-2023-0{m}.csv", binance_lines(5, seed=m, t0=t0))
    good = load_ohlcv(tmp_path)
    assert isinstance(good, pl.DataFrame) and good.height == 30
    bad = tmp_path / "ETHUSDT-5m-2023-02.csv"
    lines = bad.read_text().splitlines()
    parts = lines[3].split(",")
    parts[5] = "12x"
    lines[3] = ",".join(parts)
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        load_ohlcv(tmp_path)
    msg = str(e.value)
    assert bad.name in msg and "'volume'" in msg and "row=3" in msg, msg


def test_files_out_of_name_order_are_ordered_by_time(tmp_path: Path) -> None:
    # Names sort 2023-01 before 2023-02, but the "January" file holds later
    # bars: rows are ordered by each file's first timestamp, not by name.
    write(tmp_path / "BTCUSDT-5m-2023-01.csv", binance_lines(4, t0=T0_MS + 4 * STEP_MS))
    write(tmp_path / "BTCUSDT-5m-2023-02.csv", binance_lines(4, seed=3))
    df, rep = load_ohlcv(tmp_path, return_report=True)
    assert isinstance(df, pl.DataFrame) and isinstance(rep, LoadReport)
    assert df["timestamp"].is_sorted() and df.height == 8 and rep.rows_sorted == 0
    assert df["timestamp"].diff().drop_nulls().dt.total_minutes().to_list() == [5] * 7
