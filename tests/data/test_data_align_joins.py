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


def test_fill_uses_the_close_just_before_the_gap() -> None:
    # SYN01 misses bars 5..9 (a long gap: those bars are dropped for all
    # symbols); SYN00 misses bar 10 (short gap, filled). Bar 9 of SYN00 is
    # off the grid, but the filled bar 10 carries its close, the last price.
    df = make_synthetic(1, n_symbols=2, n_steps=30).frame
    i = pl.int_range(pl.len()).over("symbol")
    s0, s1 = pl.col("symbol") == "SYN00/USDT", pl.col("symbol") == "SYN01/USDT"
    gappy = df.filter(~((s0 & (i == 10)) | (s1 & i.is_between(5, 9))))
    out, rep = align_panel(gappy, "5m", max_fill=1, return_report=True)
    assert isinstance(out, pl.DataFrame) and isinstance(rep, AlignReport)
    assert rep.dropped_steps == 5 and rep.long_gaps_per_symbol["SYN01/USDT"] == 1
    assert rep.filled_per_symbol == {"SYN00/USDT": 1, "SYN01/USDT": 0}
    src = df.filter(s0)
    cell = out.filter(pl.col("filled"))
    assert cell["timestamp"][0] == src["timestamp"][10]
    for c in ("open", "high", "low", "close"):
        assert cell[c][0] == src["close"][9]
    assert cell["volume"][0] == 0.0
    kept = out.filter(s0)["timestamp"]
    assert src["timestamp"][9] not in kept.to_list() and kept.len() == 25


def test_align_is_order_free_and_rejects_repeats() -> None:
    df = panel_with_gaps()
    a = align_panel(df, "5m", max_fill=2)
    b = align_panel(df.sample(fraction=1.0, shuffle=True, seed=3), "5m", max_fill=2)
    assert isinstance(a, pl.DataFrame) and a.equals(b)
    full = make_synthetic(2, n_symbols=2, n_steps=20).frame
    same = align_panel(full, "5m")
    assert isinstance(same, pl.DataFrame)
    assert same.drop("filled").equals(full) and not same["filled"].any()
    with pytest.raises(DataError, match=r"duplicate timestamp.*SYN01/USDT"):
        align_panel(
            pl.concat([full, full.filter(pl.col("symbol") == "SYN01/USDT")]), "5m"
        )
    off = full.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.col("timestamp") + dt.timedelta(minutes=1))
        .otherwise(pl.col("timestamp"))
    )
    with pytest.raises(DataError, match="not on the 5m grid"):
        align_panel(off, "5m")
