"""Causal features and labels."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasjax.data import (
    DataError,
    FeatureConfig,
    align_panel,
    compute_features,
    make_labels,
)
from nasjax.data import synthetic as make_synthetic

CFG = FeatureConfig(return_lags=(1, 3), vol_windows=(4,), volume_window=5)
BASE = make_synthetic(3, n_symbols=3, n_steps=60).frame


def _features(frame: pl.DataFrame) -> np.ndarray:
    df, names = compute_features(frame, CFG)
    return df.select(names).to_numpy()


@settings(max_examples=25, deadline=None)
@given(t=st.integers(0, 58), seed=st.integers(0, 2**31 - 1))
def test_changing_future_rows_changes_no_feature_at_t(t: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ts = BASE["timestamp"].unique().sort()[t]
    future = pl.col("timestamp") > ts
    k = rng.uniform(0.5, 2.0)
    changed = BASE.with_columns(
        [
            pl.when(future).then(pl.col(c) * k).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close", "volume")
        ]
    )
    a = compute_features(BASE, CFG)[0].filter(pl.col("timestamp") <= ts)
    b = compute_features(changed, CFG)[0].filter(pl.col("timestamp") <= ts)
    assert a.equals(b)


def test_feature_names_and_warmup() -> None:
    df, names = compute_features(BASE, CFG)
    assert names[:2] == ("ret_1", "ret_3") and "mkt_ret_1" in names
    assert "ret_1@SYN01/USDT" in names and "tod_sin" in names
    lead = df.filter(pl.col("symbol") == "SYN00/USDT").head(CFG.lookback())
    assert lead.select(names).null_count().sum_horizontal().item() > 0
    rest = df.filter(pl.col("symbol") == "SYN00/USDT").slice(CFG.lookback())
    assert rest.select(names).null_count().sum_horizontal().item() == 0
    r1 = df.filter(pl.col("symbol") == "SYN01/USDT")["ret_1"]
    cross = df.filter(pl.col("symbol") == "SYN00/USDT")["ret_1@SYN01/USDT"]
    assert r1.null_count() == 1 and cross.null_count() == 0
    # Another coin's return is 0 where that coin has none (here: its first bar).
    assert np.allclose(r1.fill_null(0.0).to_numpy(), cross.to_numpy())
    with pytest.raises(DataError):
        compute_features(BASE, FeatureConfig(return_lags=(0,)))


def test_labels_sign_deadzone_and_tail() -> None:
    close = [1.0, 2.0, 2.0, 1.0, 1.001, 3.0]
    frame = align_panel(
        BASE.filter(pl.col("symbol") == "SYN00/USDT")
        .head(6)
        .with_columns(pl.Series("close", close)),
        "5m",
    )
    assert isinstance(frame, pl.DataFrame)
    lab = make_labels(frame, horizon=1)
    assert lab["label"].to_list() == [1, None, 0, 1, 1, None]
    lab = make_labels(frame, horizon=1, dead_zone=0.01, dead_zone_mode="class")
    assert lab["label"].to_list() == [1, 2, 0, 2, 1, None]
    lab = make_labels(frame, horizon=2)
    assert lab["label"].to_list()[-2:] == [None, None]
    assert lab["forward_return"][0] == pytest.approx(np.log(2.0))
    with pytest.raises(DataError):
        make_labels(frame, dead_zone_mode="zero")


def test_features_and_labels_do_not_depend_on_row_order() -> None:
    shuffled = BASE.sample(fraction=1.0, shuffle=True, seed=5)
    a, names = compute_features(BASE, CFG)
    b, names_b = compute_features(shuffled, CFG)
    assert names == names_b and a.equals(b)
    assert make_labels(a, horizon=2).equals(make_labels(b.sample(fraction=1.0), 2))
    with pytest.raises(DataError, match="not aligned"):
        compute_features(BASE.slice(1), CFG)
    other = BASE.with_columns(
        pl.when(pl.col("symbol") == "SYN01/USDT")
        .then(pl.col("timestamp") + pl.duration(minutes=5))
        .otherwise(pl.col("timestamp"))
    )
    with pytest.raises(DataError, match="different timestamps"):
        compute_features(other, CFG)
