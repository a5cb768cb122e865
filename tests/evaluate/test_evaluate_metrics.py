"""Metric numerics vs scikit-learn, bootstrap, paired test, trading, report."""

import json
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

import nasjax  # noqa: F401
from nasjax.evaluate import (
    METRICS,
    LeakageWarning,
    bootstrap_ci,
    check_leakage,
    evaluation_report,
    max_drawdown,
    paired_test,
    strategy_returns,
    trading_summary,
)


def _data(n, seed=0, signal=0.2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.5 + signal * (2 * y - 1) + 0.3 * rng.standard_normal(n), 0, 1)
    return y, np.round(p, 2)  # rounding creates ties for the AUC


def test_metrics_match_sklearn():
    y, p = _data(3000)
    h = (p > 0.5).astype(int)
    ref = {
        "accuracy": skm.accuracy_score(y, h),
        "balanced_accuracy": skm.balanced_accuracy_score(y, h),
        "mcc": skm.matthews_corrcoef(y, h),
        "f1": skm.f1_score(y, h),
        "roc_auc": skm.roc_auc_score(y, p),
        "log_loss": skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)),
        "brier": skm.brier_score_loss(y, p),
    }
    for name, fn in METRICS.items():
        assert fn(y, p) == pytest.approx(ref[name], rel=1e-9, abs=1e-12), name


def test_bootstrap_ci_contains_estimate_and_shrinks():
    widths = []
    for n in (400, 6400):
        y, p = _data(n, seed=n)
        est, lo, hi = bootstrap_ci(METRICS["accuracy"], y, p, n_boot=300, seed=1)
        assert lo <= est <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2.5  # ~ 1/sqrt(16) = 1/4


def test_paired_test():
    y, p = _data(2000)
    same = paired_test(y, p, p, n_boot=200)
    assert same["diff"] == 0.0 and same["p_value"] == 1.0
    coin = np.random.default_rng(3).random(2000)
    better = paired_test(y, y.astype(float), coin, n_boot=500)
    assert better["diff"] > 0.4 and better["p_value"] < 0.01
    assert better["low"] <= better["diff"] <= better["high"]


def test_after_cost_pnl_toy_example():
    # One coin, 4 bars: positions +1, +1, -1, -1 (long_short).
    p = np.array([0.9, 0.6, 0.2, 0.4])
    r = np.array([0.01, -0.02, -0.03, 0.01])
    coin = np.zeros(4, int)
    t = np.arange(4)
    _, net, turn = strategy_returns(p, r, coin, t, cost_bps=10.0)
    # turnover: 1 (from flat), 0, 2, 0; cost 10 bps per unit.
    np.testing.assert_allclose(turn, [1, 0, 2, 0])
    np.testing.assert_allclose(net, [0.01 - 0.001, -0.02, 0.03 - 0.002, -0.01])
    s = trading_summary(net, turn, bars_per_year=4)
    assert s["cumulative_return"] == pytest.approx(
        np.expm1(0.009 - 0.02 + 0.028 - 0.01)
    )
    expected_sharpe = net.mean() / net.std(ddof=1) * 2.0
    assert s["sharpe"] == pytest.approx(expected_sharpe)
    eq = np.exp(np.cumsum(np.r_[0.0, net]))
    assert max_drawdown(net) == pytest.approx(
        np.max(1 - eq / np.maximum.accumulate(eq))
    )
    # long_flat: no short in bars 2-3.
    _, net_lf, turn_lf = strategy_returns(p, r, coin, t, cost_bps=0.0, rule="long_flat")
    np.testing.assert_allclose(net_lf, [0.01, -0.02, 0.0, 0.0])
    np.testing.assert_allclose(turn_lf, [1, 0, 1, 0])


def test_leakage_guard_warns_only_above_threshold_on_real_data():
    with pytest.warns(LeakageWarning, match="leakage"):
        assert check_leakage(0.65, name="suspect")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_leakage(0.55)
        assert not check_leakage(0.70, real_data=False)


def test_report_is_json_serialisable_with_plots(tmp_path):
    rng = np.random.default_rng(0)
    n_t, n_s = 300, 3
    ids = np.arange(n_t * n_s)
    y = rng.integers(0, 2, ids.size)
    fwd = 0.001 * (2 * y - 1) * rng.random(ids.size)
    preds = {
        "majority": np.full(ids.size, 0.51),
        "model": np.clip(
            0.5 + 0.1 * (2 * y - 1) + 0.2 * rng.standard_normal(ids.size), 0, 1
        ),
    }
    rep = evaluation_report(
        preds,
        y,
        fwd,
        ids % n_s,
        ids // n_s,
        symbols=["A", "B", "C"],
        n_boot=50,
        real_data=False,
        plot_dir=tmp_path,
    )
    text = json.dumps(rep)
    assert "roc_auc" in text
    m = rep["models"]["model"]
    assert set(m["per_coin"]) == {"A", "B", "C"}
    assert m["metrics"]["accuracy"]["low"] <= m["metrics"]["accuracy"]["value"]
    assert "vs_reference" in m and "vs_reference" not in rep["models"]["majority"]
    assert m["trading"]["n_bars"] == n_t
    for path in rep["plots"]:
        assert (tmp_path / path.split("/")[-1]).stat().st_size > 1000
