"""Synthetic generator: validity, known Bayes accuracy, learnability."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from nasjax.data import FeatureConfig, compute_features, make_labels, synthetic


def test_valid_ohlcv_and_determinism() -> None:
    d = synthetic(0, n_symbols=4, n_steps=500)
    f = d.frame
    assert f.height == 2000 and f["symbol"].n_unique() == 4
    assert (f["low"] > 0).all() and (f["volume"] > 0).all()
    ok = f.select(
        (pl.col("high") >= pl.max_horizontal("open", "close")).all(),
        (pl.col("low") <= pl.min_horizontal("open", "close")).all(),
    )
    assert ok.row(0) == (True, True)
    step = f.filter(pl.col("symbol") == d.symbols[0])["timestamp"].diff().drop_nulls()
    assert (step.dt.total_minutes() == 5).all()
    assert synthetic(0, n_symbols=4, n_steps=500).frame.equals(f)
    assert not synthetic(1, n_symbols=4, n_steps=500).frame.equals(f)


@pytest.mark.parametrize("signal", [0.0, 0.1, 0.25])
def test_bayes_rule_accuracy_matches(signal: float) -> None:
    n, s = 20_000, 4
    d = synthetic(7, n_symbols=s, n_steps=n, signal=signal)
    assert d.bayes_accuracy == pytest.approx(0.5 + signal)
    y = make_labels(d.frame)["label"].to_numpy().reshape(s, n).T
    ok = d.oracle >= 0
    acc = (y[ok] == d.oracle[ok]).mean()
    se = np.sqrt(0.25 / ok.sum())
    assert abs(acc - d.bayes_accuracy) < 4 * se


def _xy(d, cfg: FeatureConfig):
    df, names = compute_features(d.frame, cfg)
    df = make_labels(df).drop_nulls([*names, "label"])
    df = df.sort(["timestamp", "symbol"])
    return df.select(names).to_numpy(), df["label"].to_numpy()


CFG = FeatureConfig(return_lags=(1, 3), vol_windows=(6,), volume_window=6)


def test_no_signal_gives_chance() -> None:
    d = synthetic(11, n_symbols=4, n_steps=6000, signal=0.0)
    x, y = _xy(d, CFG)
    cut = int(0.7 * len(y))
    lr = LogisticRegression(max_iter=500).fit(x[:cut], y[:cut])
    acc = (lr.predict(x[cut:]) == y[cut:]).mean()
    assert abs(acc - 0.5) < 4 * np.sqrt(0.25 / (len(y) - cut))


def test_gbdt_finds_planted_signal() -> None:
    d = synthetic(5, n_symbols=4, n_steps=3000, signal=0.2)
    x, y = _xy(d, CFG)
    cut = int(0.7 * len(y))
    gb = HistGradientBoostingClassifier(max_iter=60, random_state=0)
    gb.fit(x[:cut], y[:cut])
    acc = (gb.predict(x[cut:]) == y[cut:]).mean()
    assert acc > 0.6  # Bayes accuracy 0.7; chance 0.5
    lr = LogisticRegression(max_iter=500).fit(x[:cut], y[:cut])
    assert (lr.predict(x[cut:]) == y[cut:]).mean() < 0.56  # nonlinear signal
