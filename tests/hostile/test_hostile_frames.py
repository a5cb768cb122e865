"""Hostile frames handed to ``Model.predict``: refused with a `DataError`
naming what to fix (checked by the frame functions predict runs first)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import polars as pl
import pytest

from nasjax.app.frames import candle_frame, check_candles
from nasjax.data import DataError
from tests.hostile.hostile_cases import candles

SYMBOLS = ("BTC/USDT", "ETH/USDT")
BASE = pl.concat([candles(60, "BTC/USDT"), candles(60, "ETH/USDT", seed=1)])
_ROW = pl.int_range(pl.len()) == 7


def _set(column: str, value: Any) -> pl.DataFrame:
    return BASE.with_columns(
        pl.when(_ROW).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


CASES: dict[str, tuple[Callable[[], Any], dict, tuple[str, ...]]] = {
    "none": (lambda: None, {}, ("got NoneType",)),
    "numpy-array": (lambda: BASE.to_numpy(), {}, ("got ndarray",)),
    "empty-mapping": (lambda: {}, {}, ("mapping", "empty")),
    "mapping-of-ints": (lambda: {"BTC/USDT": 5}, {}, ("got int",)),
    "no-rows": (lambda: BASE.head(0), {}, ("no rows",)),
    "no-close": (lambda: BASE.drop("close"), {}, ("missing column(s) ['close']",)),
    "no-time": (lambda: BASE.drop("timestamp"), {}, ("no time column",)),
    "boolean-time": (
        lambda: BASE.with_columns(pl.lit(True).alias("timestamp")),
        {},
        ("type Boolean",),
    ),
    "text-time": (
        lambda: BASE.with_columns(pl.lit("yesterday").alias("timestamp")),
        {},
        ("unparsable or missing timestamps", "row=0"),
    ),
    "text-price": (
        lambda: BASE.with_columns(pl.lit("abc").alias("close")),
        {},
        ("non-numeric OHLCV",),
    ),
    "missing-symbol-cell": (
        lambda: _set("symbol", None),
        {},
        ("missing symbols", "row=7"),
    ),
    "symbol-not-a-string": (
        lambda: BASE.filter(pl.col("symbol") == "BTC/USDT").drop("symbol"),
        {"symbol": 5},
        ("symbol= must be a string",),
    ),
    "pandas-object-column": (
        lambda: pd.DataFrame(
            {
                "timestamp": [object()],
                "symbol": ["BTC/USDT"],
                **{c: [1.0] for c in ("open", "high", "low", "close", "volume")},
            }
        ),
        {},
        ("cannot convert the pandas frame",),
    ),
    "nan-close": (lambda: _set("close", float("nan")), {}, ("NaN", "close")),
    "negative-low": (lambda: _set("low", -1.0), {}, ("non-positive price", "low")),
    "negative-volume": (lambda: _set("volume", -1.0), {}, ("negative volume",)),
    "null-open": (lambda: _set("open", None), {}, ("missing", "open")),
    "duplicate-bar": (
        lambda: pl.concat([BASE, BASE.head(1)]),
        {},
        ("duplicate candle", "BTC/USDT"),
    ),
    "hourly-frame": (
        lambda: BASE.filter(pl.col("timestamp").dt.minute() == 0),
        {},
        ("timeframe 1h differs",),
    ),
    "too-few-bars": (
        lambda: BASE.group_by("symbol", maintain_order=True).head(5),
        {},
        ("too few bars", "needs 40 bars"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_candles_are_refused_saying_why(case: str) -> None:
    make, kw, needles = CASES[case]
    with pytest.raises(DataError) as err:
        frame = candle_frame(make(), SYMBOLS, **kw)
        check_candles(frame, SYMBOLS, "5m", 40)
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


@pytest.mark.parametrize(
    "convert",
    [
        lambda f: f.to_pandas(),
        lambda f: f.lazy(),
        lambda f: f.rename({"timestamp": "date", "symbol": "pair"}),
        lambda f: f.with_columns(
            pl.col("timestamp").dt.convert_time_zone("Asia/Tokyo")
        ),
        lambda f: f.with_columns(pl.col("timestamp").dt.epoch("ms")),
        lambda f: f.sample(fraction=1.0, shuffle=True, seed=3),
        lambda f: {s: g.drop("symbol") for (s,), g in f.group_by("symbol")},
    ],
    ids=["pandas", "lazy", "freqtrade-names", "tokyo", "epoch-ms", "shuffled", "map"],
)
def test_other_spellings_of_the_same_candles_read_the_same(convert) -> None:
    out = candle_frame(convert(BASE), SYMBOLS)
    check_candles(out, SYMBOLS, "5m", 40)
    assert out.equals(BASE.sort("symbol", "timestamp"))
