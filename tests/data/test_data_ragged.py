"""Ragged panels: coins listed late or delisted early keep all their bars."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasjax.data import (
    DataConfig,
    DataError,
    FeatureConfig,
    align_panel,
    build_dataset,
    load_data,
)
from nasjax.data import synthetic as make_synthetic
from tests.helpers import fold_frame, ragged_sample, write_freqtrade

N_BARS = 3000
LATE, GONE, STAY = "SOL/USDT", "ETH/USDT", "BTC/USDT"
FEATURES = FeatureConfig(
    return_lags=(1, 3),
    vol_windows=(6,),
    volume_window=12,
    market_return=True,
    reference_symbol=None,
    cross_asset_returns=True,
    calendar=True,
)
WINDOW = 8
OWN = ("ret", "vol", "hl_")  # name prefixes of a coin's own features


@functools.cache
def ragged() -> pl.DataFrame:
    """SOL listed after 60% of the bars, ETH delisted for the last 30%."""
    return ragged_sample(n_bars=N_BARS, listed={LATE: 0.6}, delisted={GONE: 0.3})


def column(ds, sym: str) -> np.ndarray:
    return np.asarray(ds.label_mask)[:, ds.meta.symbols.index(sym)]


def test_late_listing_and_delisting_keep_every_bar() -> None:
    frame = ragged()
    ds, _, norm = fold_frame(frame, features=FEATURES, window=WINDOW)
    rep = ds.meta.align
    assert rep is not None
    # The panel spans the union of the periods; every coin keeps all its bars.
    assert ds.features.shape[0] == N_BARS
    rows = dict(frame.group_by("symbol").len().iter_rows())
    assert rep.bars_per_symbol == rows
    assert rep.dropped_per_symbol == {LATE: 0, GONE: 0, STAY: 0}
    assert rep.absent_per_symbol == {LATE: 1800, GONE: 900, STAY: 0}
    assert rep.dropped_symbols == {}
    # Samples exist where a coin has its window and label, nowhere else.
    late = column(ds, LATE)
    assert late.any() and not late[: 1800 + WINDOW].any()  # listed at bar 1800
    gone = column(ds, GONE)
    assert gone.any() and not gone[2100 - 1 :].any()  # last bar 2099 has no label
    # The coin trading throughout loses nothing to the others' absence.
    dense = fold_frame(
        ragged_sample(n_bars=N_BARS), features=FEATURES, window=WINDOW
    ).dataset
    np.testing.assert_array_equal(column(ds, STAY), column(dense, STAY))
    assert np.isfinite(np.asarray(norm.mean)).all()
    assert np.isfinite(np.asarray(norm.std)).all()
    # Before: the grid was cut to the common period (900 bars here).
    cut = build_dataset(
        frame, FEATURES, window=WINDOW, span="intersection", gap_policy="drop"
    ).dataset
    assert cut.features.shape[0] == 2100 - 1800


def test_a_long_gap_masks_only_its_coin() -> None:
    frame = ragged_sample(n_bars=N_BARS)
    i = pl.int_range(pl.len()).over("symbol")
    gappy = frame.filter(~((pl.col("symbol") == GONE) & i.is_between(1000, 1049)))
    ds = fold_frame(gappy, features=FEATURES, window=WINDOW).dataset
    dense = fold_frame(frame, features=FEATURES, window=WINDOW).dataset
    assert ds.features.shape[0] == N_BARS
    assert ds.meta.align is not None
    assert ds.meta.align.absent_per_symbol[GONE] == 50
    np.testing.assert_array_equal(column(ds, STAY), column(dense, STAY))
    np.testing.assert_array_equal(column(ds, LATE), column(dense, LATE))
    gone = column(ds, GONE)
    assert not gone[1000 - 1 : 1050 + WINDOW].any()  # label or window in the gap
    assert gone[1050 + 50 :].any()
    # gap_policy="drop" (the old behaviour) removes the gap for every coin.
    dropped = build_dataset(gappy, FEATURES, window=WINDOW, gap_policy="drop").dataset
    assert dropped.features.shape[0] == N_BARS - 50


def test_min_history_drops_short_coins_with_a_logged_reason(caplog) -> None:
    frame = ragged_sample(n_bars=N_BARS, listed={LATE: 0.95})  # 150 bars
    with caplog.at_level(logging.INFO, logger="nasjax.data"):
        ds = build_dataset(frame, FEATURES, window=WINDOW, min_history=288).dataset
    assert ds.meta.symbols == (STAY, GONE)
    assert ds.meta.align is not None
    assert ds.meta.align.dropped_symbols == {LATE: "150 bars < min_history=288"}
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warned] == [
        f"{LATE} dropped: 150 bars < min_history=288"
    ]
    kept = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(m.startswith(f"{STAY}: {N_BARS} bars kept") for m in kept)
    # Without the minimum the coin stays, with its 150 bars.
    every = build_dataset(frame, FEATURES, window=WINDOW).dataset
    assert every.meta.symbols == (STAY, GONE, LATE)
    with pytest.raises(DataError, match="no symbol has min_history=5000 bars"):
        build_dataset(frame, FEATURES, window=WINDOW, min_history=5000)
    with pytest.raises(ValueError, match="min_history_bars"):
        DataConfig(min_history_bars=-1)


def test_freqtrade_folder_with_a_late_listing_uses_every_coin(tmp_path: Path) -> None:
    frame = ragged_sample(n_bars=N_BARS, listed={LATE: 0.6})
    folder = write_freqtrade(frame, tmp_path / "binance")
    cfg = DataConfig(
        source="freqtrade", path=str(folder), timeframe="5m", window=WINDOW
    )
    ds = load_data(cfg, FEATURES).dataset
    assert ds.features.shape[0] == N_BARS
    rep = ds.meta.align
    assert rep is not None
    assert rep.bars_per_symbol == {GONE: N_BARS, LATE: 1200, STAY: N_BARS}
    dense = fold_frame(
        ragged_sample(n_bars=N_BARS), features=FEATURES, window=WINDOW
    ).dataset
    np.testing.assert_array_equal(column(ds, STAY), column(dense, STAY))
    np.testing.assert_array_equal(column(ds, GONE), column(dense, GONE))
    assert column(ds, LATE)[1800:].sum() > 1100


def _cut(frame: pl.DataFrame, cuts: list[tuple[int, int]], gap: tuple) -> pl.DataFrame:
    """Per coin k, bars before cuts[k][0] and from n - cuts[k][1] removed;
    coin gap[0] also loses gap[2] bars from bar gap[1]."""
    i = pl.int_range(pl.len()).over("symbol")
    n = pl.len().over("symbol")
    drop = pl.lit(False)
    for k, (start, end) in enumerate(cuts):
        sym = pl.col("symbol") == f"SYN{k:02d}/USDT"
        drop = drop | (sym & ((i < start) | (i >= n - end)))
    g_sym = pl.col("symbol") == f"SYN{gap[0]:02d}/USDT"
    drop = drop | (g_sym & i.is_between(gap[1], gap[1] + gap[2] - 1))
    return frame.filter(~drop)


SYN = make_synthetic(4, n_symbols=3, n_steps=400).frame


@functools.cache
def dense_syn_mask() -> np.ndarray:
    return np.asarray(
        fold_frame(SYN, features=FEATURES, window=WINDOW).dataset.label_mask
    )


@settings(max_examples=25, deadline=None)
@given(
    cuts=st.lists(
        st.tuples(st.integers(0, 120), st.integers(0, 120)), min_size=3, max_size=3
    ),
    gap=st.tuples(st.integers(0, 2), st.integers(130, 250), st.integers(0, 12)),
)
def test_no_kept_sample_touches_an_absent_cell(cuts, gap) -> None:
    cuts[0] = (0, 0)  # one coin trades throughout
    frame = _cut(SYN, cuts, gap)
    ds, _, norm = fold_frame(frame, features=FEATURES, window=WINDOW)
    panel = align_panel(frame, "5m", span="union", gap_policy="mask")
    assert isinstance(panel, pl.DataFrame)
    n_sym, n_steps = len(ds.meta.symbols), ds.features.shape[0]
    absent = panel["close"].is_null().to_numpy().reshape(n_sym, n_steps).T
    filled = panel["filled"].to_numpy().reshape(n_sym, n_steps).T
    feats = np.asarray(ds.features)
    mask = np.asarray(ds.label_mask)
    # No NaN anywhere; a coin's own features are 0 where it has no bar (the
    # shared ones, calendar and other coins' returns, are still defined).
    names = ds.meta.feature_names
    own = [k for k, n in enumerate(names) if "@" not in n and n[:3] in OWN]
    assert np.isfinite(feats).all() and (feats[absent][:, own] == 0).all()
    assert np.isfinite(np.asarray(norm.mean)).all()
    t, s = np.nonzero(mask)
    window = t[:, None] + np.arange(1 - WINDOW, 1)[None, :]
    assert (window >= 0).all() and not absent[window, s[:, None]].any()
    assert not absent[t + ds.meta.horizon, s].any()
    assert not filled[t, s].any() and not filled[t + ds.meta.horizon, s].any()
    # The market return is the mean over the coins that have a return.
    logc = np.log(panel["close"].to_numpy().reshape(n_sym, n_steps).T)
    r1 = np.full_like(logc, np.nan)
    r1[1:] = logc[1:] - logc[:-1]
    some = ~np.isnan(r1).all(axis=1)
    mkt = feats[:, 0, ds.meta.feature_names.index("mkt_ret_1")]
    np.testing.assert_allclose(mkt[some], np.nanmean(r1[some], axis=1), atol=1e-6)
    # The coin trading throughout keeps every sample of the dense panel.
    if gap[0] != 0 or gap[2] == 0:
        np.testing.assert_array_equal(mask[:, 0], dense_syn_mask()[:, 0])
