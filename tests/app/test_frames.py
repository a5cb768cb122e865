"""Candle frames as users pass them: canonical, or a clear error."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from nasjax.app.frames import candle_frame
from nasjax.data import DataError

T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def _candles(n: int = 4, **time) -> pl.DataFrame:
    close = np.linspace(100.0, 101.0, n)
    times = time or {"timestamp": [T0 + dt.timedelta(minutes=5 * i) for i in range(n)]}
    return pl.DataFrame(
        {
            **times,
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "volume": np.ones(n),
        }
    )


def test_a_long_frame_is_canonical():
    df = _candles().with_columns(pl.lit("ETH/USDT").alias("symbol"))
    out = candle_frame(df)
    assert out.columns == [
        "timestamp",
        "symbol",
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]
    assert out.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert out["symbol"].unique().to_list() == ["ETH/USDT"]


@pytest.mark.parametrize(
    "times",
    [
        [T0.replace(tzinfo=None) + dt.timedelta(minutes=5 * i) for i in range(4)],
        [
            (T0 + dt.timedelta(minutes=5 * i)).astimezone(
                dt.timezone(dt.timedelta(hours=2))
            )
            for i in range(4)
        ],
        [(T0 + dt.timedelta(minutes=5 * i)).isoformat() for i in range(4)],
        [int((T0 + dt.timedelta(minutes=5 * i)).timestamp() * 1000) for i in range(4)],
    ],
    ids=["naive", "aware+2h", "iso-text", "epoch-ms"],
)
def test_every_time_encoding_is_the_same_utc_instant(times):
    out = candle_frame(_candles(date=times), symbol="BTC/USDT")
    want = [T0 + dt.timedelta(minutes=5 * i) for i in range(4)]
    assert out["timestamp"].to_list() == want


def test_freqtrade_pair_names_and_a_default_symbol():
    df = _candles().with_columns(pl.lit("BTC_USDT").alias("pair"))
    assert candle_frame(df)["symbol"][0] == "BTC/USDT"
    lone = candle_frame(_candles(), ["SOL/USDT"])
    assert lone["symbol"].unique().to_list() == ["SOL/USDT"]


def test_pandas_datetime_index():
    pdf = _candles().to_pandas().set_index("timestamp")
    out = candle_frame(pdf, symbol="BTC/USDT")
    assert out["timestamp"][0] == T0 and out.height == 4


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (
            _candles().drop("volume"),
            {"symbol": "X/Y"},
            r"missing column\(s\) \['volume'\]",
        ),
        (_candles().rename({"timestamp": "when"}), {"symbol": "X/Y"}, "no time column"),
        (_candles(), {}, "no 'symbol' column"),
        (_candles().head(0), {"symbol": "X/Y"}, "no rows"),
        ([1, 2, 3], {}, "expected a polars or pandas DataFrame"),
        ({}, {}, "empty"),
        (
            _candles(timestamp=["not a time"] * 4),
            {"symbol": "X/Y"},
            "unparsable or missing timestamps",
        ),
        (
            _candles().with_columns(pl.lit("n/a").alias("close")),
            {"symbol": "X/Y"},
            "non-numeric",
        ),
    ],
    ids=[
        "no-volume",
        "no-time",
        "no-symbol",
        "empty",
        "a-list",
        "empty-map",
        "bad-time",
        "text-close",
    ],
)
def test_bad_frames_are_refused_clearly(frame, kwargs, message):
    with pytest.raises(DataError, match=message):
        candle_frame(frame, ["A/B", "C/D"], **kwargs)
