"""Walk-forward folds, windows, normalisation and build_dataset."""

from __future__ import annotations

import types

import jax
import numpy as np
import pytest

from nasjax.data import (
    DataError,
    FeatureConfig,
    build_dataset,
    fit_norm_stats,
    gather_windows,
    load_sample,
    normalize,
    walk_forward,
)
from nasjax.data.splits import fold_samples, split_last_validation
from tests.helpers import tiny_dataset


@pytest.mark.parametrize("mode", ["expanding", "sliding"])
@pytest.mark.parametrize(("n", "k", "w", "h"), [(1000, 3, 10, 2), (5000, 5, 32, 12)])
def test_walk_forward_purge_embargo(mode: str, n: int, k: int, w: int, h: int) -> None:
    f = walk_forward(n, k, w, h, mode=mode, embargo=3)
    test = f.test[f.test_mask]
    assert test.max() == n - 1
    for i in range(k):
        tr, va = f.train[i][f.train_mask[i]], f.val[i][f.val_mask[i]]
        assert np.all(np.diff(tr) == 1) and np.all(np.diff(va) == 1)
        assert va.min() - tr.max() > h + w  # purge >= h + w bars between
        assert test.min() - tr.max() > h + w
        assert test.min() - va.max() > h + w  # purge before test too
        assert not np.intersect1d(va, test).size
        if i:
            prev = f.val[i - 1][f.val_mask[i - 1]]
            assert va.min() - prev.max() > 3  # embargo after each val block
    assert f.train.dtype == np.int32 and f.train.shape[0] == k


def test_walk_forward_validation() -> None:
    with pytest.raises(DataError, match="purge"):
        walk_forward(1000, 3, 10, 2, purge=11)
    with pytest.raises(DataError, match=r"does not fit.*fewer folds"):
        walk_forward(60, 10, 10, 2)
    with pytest.raises(DataError, match=r"window \(150 bars\) is too long"):
        walk_forward(200, 3, 150, 1)
    with pytest.raises(DataError, match="unknown mode"):
        walk_forward(1000, 3, 10, 2, mode="random")


def test_gather_windows_matches_numpy_and_jit() -> None:
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((50, 3, 4)).astype(np.float32)
    ids = rng.integers(7 * 3, 50 * 3, size=17)
    out = np.asarray(gather_windows(feats, ids, 8))
    for b, i in enumerate(ids):
        t, s = divmod(int(i), 3)
        np.testing.assert_array_equal(out[b], feats[t - 7 : t + 1, s])
    jitted = jax.jit(gather_windows, static_argnums=2)(feats, ids, 8)
    np.testing.assert_array_equal(np.asarray(jitted), out)
    # Windows never reach past t: poison everything after t.
    t, s = 20, 1
    poisoned = feats.copy()
    poisoned[t + 1 :] = np.nan
    win = np.asarray(gather_windows(poisoned, np.array([t * 3 + s]), 8))
    assert np.isfinite(win).all()


def _small_dataset(seed: int = 0):
    cfg = FeatureConfig(return_lags=(1, 3), vol_windows=(6,), volume_window=6)
    return tiny_dataset(seed, signal=0.1, features=cfg, window=8, n_folds=3)


def test_build_dataset_shapes_and_masks() -> None:
    ds, folds, stats = _small_dataset()
    t, s, f = ds.features.shape
    assert (s, f) == (3, len(ds.meta.feature_names))
    assert ds.labels.shape == ds.label_mask.shape == ds.forward_return.shape == (t, s)
    assert ds.features.dtype == np.float32 and ds.labels.dtype == np.int32
    mask = np.asarray(ds.label_mask).reshape(-1)
    for idx, m in [(folds.train, folds.train_mask), (folds.val, folds.val_mask)]:
        assert mask[idx[m]].all()
    assert mask[folds.test[folds.test_mask]].all()
    assert stats.mean.shape == stats.std.shape == (3, f)
    assert not np.asarray(ds.label_mask)[: 8 - 1 + 3].any()  # warm-up + window
    leaves = jax.tree_util.tree_leaves(ds)
    assert len(leaves) == 4
    x = gather_windows(ds.features, folds.val[0][:5], 8)
    y = normalize(x, stats.mean[0], stats.std[0])
    assert y.shape == (5, 8, f)


def test_norm_stats_use_train_only() -> None:
    ds, folds, stats = _small_dataset()
    feats = np.array(ds.features)
    mask = np.asarray(ds.label_mask)
    k = 1
    end = int(folds.train_range[k, 1])
    feats[end:] = 1e6 * np.random.default_rng(1).standard_normal(feats[end:].shape)
    again = fit_norm_stats(feats, mask, folds)
    np.testing.assert_array_equal(again.mean[: k + 1], stats.mean[: k + 1])
    np.testing.assert_array_equal(again.std[: k + 1], stats.std[: k + 1])
    a, b = folds.train_range[0]
    rows = feats.reshape(-1, feats.shape[-1])
    ids = folds.train[0][folds.train_mask[0]]
    np.testing.assert_allclose(stats.mean[0], rows[ids].mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats.std[0], rows[ids].std(0), rtol=1e-3, atol=1e-6)
    assert a == 0 and b <= end


def test_build_dataset_on_sample() -> None:
    ds, folds, stats = build_dataset(load_sample(["BTC/USDT", "ETH/USDT"]), window=16)
    assert ds.meta.symbols == ("BTC/USDT", "ETH/USDT")
    assert ds.features.shape[0] == 28966
    assert np.isfinite(np.asarray(ds.features)).all()
    assert np.isfinite(stats.std).all() and (stats.std > 0).all()
    assert folds.train.shape[0] == 4


def test_build_dataset_stats_equal_fit_norm_stats() -> None:
    # build_dataset sums the statistics block by block while it fills the
    # tensor; they must be exactly those of fit_norm_stats on the result.
    ds, folds, stats = _small_dataset(seed=4)
    again = fit_norm_stats(np.asarray(ds.features), np.asarray(ds.label_mask), folds)
    np.testing.assert_array_equal(again.mean, stats.mean)
    np.testing.assert_array_equal(again.std, stats.std)


def test_split_last_validation_cuts_the_block_in_time():
    """Older and recent parts: disjoint in time with the gap between, the
    recent share as asked, every other index array untouched."""
    n_sym, n_bars = 3, 200
    label_mask = np.ones((n_bars, n_sym), bool)
    label_mask[::7, 1] = False  # some missing labels
    folds = fold_samples(walk_forward(n_bars, 2, 4, 1, val_size=40), label_mask)
    older, recent = split_last_validation(folds, n_sym, 0.25, gap=2)
    block = set(np.unique(folds.val[-1][folds.val_mask[-1]] // n_sym).tolist())
    t_old = older.val[-1][older.val_mask[-1]] // n_sym
    t_new = recent.val[-1][recent.val_mask[-1]] // n_sym
    assert len(np.unique(t_new)) == 10
    assert t_old.max() + 2 < t_new.min()
    gap = set(range(int(t_new.min()) - 2, int(t_new.min())))
    assert set(t_old.tolist()) | set(t_new.tolist()) == block - gap
    for part in (older, recent):
        np.testing.assert_array_equal(part.val_mask[0], folds.val_mask[0])
        np.testing.assert_array_equal(part.train_mask, folds.train_mask)
        np.testing.assert_array_equal(part.test_mask, folds.test_mask)
    with pytest.raises(ValueError, match="fraction must be in"):
        split_last_validation(folds, n_sym, 1.0, gap=1)
    with pytest.raises(ValueError, match="too short"):
        split_last_validation(folds, n_sym, 0.5, gap=40)


def test_normalize_is_bit_equal_jitted_eager_and_in_numpy():
    """Tree members split on exact feature values: the jitted answer, the
    eager one and the classical models' numpy features must agree to the
    bit (a division by a constant differs in the last bit once XLA turns it
    into a product)."""
    from nasjax.baselines.classical import lagged_features
    from nasjax.data.normalize import NormStats, normalize

    rng = np.random.default_rng(0)
    feats = (rng.normal(size=(400, 3, 7)) * 3).astype(np.float32)
    mean = rng.normal(size=(1, 7)).astype(np.float32)
    std = (rng.random((1, 7)) * 2 + 0.1).astype(np.float32)
    ds = types.SimpleNamespace(features=feats)
    ids = np.arange(feats.shape[0] * feats.shape[1])
    numpy_side = lagged_features(ds, ids, NormStats(mean, std), 0)
    x = feats.reshape(-1, 7)
    jitted = np.asarray(jax.jit(lambda a: normalize(a, mean[0], std[0]))(x))
    np.testing.assert_array_equal(jitted, numpy_side)
    np.testing.assert_array_equal(np.asarray(normalize(x, mean[0], std[0])), jitted)
