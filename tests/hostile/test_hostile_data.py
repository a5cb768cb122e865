"""Hostile data files: every bad CSV / parquet / feather / JSON / zip / folder
is refused with a `DataError` naming the file (and column, row where they
exist), every odd-but-valid one loads with nothing lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from nasjax.data import DataError, load_ohlcv
from tests.hostile.hostile_cases import (
    HEADER,
    binance_lines,
    candles,
    csv_lines,
    json_rows,
    write,
    zip_bytes,
)

Build = Callable[[Path], tuple[Path, dict]]


def _csv(text: str | bytes, name: str = "a.csv") -> Build:
    return lambda d: (write(d / name, text), {"format": "csv"})


def _lines(edit: Callable[[list[str]], list[str]], name: str = "a.csv") -> Build:
    return lambda d: (
        write(d / name, "\n".join(edit(csv_lines())) + "\n"),
        {"format": "csv"},
    )


def _cell(row: int, column: str, value: str) -> Callable[[list[str]], list[str]]:
    """Replaces one cell of data row ``row`` (0-based) of a generic CSV."""
    names: list[str] = [str(c) for c in HEADER.split(",")]
    index = names.index(column)

    def edit(lines: list[str]) -> list[str]:
        cells = lines[row + 1].split(",")
        cells[index] = value
        lines[row + 1] = ",".join(cells)
        return lines

    return edit


def _json(obj_or_text: object, name: str = "BTC_USDT-5m.json") -> Build:
    text = obj_or_text if isinstance(obj_or_text, str | bytes) else None
    data = text if text is not None else json.dumps(obj_or_text)
    return lambda d: (write(d / name, data), {})


def _json_cell(row: int, col: int, value: object) -> Build:
    rows: list[list[object]] = [list(r) for r in json_rows()]
    rows[row][col] = value
    return _json(rows)


def _table(frame: pl.DataFrame, ext: str, name: str = "BTC_USDT-5m") -> Build:
    def build(d: Path) -> tuple[Path, dict]:
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{name}.{ext}"
        if ext == "feather":
            frame.write_ipc(path)
        else:
            frame.write_parquet(path)
        return path, {}

    return build


def _cut_table(ext: str, keep: float) -> Build:
    def build(d: Path) -> tuple[Path, dict]:
        path, kw = _table(candles().drop("symbol"), ext)(d)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
        return path, kw

    return build


def _binance(rows: list[str], name: str = "BTCUSDT-5m-2023-01.csv") -> Build:
    return lambda d: (write(d / name, "\n".join(rows) + "\n"), {})


def _zip(data: bytes, name: str = "BTCUSDT-5m-2023-01.zip") -> Build:
    return lambda d: (write(d / name, data), {})


GOOD_ZIP = zip_bytes("\n".join(binance_lines()) + "\n")
BAD_CELL = binance_lines()
BAD_CELL[5] = BAD_CELL[5].replace(",", ",abc,", 1).replace(",", "", 2)


def _folder(files: dict[str, pl.DataFrame], **kw) -> Build:
    def build(d: Path) -> tuple[Path, dict]:
        folder = d / "data"
        for name, frame in files.items():
            _table(frame, name.rsplit(".", 1)[1], name.rsplit(".", 1)[0])(folder)
        return folder, kw

    return build


ONE = candles().drop("symbol")
HOURLY = ONE.with_columns(
    pl.datetime(2023, 1, 1, time_zone="UTC", time_unit="us")
    + pl.duration(hours=pl.int_range(pl.len()))
).select(pl.col("literal").alias("timestamp"), "open", "high", "low", "close", "volume")

# id -> (builder, substrings the DataError must contain besides the file name)
REFUSED: dict[str, tuple[Build, tuple[str, ...]]] = {
    # generic CSV
    "csv-header-only": (_csv(HEADER + "\n"), ("empty file",)),
    "csv-only-newlines": (_csv("\n\n\n"), ("cannot read csv",)),
    "csv-binary-garbage": (_csv(b"\x00\x01\x02\xff\xfe"), ("missing column",)),
    "csv-latin1": (
        _csv("\n".join(csv_lines()).replace("BTC", "BT\xc9").encode("latin-1")),
        ("utf-8",),
    ),
    "csv-semicolons": (
        _csv("\n".join(csv_lines()).replace(",", ";")),
        ("missing column 'timestamp'",),
    ),
    "csv-no-time-column": (
        _lines(lambda ls: [",".join(r.split(",")[1:]) for r in ls]),
        ("missing column 'timestamp'",),
    ),
    "csv-no-close-column": (
        _lines(
            lambda ls: [r.rsplit(",", 2)[0] + "," + r.rsplit(",", 1)[1] for r in ls]
        ),
        ("missing column(s) ['close']",),
    ),
    "csv-no-symbol": (
        _lines(lambda ls: [r.split(",", 2)[0] + "," + r.split(",", 2)[2] for r in ls]),
        ("no symbol",),
    ),
    "csv-extra-field": (
        _lines(lambda ls: [*ls, ls[-1] + ",99"]),
        ("cannot read csv", "more fields"),
    ),
    "csv-text-price": (_lines(_cell(3, "close", "abc")), ("close", "row=3", "abc")),
    "csv-empty-price": (_lines(_cell(4, "open", "")), ("open", "row=4")),
    "csv-lowercase-nan": (_lines(_cell(2, "high", "nan")), ("NaN", "high", "row=2")),
    "csv-inf-volume": (_lines(_cell(6, "volume", "inf")), ("NaN or infinite",)),
    "csv-overflow-1e400": (_lines(_cell(1, "low", "1e400")), ("infinite", "low")),
    "csv-negative-price": (_lines(_cell(7, "low", "-1.0")), ("non-positive", "row=7")),
    "csv-zero-price": (_lines(_cell(0, "open", "0")), ("non-positive", "open")),
    "csv-negative-volume": (_lines(_cell(9, "volume", "-2")), ("negative volume",)),
    "csv-high-below-low": (
        _lines(_cell(5, "high", "1.0")),
        ("high", "row=5"),
    ),
    "csv-missing-symbol-cell": (
        _lines(_cell(3, "symbol", "")),
        ("missing symbol", "row=3"),
    ),
    "csv-truncated-mid-row": (
        lambda d: (
            write(d / "a.csv", "\n".join(csv_lines())[:-30]),
            {"format": "csv"},
        ),
        ("row=23",),
    ),
    "csv-bad-date": (
        _lines(_cell(4, "timestamp", "2023-13-01 00:20:00")),
        ("unparsable timestamp", "row=4"),
    ),
    "csv-tz-name": (
        _lines(_cell(0, "timestamp", "2023-01-01 00:00:00 UTC")),
        ("unparsable timestamp", "row=0"),
    ),
    "csv-us-date-format": (
        _lines(_cell(2, "timestamp", "01/01/2023 00:10")),
        ("unparsable timestamp", "row=2"),
    ),
    "csv-boolean-time": (
        _csv(HEADER + "\ntrue,BTC/USDT,1,1,1,1,1\n"),
        ("unsupported dtype Boolean",),
    ),
    "csv-fractional-epoch": (
        _csv(
            HEADER
            + "\n1672531200.5,BTC/USDT,1,1,1,1,1\n1672531500.5,BTC/USDT,1,1,1,1,1\n"
        ),
        ("not an integer epoch", "row=0"),
    ),
    "csv-epoch-beyond-int64": (
        _csv(HEADER + "\n99999999999999999999,BTC/USDT,1,1,1,1,1\n"),
        ("cannot read csv",),
    ),
    "csv-duplicate-timestamp": (
        _lines(lambda ls: [*ls[:5], ls[4], *ls[5:]]),
        ("duplicate timestamp", "repair=[dedupe]"),
    ),
    "csv-shuffled-rows": (
        _lines(lambda ls: [ls[0], *ls[1:][::-1]]),
        ("not sorted", "repair=[sort]"),
    ),
    "csv-off-grid-row": (
        _lines(_cell(6, "timestamp", "2023-01-01 00:31:00")),
        ("not a multiple of 5m", "row=6", "00:31"),
    ),
    "csv-hourly-rows-in-5m": (
        lambda d: (
            write(d / "a.csv", "\n".join(csv_lines()[:1] + csv_lines()[1::12]) + "\n"),
            {"format": "csv", "timeframe": "5m"},
        ),
        ("timeframe 1h differs from the requested timeframe 5m",),
    ),
    "csv-column-map-absent": (
        lambda d: (
            write(d / "a.csv", "\n".join(csv_lines()) + "\n"),
            {"format": "csv", "column_map": {"Close": "close"}},
        ),
        ("column_map names missing column(s) ['Close']",),
    ),
    "csv-column-map-collision": (
        lambda d: (
            write(d / "a.csv", "\n".join(csv_lines()) + "\n"),
            {"format": "csv", "column_map": {"timestamp": "open"}},
        ),
        ("duplicate",),
    ),
    # freqtrade JSON
    "json-object": (_json({"a": 1}), ("expected a JSON array",)),
    "json-scalar": (_json("5"), ("expected a JSON array",)),
    "json-empty-array": (_json([]), ("empty file",)),
    "json-truncated": (
        _json(json.dumps(json_rows())[:-40]),
        ("invalid JSON",),
    ),
    "json-latin1": (_json(b'[["\xe9",1,1,1,1,1]]'), ("invalid JSON",)),
    "json-deep-nesting": (
        _json("[" * 100_000 + "]" * 100_000),
        ("invalid JSON", "nested 100000 levels deep"),
    ),
    "json-huge-integer": (
        _json("[[1" + "0" * 5000 + ",1,1,1,1,1]]"),
        ("invalid JSON",),
    ),
    "json-row-objects": (_json([{"date": 1, "open": 1}]), ("row=0",)),
    "json-seven-columns": (_json([[*json_rows()[0], 7]]), ("row=0",)),
    "json-string-cell": (_json_cell(3, 4, "abc"), ("non-numeric", "row=3")),
    "json-boolean-price": (_json_cell(2, 1, True), ("non-numeric", "row=2")),
    "json-null-price": (_json_cell(1, 2, None), ("high", "row=1")),
    "json-nan-price": (
        _json(json.dumps(json_rows()).replace("100.0", "NaN", 1)),
        ("NaN",),
    ),
    "json-infinite-time": (_json_cell(0, 0, float("inf")), ("integer epoch", "row=0")),
    "json-time-beyond-int64": (_json_cell(2, 0, 10**30), ("integer epoch", "row=2")),
    "json-fractional-time": (
        _json_cell(5, 0, 1672531200.5),
        ("integer epoch", "row=5"),
    ),
    "json-unnamed-file": (_json(json_rows(), name="candles.json"), ("no symbol",)),
    # feather / parquet
    "feather-text-close": (
        _table(ONE.with_columns(pl.lit("x").alias("close")), "feather"),
        ("non-numeric", "close"),
    ),
    "parquet-no-date": (_table(ONE.drop("timestamp"), "parquet"), ("timestamp",)),
    "feather-empty": (_table(ONE.head(0), "feather"), ("empty file",)),
    "parquet-boolean-date": (
        _table(ONE.with_columns(pl.lit(True).alias("timestamp")), "parquet"),
        ("unsupported dtype Boolean",),
    ),
    "feather-duration-date": (
        _table(
            ONE.with_columns(
                pl.duration(hours=pl.int_range(pl.len())).alias("timestamp")
            ),
            "feather",
        ),
        ("unsupported dtype Duration",),
    ),
    "parquet-list-price": (
        _table(ONE.with_columns(pl.lit([1.0, 2.0]).alias("close")), "parquet"),
        ("cannot read parquet",),
    ),
    "feather-null-dates": (
        _table(
            ONE.with_columns(pl.lit(None, pl.Datetime("us")).alias("timestamp")),
            "feather",
        ),
        ("null timestamp", "row=0"),
    ),
    "parquet-null-volume-column": (
        _table(ONE.with_columns(pl.lit(None).alias("volume")), "parquet"),
        ("non-numeric", "volume"),
    ),
    "feather-garbage": (
        lambda d: (write(d / "BTC_USDT-5m.feather", b"ARROW1\0\0garbage"), {}),
        ("cannot read freqtrade_feather",),
    ),
    "parquet-garbage": (
        lambda d: (write(d / "a.parquet", bytes(range(256))), {}),
        ("cannot read parquet",),
    ),
    **{
        f"{ext}-truncated-{int(keep * 100)}pct": (
            _cut_table(ext, keep),
            ("cannot read",),
        )
        for ext in ("feather", "parquet")
        for keep in (0.1, 0.5, 0.95)
    },
    # Binance CSV and zip
    "binance-11-columns": (
        _binance([r.rsplit(",", 1)[0] for r in binance_lines()]),
        ("needs 12 columns",),
    ),
    "binance-header-only": (
        _binance(binance_lines(1, header=True)[:1]),
        ("empty file",),
    ),
    "binance-text-cell": (_binance(BAD_CELL), ("row=5",)),
    "binance-float-open-time": (
        _binance(["1672531200000.5" + binance_lines()[0][13:]]),
        ("null timestamp", "row=0"),
    ),
    "binance-short-row": (
        _binance([*binance_lines(), "1672538400000,1,1"]),
        ("row=24",),
    ),
    "zip-empty-archive": (_zip(b"PK\x05\x06" + b"\0" * 18), ("exactly one .csv",)),
    "zip-two-csvs": (
        lambda d: (
            write(
                d / "BTCUSDT-5m-2023-01.zip",
                _two_csv_zip(),
            ),
            {},
        ),
        ("exactly one .csv",),
    ),
    "zip-not-a-zip": (_zip(b"this is not a zip file"), ("broken zip",)),
    "zip-truncated-half": (_zip(GOOD_ZIP[: len(GOOD_ZIP) // 2]), ("broken zip",)),
    "zip-flipped-byte": (
        _zip(GOOD_ZIP[:60] + bytes([GOOD_ZIP[60] ^ 0xFF]) + GOOD_ZIP[61:]),
        ("broken zip",),
    ),
    "zip-empty-csv": (_zip(zip_bytes("")), ("empty file",)),
    # freqtrade folders and options
    "folder-empty": (lambda d: ((d / "e").mkdir() or d / "e", {}), ("no data files",)),
    "folder-missing": (lambda d: (d / "nope", {}), ("no such file or folder",)),
    "folder-mixed-timeframes": (
        _folder({"BTC_USDT-5m.feather": ONE, "BTC_USDT-1h.feather": HOURLY}),
        ("mixed timeframes ['1h', '5m']", "symbol=BTC/USDT", "pass timeframe="),
    ),
    "folder-hourly-named-5m": (
        _folder({"BTC_USDT-5m.feather": ONE, "ETH_USDT-5m.feather": HOURLY}),
        ("most bars are 1h apart", "ETH_USDT-5m.feather", "row=1"),
    ),
    "folder-absent-symbol": (
        _folder({"BTC_USDT-5m.feather": ONE}, symbols=["DOGE/USDT"]),
        ("DOGE/USDT", "absent"),
    ),
    "folder-timeframe-absent": (
        _folder({"BTC_USDT-5m.feather": ONE}, timeframe="1h"),
        ("no file has timeframe '1h'",),
    ),
    "option-unknown-timeframe": (
        _folder({"BTC_USDT-5m.feather": ONE}, timeframe="7x"),
        ("unknown timeframe '7x'",),
    ),
    "option-unknown-format": (
        _folder({"BTC_USDT-5m.feather": ONE}, format="xml"),
        ("unknown format 'xml'",),
    ),
    "option-unknown-repair": (
        _folder({"BTC_USDT-5m.feather": ONE}, repair=("fix",)),
        ("unknown repair",),
    ),
    "unknown-extension": (
        lambda d: (write(d / "BTC_USDT-5m.txt", "x"), {}),
        ("unknown format: extension '.txt'",),
    ),
    "zero-byte-file": (lambda d: (write(d / "BTC_USDT-5m.json", b""), {}), ("empty",)),
}


def _two_csv_zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.csv", "1")
        zf.writestr("b.csv", "2")
    return buf.getvalue()


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_file_is_refused_naming_it(tmp_path: Path, case: str) -> None:
    build, needles = REFUSED[case]
    path, kw = build(tmp_path)
    with pytest.raises(DataError) as err:
        load_ohlcv(path, **kw)
    message = str(err.value)
    if not case.startswith(("folder-", "option-")):  # these name symbol or option
        assert path.name in message, message
    for needle in needles:
        assert needle in message, (needle, message)


EXPECTED = candles()


def _same(df: pl.DataFrame) -> None:
    assert df.select(EXPECTED.columns).equals(EXPECTED)


# id -> builder of a valid but unusual file; each must load EXPECTED exactly
LOADED: dict[str, Build] = {
    "csv-utf8-bom": _csv(b"\xef\xbb\xbf" + ("\n".join(csv_lines()) + "\n").encode()),
    "csv-crlf": _csv("\r\n".join(csv_lines()) + "\r\n"),
    "csv-no-final-newline": _csv("\n".join(csv_lines())),
    "csv-iso-z": _lines(lambda ls: [r.replace(":00,", ":00Z,", 1) for r in ls]),
    "csv-iso-offset": _lines(
        lambda ls: [r.replace(":00,", ":00+00:00,", 1) for r in ls]
    ),
    "csv-text-extra-column": _lines(
        lambda ls: [ls[0] + ",note"] + [r + ",hello" for r in ls[1:]]
    ),
    "csv-epoch-ms": _lines(
        lambda ls: (
            [ls[0]]
            + [
                f"{1_672_531_200_000 + 300_000 * i}," + r.split(",", 1)[1]
                for i, r in enumerate(ls[1:])
            ]
        )
    ),
    "csv-epoch-s": _lines(
        lambda ls: (
            [ls[0]]
            + [
                f"{1_672_531_200 + 300 * i}," + r.split(",", 1)[1]
                for i, r in enumerate(ls[1:])
            ]
        )
    ),
    "csv-symbol-spelling": _lines(
        lambda ls: [r.replace("BTC/USDT", "btcusdt") for r in ls]
    ),
    "csv-quoted-cells": _lines(
        lambda ls: [ls[0]] + [",".join(f'"{c}"' for c in r.split(",")) for r in ls[1:]]
    ),
    "csv-date-column": _lines(lambda ls: [ls[0].replace("timestamp", "Date"), *ls[1:]]),
    "json-numbers-as-strings": _json([[str(v) for v in r] for r in json_rows()]),
    "feather-tokyo-time": _table(
        ONE.with_columns(pl.col("timestamp").dt.convert_time_zone("Asia/Tokyo")),
        "feather",
    ),
    "parquet-naive-ms-time": _table(
        ONE.with_columns(
            pl.col("timestamp").dt.replace_time_zone(None).dt.cast_time_unit("ms")
        ),
        "parquet",
    ),
    "feather-epoch-ms": _table(
        ONE.with_columns(pl.col("timestamp").dt.epoch("ms")), "feather"
    ),
    "parquet-decimal-prices": _table(
        ONE.with_columns(pl.col("volume").cast(pl.Decimal(30, 20))), "parquet"
    ),
}


@pytest.mark.parametrize("case", list(LOADED))
def test_odd_but_valid_file_loads_everything(tmp_path: Path, case: str) -> None:
    path, kw = LOADED[case](tmp_path)
    df = load_ohlcv(path, **kw)
    assert isinstance(df, pl.DataFrame)
    if case == "parquet-decimal-prices":  # 20 decimals: equal to float precision
        assert df.height == EXPECTED.height
        assert (df["volume"] - EXPECTED["volume"]).abs().max() < 1e-12  # type: ignore[operator]
        return
    _same(df)
