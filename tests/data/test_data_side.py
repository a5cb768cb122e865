"""Side series joined as of their publication (nasjax.data.side)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasjax.data import (
    SIDE_PRESETS,
    DataConfig,
    DataError,
    FeatureConfig,
    FoldConfig,
    SideSeries,
    build_dataset,
    load_data,
    load_sample,
    read_side,
)
from nasjax.data.side import side_features, side_grids
from tests.helpers import tiny_synthetic, write_freqtrade

UTC = dt.UTC
FNG = SIDE_PRESETS["fear_greed"]
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "crypto"
DAY_US = 86_400_000_000


def _candles(start: dt.datetime, n_steps: int = 600, n_symbols: int = 2):
    """Synthetic 5-minute candles moved to start at ``start`` (UTC)."""
    frame = tiny_synthetic(0, n_symbols=n_symbols, n_steps=n_steps).frame
    return frame.with_columns(pl.col("timestamp") + (start - frame["timestamp"][0]))


def _bars(start: dt.datetime, n: int, minutes: int = 5) -> pl.Series:
    return pl.datetime_range(
        start,
        start + dt.timedelta(minutes=minutes * (n - 1)),
        f"{minutes}m",
        eager=True,
        time_unit="us",
        time_zone="UTC",
    )


def _us(when: dt.datetime) -> int:
    return int(when.timestamp() * 1_000_000)


# --------------------------------------------------------------------------
# The as-of join and the lag


@settings(max_examples=40, deadline=None)
@given(
    have=st.lists(st.booleans(), min_size=3, max_size=12),
    lag_h=st.integers(0, 60),
    bar_min=st.sampled_from([5, 60, 180]),
    max_age_d=st.none() | st.integers(1, 4),
)
def test_a_value_is_first_seen_at_its_publication_and_never_before(
    tmp_path_factory, have, lag_h, bar_min, max_age_d
) -> None:
    """A value dated day d (lag L) is seen from the first bar opening at or
    after d 00:00 + L, is the latest value visible at every bar that sees it,
    and disappears max_age after it became visible."""
    day0 = dt.datetime(2022, 3, 1, tzinfo=UTC)
    days = [day0 + dt.timedelta(days=i) for i, h in enumerate(have) if h]
    path = tmp_path_factory.getbasetemp() / "daily.csv"
    pl.DataFrame(
        {"Date": [d.strftime("%Y-%m-%d") for d in days], "v": range(len(days))}
    ).write_csv(path)
    n_bars = (len(have) + 5) * 24 * 60 // bar_min
    bars = _bars(day0 - dt.timedelta(days=1), n_bars, bar_min)
    series = SideSeries(
        str(path),
        lag=f"{lag_h}h",
        max_age=None if max_age_d is None else f"{max_age_d}d",
    )
    t = bars.dt.epoch("us").to_numpy()
    if not days or _us(days[0]) + lag_h * 3_600_000_000 > t[-1]:
        with pytest.raises(DataError, match=r"no rows|no candle bar"):
            side_features([series], bars, ["BTC/USDT"])
        return
    ((name, grid),) = side_features([series], bars, ["BTC/USDT"])
    assert name == "v" and grid.shape == (1, n_bars)
    seen = grid[0]
    visible = np.array([_us(d) for d in days]) + lag_h * 3_600_000_000
    expected = np.full(n_bars, np.nan)
    for i, when in enumerate(t):
        k = np.flatnonzero(visible <= when)
        if k.size and (
            max_age_d is None or when - visible[k[-1]] <= max_age_d * DAY_US
        ):
            expected[i] = k[-1]
    np.testing.assert_array_equal(seen, expected)
    for k, vis in enumerate(visible):
        hits = np.flatnonzero(seen == k)
        assert (t[hits] >= vis).all()  # never before its publication
        if vis <= t[-1]:  # first seen by the first bar at or after it
            assert hits.size and hits[0] == np.searchsorted(t, vis)


def test_the_default_lag_shows_a_daily_value_the_next_day(tmp_path) -> None:
    path = tmp_path / "daily.csv"
    path.write_text("Date,v\n2022-01-01,1\n2022-01-02,2\n2022-01-03,3\n")
    bars = _bars(dt.datetime(2022, 1, 1, tzinfo=UTC), 4 * 288)
    ((_, grid),) = side_features([SideSeries(str(path))], bars, ["X/USDT"])
    day = bars.dt.day().to_numpy()
    # Day 1 has no value yet (day 0 is not in the file): nothing leaks.
    assert np.isnan(grid[0, day == 1]).all()
    for d in (2, 3, 4):
        assert (grid[0, day == d] == d - 1).all()


def test_market_wide_broadcasts_and_per_coin_joins_on_symbol(tmp_path) -> None:
    frame = _candles(dt.datetime(2022, 1, 1, tzinfo=UTC), n_steps=300, n_symbols=3)
    hours = [
        dt.datetime(2021, 12, 31, 23, tzinfo=UTC) + dt.timedelta(hours=h)
        for h in range(26)
    ]
    # The coins spelt three ways: a Binance pair, a bare asset, BASE/QUOTE.
    spelt = {
        "SYN00/USDT": "SYN00USDT",
        "SYN01/USDT": "SYN01",
        "SYN02/USDT": "SYN02/USDT",
    }
    rows = [
        {"time": h.isoformat(), "coin": name, "flow": 100.0 * i + k}
        for i, name in enumerate(spelt.values())
        for k, h in enumerate(hours)
    ]
    per_coin = tmp_path / "flows.parquet"
    pl.DataFrame(rows).write_parquet(per_coin)
    market = tmp_path / "market.csv"
    pl.DataFrame(
        {"timestamp": [h.isoformat() for h in hours], "hashrate": np.arange(26.0)}
    ).write_csv(market)
    side = [
        SideSeries(str(per_coin), symbol_column="coin", lag="1h"),
        SideSeries(str(market), lag="0", prefix="mkt_"),
    ]
    ds, _, _ = build_dataset(
        frame, FeatureConfig.minimal(), window=4, folds=FoldConfig(n_folds=2), side=side
    )
    names = ds.meta.feature_names
    assert names[-2:] == ("flow", "mkt_hashrate")
    feats = np.asarray(ds.features)
    t = ds.meta.timestamps.astype("datetime64[us]").astype(np.int64)
    since = (t - _us(hours[0])) // 3_600_000_000  # hours since the first stamp
    for i in range(3):  # per coin: its own value, stamped an hour earlier
        np.testing.assert_array_equal(feats[:, i, -2], 100.0 * i + since - 1)
    for i in range(3):  # market-wide: the same value for every coin
        np.testing.assert_array_equal(feats[:, i, -1], since)


def test_fear_greed_on_the_bundled_sample() -> None:
    frame = load_sample(["BTC/USDT", "ETH/USDT"]).filter(
        pl.col("timestamp") < dt.datetime(2022, 1, 16, tzinfo=UTC)
    )
    kw = {"window": 8, "folds": FoldConfig(n_folds=2)}
    base = build_dataset(frame, FeatureConfig.minimal(), **kw)
    ds, folds, norm = build_dataset(
        frame, FeatureConfig.minimal(), **kw, side=[SideSeries("fear_greed")]
    )
    assert ds.meta.feature_names == (*base.dataset.meta.feature_names, "fng_value")
    feats = np.asarray(ds.features)
    # The candle features, the samples and their statistics are unchanged.
    np.testing.assert_array_equal(feats[..., :-1], np.asarray(base.dataset.features))
    np.testing.assert_array_equal(ds.label_mask, base.dataset.label_mask)
    np.testing.assert_array_equal(norm.mean[:, :-1], base.norm.mean)
    # Each bar sees the value of the day before its own.
    fng = pl.read_csv(FNG).with_columns(pl.col("Date").str.to_date())
    day = pl.Series(ds.meta.timestamps).dt.date() - dt.timedelta(days=1)
    expected = pl.DataFrame({"Date": day}).join(fng, on="Date", how="left")
    for s in range(2):
        np.testing.assert_array_equal(feats[:, s, -1], expected["fng_value"])
    # Normalised causally: each fold's statistics come from its train part.
    mask = np.asarray(ds.label_mask)
    for k, (a, b) in enumerate(np.asarray(folds.train_range)):
        train = feats[a:b, :, -1][mask[a:b]]
        assert norm.mean[k, -1] == pytest.approx(train.mean(), rel=1e-5)


def test_the_bundled_index_is_the_shared_file_with_its_provenance() -> None:
    text = (FNG.parent / "PROVENANCE.md").read_text()
    assert "162895bc29439f3fb7d11cb4d6b8471be4b620d8ca7c24526990133eadbb4d95" in text
    assert "market-top-detector" in text
    table = read_side(SideSeries("fear_greed"))
    assert list(table.values) == ["fng_value"] and len(table.visible) == 1928
    shared = SHARED / "sentiment" / "fear_greed_index_shared.csv"
    if shared.exists():
        assert FNG.read_bytes() == shared.read_bytes()


# --------------------------------------------------------------------------
# Gaps and bad input


def test_bars_in_a_gap_of_the_index_are_masked_or_refused(caplog) -> None:
    # The index stops on 2020-11-30: its last value is visible from Dec 1
    # and, with max_age=7d, usable until Dec 8 00:00.
    bars = _bars(dt.datetime(2020, 11, 28, tzinfo=UTC), 14 * 24, minutes=60)
    with caplog.at_level(logging.WARNING, logger="nasjax.data"):
        ((_, grid),) = side_features([SideSeries("fear_greed")], bars, ["BTC/USDT"])
    last = bars <= dt.datetime(2020, 12, 8, tzinfo=UTC)
    assert np.isfinite(grid[0, last.to_numpy()]).all()
    assert np.isnan(grid[0, ~last.to_numpy()]).all()
    assert "no value" in caplog.text
    with pytest.raises(DataError, match=r"fear_greed_index\.csv.*2020-12-08 01:00"):
        side_features([SideSeries("fear_greed", missing="error")], bars, ["BTC/USDT"])
    # A frame inside the gap: nothing to join, never a stale value.
    inside = _bars(dt.datetime(2021, 1, 10, tzinfo=UTC), 48, minutes=60)
    with pytest.raises(DataError, match=r"no candle bar.*fear_greed_index\.csv"):
        side_features([SideSeries("fear_greed")], inside, ["BTC/USDT"])
    # Without an age limit the last value is carried (a documented choice).
    ((_, carried),) = side_features(
        [SideSeries("fear_greed", max_age=None)], inside, ["BTC/USDT"]
    )
    assert (carried == 88.0).all()  # 2020-11-30's value


def test_masked_bars_drop_samples_in_the_dataset() -> None:
    frame = _candles(dt.datetime(2020, 12, 7, tzinfo=UTC), n_steps=600)
    ds, _, _ = build_dataset(
        frame, FeatureConfig.minimal(), window=4, side=[SideSeries("fear_greed")]
    )
    ts = pl.Series(ds.meta.timestamps).dt.replace_time_zone("UTC")
    late = (ts > dt.datetime(2020, 12, 8, tzinfo=UTC)).to_numpy()
    mask = np.asarray(ds.label_mask)
    assert mask[~late].any() and not mask[late].any()


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


BAD = {
    "missing file": (lambda d: SideSeries(str(d / "nope.csv")), r"no such side-data"),
    "missing column": (
        lambda d: SideSeries("fear_greed", columns=("fng_score",)),
        r"no column 'fng_score'.*fear_greed_index\.csv",
    ),
    "text column": (
        lambda d: SideSeries("fear_greed", columns=("fng_class",)),
        r"non-numeric.*'Fear'.*fear_greed_index\.csv.*column='fng_class', row=0",
    ),
    "unknown extension": (
        lambda d: SideSeries(_write(d / "x.txt", "Date,v\n2022-01-01,1\n")),
        r"must be one of.*x\.txt",
    ),
    "no time column": (
        lambda d: SideSeries(_write(d / "x.csv", "when,v\n2022-01-01,1\n")),
        r"none of the time columns.*x\.csv",
    ),
    "unparsable time": (
        lambda d: SideSeries(
            _write(d / "x.csv", "Date,v\n2022-01-01,1\n2022-13-45,2\n")
        ),
        r"unparsable time.*x\.csv.*row=1",
    ),
    "repeated day": (
        lambda d: SideSeries(
            _write(d / "x.csv", "Date,v\n2022-01-01,1\n2022-01-01,2\n")
        ),
        r"repeated time.*x\.csv",
    ),
    "infinite value": (
        lambda d: SideSeries(
            _write(d / "x.csv", "Date,v\n2022-01-01,1\n2022-01-02,inf\n")
        ),
        r"infinite.*x\.csv.*row=1",
    ),
    "coin absent": (
        lambda d: SideSeries(
            _write(d / "x.csv", "Date,symbol,v\n2022-01-01,ETH/USDT,1\n"),
            symbol_column="symbol",
        ),
        r"no rows for BTC/USDT.*x\.csv",
    ),
    "name collision": (
        lambda d: SideSeries(_write(d / "x.csv", "Date,ret_1\n2022-01-01,1\n")),
        r"already a feature.*x\.csv",
    ),
    "empty file": (
        lambda d: SideSeries(_write(d / "x.csv", "Date,v\n")),
        r"no rows.*x\.csv",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_side_data_is_a_clear_error_naming_the_file(tmp_path, case) -> None:
    make, message = BAD[case]
    bars = _bars(dt.datetime(2022, 1, 2, tzinfo=UTC), 48, minutes=60)
    with pytest.raises(DataError, match=message):
        side_features([make(tmp_path)], bars, ["BTC/USDT"], taken=["ret_1"])


def test_bad_settings_fail_when_configured() -> None:
    with pytest.raises(ValueError, match="lag"):
        SideSeries("fear_greed", lag="3x")
    with pytest.raises(ValueError, match="missing"):
        SideSeries("fear_greed", missing="drop")
    with pytest.raises(ValueError, match="ucr"):
        DataConfig(source="ucr", name="BasicMotions", side=(SideSeries("fear_greed"),))


# --------------------------------------------------------------------------
# Through the data configuration


@pytest.mark.parametrize("source", ["freqtrade", "csv", "parquet"])
def test_data_config_sources_get_the_side_feature(tmp_path, source) -> None:
    frame = _candles(dt.datetime(2022, 1, 1, tzinfo=UTC), n_steps=400)
    if source == "freqtrade":
        path = write_freqtrade(frame, tmp_path / "ft")
    elif source == "csv":
        frame.write_csv(path := tmp_path / "candles.csv")
    else:
        frame.write_parquet(path := tmp_path / "candles.parquet")
    cfg = DataConfig(
        source=source,
        path=str(path),
        window=4,
        n_folds=2,
        min_history_bars=0,
        side=(SideSeries("fear_greed", columns=("fng_value",), time_column="Date"),),
    )
    ds = load_data(cfg, FeatureConfig.minimal()).dataset
    assert ds.meta.feature_names[-1] == "fng_value"
    # 2022-01-01 and 2022-01-02 bars see 2021-12-31 (28) and 2022-01-01 (21).
    fng = np.asarray(ds.features)[:, 0, -1]
    day = pl.Series(ds.meta.timestamps).dt.day().to_numpy()
    assert (fng[day == 1] == 28.0).all() and (fng[day == 2] == 21.0).all()
    plain = load_data(
        DataConfig(
            source=source, path=str(path), window=4, n_folds=2, min_history_bars=0
        ),
        FeatureConfig.minimal(),
    ).dataset
    assert "fng_value" not in plain.meta.feature_names


def test_side_grids_of_a_read_table_are_reusable() -> None:
    table = read_side(SideSeries("fear_greed"))
    t = _bars(dt.datetime(2022, 1, 1, tzinfo=UTC), 3, minutes=1440)
    ((_, a),) = side_grids(table, t.dt.epoch("us").to_numpy(), ["A/USDT"])
    ((_, b),) = side_grids(table, t.dt.epoch("us").to_numpy(), ["A/USDT", "B/USDT"])
    np.testing.assert_array_equal(a, b)  # market-wide: one row for any coins
    assert a.shape == (1, 3)
