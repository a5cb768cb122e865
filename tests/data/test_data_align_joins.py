"""align_panel gap handling and point-in-time joins."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nasjax.data import AlignReport, DataError, align_panel, join_asof, join_daily
from nasjax.data import synthetic as make_synthetic

UTC = dt.UTC


def panel_with_gaps() -> pl.DataFrame:
    df = make_synthetic(0, n_symbols=2, n_steps=40).frame
    a = df.filter(pl.col("symbol") == "SYN00/USDT")
    b = df.filter(pl.col("symbol") == "SYN01/USDT")
    a = a.with_row_index("i").filter(~pl.col("i").is_in([5, 6, 20, 21, 22, 23, 24]))
    b = b.slice(2)  # starts 2 bars later
    return pl.concat([a.drop("i"), b])


def test_fill_short_drop_long_and_intersection() -> None:
    df = panel_with_gaps()
    out, rep = align_panel(df, "5m", max_fill=2, return_report=True)
    assert isinstance(out, pl.DataFrame) and isinstance(rep, AlignReport)
    per = out.group_by("symbol").len()["len"].to_list()
    assert per[0] == per[1] == 38 - 5  # intersection from bar 2, 5 bars dropped
    assert rep.dropped_steps == 5 and rep.filled_per_symbol["SYN00/USDT"] == 2
    filled = out.filter(pl.col("filled"))
    assert filled.height == 2
    assert (filled["open"] == filled["close"]).all() and (filled["volume"] == 0).all()
    src = df.filter(pl.col("symbol") == "SYN00/USDT").sort("timestamp")
    prev_close = src.filter(pl.col("timestamp") < filled["timestamp"][0])["close"][-1]
    assert filled["close"][0] == prev_close
    ts = out.filter(pl.col("symbol") == "SYN00/USDT")["timestamp"]
    assert ts.equals(out.filter(pl.col("symbol") == "SYN01/USDT")["timestamp"])


def test_long_gap_raise_policy_and_bad_args() -> None:
    df = panel_with_gaps()
    with pytest.raises(DataError, match=r"gap of 5 .*SYN00/USDT"):
        align_panel(df, "5m", max_fill=2, gap_policy="raise")
    with pytest.raises(DataError, match="unknown gap_policy"):
        align_panel(df, "5m", gap_policy="zero")
    out = align_panel(df, "5m", max_fill=10, gap_policy="raise")
    assert isinstance(out, pl.DataFrame) and out["filled"].sum() == 7


def _panel(n: int = 3 * 288) -> pl.DataFrame:
    ts = pl.datetime_range(
        dt.datetime(2022, 1, 1, tzinfo=UTC),
        dt.datetime(2022, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=5 * (n - 1)),
        "5m",
        eager=True,
        time_unit="us",
        time_zone="UTC",
    )
    return pl.DataFrame({"timestamp": ts, "symbol": "BTC/USDT", "close": 1.0})


def test_join_daily_no_lookahead(tmp_path: Path) -> None:
    csv = tmp_path / "fng.csv"
    csv.write_text(
        "Date,fng_value,fng_class\n2021-12-31,10,Fear\n2022-01-01,20,Fear\n"
        "2022-01-02,30,Fear\n2022-01-03,40,Fear\n"
    )
    out = join_daily(_panel(), csv, ["fng_value"], publication_lag="1h")
    day = out["timestamp"].dt.date()
    pub = pl.DataFrame({"fng_value": [10.0, 20.0, 30.0, 40.0]}).with_columns(
        visible=pl.Series(
            [dt.datetime(2022, 1, d, 1, tzinfo=UTC) for d in (1, 2, 3, 4)]
        ).dt.cast_time_unit("us")
    )
    joined = out.join(pub, on="fng_value", how="left")
    assert (joined["visible"] <= joined["timestamp"]).all()
    first = out.filter(day == dt.date(2022, 1, 2))
    assert first["fng_value"][0] == 10.0  # 00:00 on Jan 2: Jan 1 not yet public
    assert first["fng_value"][12] == 20.0  # 01:00: Jan 1 public
    with pytest.raises(DataError, match=r"missing column.*nope"):
        join_daily(_panel(), csv, ["nope"])


def test_join_asof_publication_lag() -> None:
    rng = np.random.default_rng(0)
    panel = _panel(500)
    stamps = panel["timestamp"].gather(np.sort(rng.choice(500, 40, replace=False)))
    side = pl.DataFrame({"timestamp": stamps, "hashrate": rng.random(40)})
    lag = dt.timedelta(minutes=17)
    out = join_asof(panel, side, publication_lag=lag)
    back = out.join(
        side.with_columns(vis=pl.col("timestamp") + lag).drop("timestamp"),
        on="hashrate",
        how="left",
    ).drop_nulls("hashrate")
    assert back.height > 0 and (back["vis"] <= back["timestamp"]).all()
    assert out.height == panel.height
