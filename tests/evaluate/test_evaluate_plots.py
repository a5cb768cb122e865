"""Equity with dates, costs and buy and hold; calibration with bin counts."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from nasjax.evaluate import evaluation_report, plot_calibration, plot_equity


@pytest.fixture
def closed_figures(monkeypatch):
    """The figures the plot functions close (kept open for inspection)."""
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    yield figures
    monkeypatch.undo()
    for fig in figures:
        plt.close(fig)


def test_equity_has_dates_costs_and_buy_and_hold(tmp_path, closed_figures):
    times = np.datetime64("2022-03-01T00:00") + np.arange(50) * np.timedelta64(5, "m")
    net = np.full(50, 1e-3)
    plot_equity(
        {"model": net},
        tmp_path / "equity.png",
        times=times,
        cost_bps=7.5,
        benchmark={"buy and hold": -net},
    )
    (ax,) = closed_figures[0].axes
    assert ax.get_xlabel() == "date (UTC)"
    assert "7.5 bps" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "model",
        "buy and hold",
    ]
    dates = np.asarray(ax.lines[0].get_xdata())
    assert dates.dtype.kind == "M" and dates[0] == times[0]
    assert (tmp_path / "equity.png").stat().st_size > 1000


def test_calibration_shows_samples_per_bin(tmp_path, closed_figures):
    y = np.array([1, 0, 1, 1, 0])
    p = np.array([0.99, 0.12, 0.55, 0.51, 0.58])
    probs = {"majority": np.full(5, 0.51), "model": p}
    plot_calibration(y, probs, tmp_path / "calibration.png", annotate="model")
    ax, ax_n = closed_figures[0].axes
    notes = sorted(t.get_text() for t in ax.texts)
    assert notes == ["n=1", "n=1", "n=3"]  # the annotated model's bins
    assert "model (n: samples in the bin)" in [
        t.get_text() for t in ax.get_legend().get_texts()
    ]
    assert ax_n.get_ylabel() == "samples per bin"
    heights = [b.get_height() for b in ax_n.patches]
    assert sum(heights) == 10 and heights[10 + 9] == 1


def test_report_carries_reliability_buy_and_hold_and_period(tmp_path):
    rng = np.random.default_rng(0)
    n_t, n_s = 40, 2
    ids = np.arange(n_t * n_s)
    y = rng.integers(0, 2, ids.size)
    fwd = np.full(ids.size, 1e-3)
    times = np.datetime64("2022-03-01T00:00", "us") + np.arange(n_t + 5) * (
        np.timedelta64(5, "m")
    )
    rep = evaluation_report(
        {"model": rng.random(ids.size)},
        y,
        fwd,
        ids % n_s,
        ids // n_s + 5,
        n_boot=10,
        real_data=False,
        plot_dir=tmp_path,
        timestamps=times,
    )
    assert rep["period"] == ["2022-03-01T00:25:00Z", "2022-03-01T03:40:00Z"]
    rel = rep["models"]["model"]["reliability"]
    assert sum(rel["count"]) == ids.size and len(rel["count"]) == 10
    hold = rep["buy_and_hold"]
    # Always long: every bar earns 1e-3; entering costs 5 bps once per coin.
    assert hold["turnover"] == pytest.approx(1 / n_t)
    expected = np.expm1(n_t * 1e-3 - 5e-4)
    assert hold["cumulative_return"] == pytest.approx(expected)
