"""UCR/UEA datasets (nasjax.data.ucr): published splits, padding, folds, norm."""

from __future__ import annotations

import sys
from importlib.util import find_spec

import numpy as np
import pytest

from nasjax.data import DataError, gather_windows, ucr
from nasjax.train import split_ids

pytestmark = pytest.mark.skipif(
    find_spec("aeon") is None, reason="needs aeon: pip install 'nasjax[ucr]'"
)

# name: (n_train, n_test, n_classes, channels, longest series) as published.
PUBLISHED = {
    "ArrowHead": (36, 175, 3, 1, 251),
    "BasicMotions": (40, 40, 4, 6, 100),
    "GunPoint": (50, 150, 2, 1, 150),
    "ItalyPowerDemand": (67, 1029, 2, 1, 24),
    "JapaneseVowels": (270, 370, 9, 12, 29),
    "OSULeaf": (200, 242, 6, 1, 427),
}


@pytest.fixture(scope="module")
def vowels():
    return ucr.load_ucr("JapaneseVowels"), ucr.build_ucr_dataset("JapaneseVowels")


def test_bundled_datasets_are_available():
    assert set(PUBLISHED) <= set(ucr.available())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_split_and_layout(name):
    n_train, n_test, n_classes, channels, length = PUBLISHED[name]
    ds, folds, norm = ucr.build_ucr_dataset(name, n_folds=3, seed=0)
    n = n_train + n_test
    unequal = name == "JapaneseVowels"
    n_feat = channels + int(unequal)
    assert ds.features.shape == (length, n, n_feat)
    assert ds.labels.shape == ds.label_mask.shape == (length, n)
    assert ds.meta.window == length
    assert len(ds.meta.class_names) == n_classes
    assert (ds.meta.feature_names[-1] == ucr.OBSERVED) == unequal
    assert norm.mean.shape == norm.std.shape == (3, n_feat)
    # One labelled sample per instance, at the last step; labels 0 .. C-1.
    mask = np.asarray(ds.label_mask)
    assert mask[-1].all() and not mask[:-1].any()
    labels = np.asarray(ds.labels)[-1]
    assert labels.min() == 0 and labels.max() == n_classes - 1
    assert set(np.unique(labels)) == set(range(n_classes))
    # Published split: train instances first, test instances last.
    train, test = ucr.instance_split(ds, folds)
    np.testing.assert_array_equal(train, np.arange(n_train))
    np.testing.assert_array_equal(test, np.arange(n_train, n))
    _, _, test_ids = split_ids(folds, "test")
    assert len(test_ids) == n_test
    assert np.all(test_ids // n == length - 1)


def test_unequal_lengths_are_left_padded_with_a_mask_not_truncated(vowels):
    raw, (ds, _, _) = vowels
    series = [*raw.x_train, *raw.x_test]
    lengths = np.array([x.shape[1] for x in series])
    assert lengths.min() < lengths.max() == ds.features.shape[0]
    feats = np.asarray(ds.features)
    length = feats.shape[0]
    obs = feats[:, :, -1]
    assert set(np.unique(obs)) == {0.0, 1.0}
    for s, x in enumerate(series):
        steps = x.shape[1]
        # Every published value is there, at the end of the padded axis ...
        np.testing.assert_allclose(feats[length - steps :, s, :-1], x.T, rtol=1e-6)
        np.testing.assert_array_equal(obs[length - steps :, s], 1.0)
        # ... and the padding before it is zeros with observed = 0.
        np.testing.assert_array_equal(feats[: length - steps, s], 0.0)
    # The model's window of an instance is its whole padded series.
    ids = np.array([(length - 1) * feats.shape[1] + 5])
    win = np.asarray(gather_windows(ds.features, ids, ds.meta.window))[0]
    np.testing.assert_array_equal(win, feats[:, 5])


def test_folds_are_stratified_from_train_only_and_seeded():
    name = "JapaneseVowels"
    ds, folds, _ = ucr.build_ucr_dataset(name, n_folds=3, seed=0)
    n_train = PUBLISHED[name][0]
    n = ds.labels.shape[1]
    labels = np.asarray(ds.labels)[-1]
    vals = []
    for k in range(3):
        tr, va, _ = split_ids(folds, "val", k)
        tr, va = tr % n, va % n
        assert np.intersect1d(tr, va).size == 0
        assert set(tr) | set(va) == set(range(n_train))  # TRAIN only
        vals.append(va)
    assert np.array_equal(np.sort(np.concatenate(vals)), np.arange(n_train))
    counts = np.array([np.bincount(labels[v], minlength=9) for v in vals])
    assert (counts.max(0) - counts.min(0) <= 1).all()  # stratified
    again = ucr.build_ucr_dataset(name, n_folds=3, seed=0)[1]
    np.testing.assert_array_equal(again.val, folds.val)
    other = ucr.build_ucr_dataset(name, n_folds=3, seed=1)[1]
    assert not np.array_equal(other.val, folds.val)


def test_norm_stats_come_from_the_fold_training_instances(vowels):
    _, (ds, folds, norm) = vowels
    feats = np.asarray(ds.features, np.float64)
    n = feats.shape[1]
    for k in range(folds.train.shape[0]):
        tr, _, _ = split_ids(folds, "val", k)
        x = feats[:, tr % n]  # [L, n_k, F]
        obs = x[..., -1] > 0
        vals = x[..., :-1][obs]  # observed steps only
        np.testing.assert_allclose(norm.mean[k, :-1], vals.mean(0), rtol=1e-4)
        np.testing.assert_allclose(norm.std[k, :-1], vals.std(0), rtol=1e-4)
        assert norm.mean[k, -1] == 0.0 and norm.std[k, -1] == 1.0


def test_stratified_folds_partition_and_reject_bad_k():
    y = np.array([0] * 7 + [1] * 5 + [2] * 3)
    parts = ucr.stratified_folds(y, 3, seed=4)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(y)))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(DataError, match="n_folds"):
        ucr.stratified_folds(y, 1)


def test_unknown_name_lists_the_available_datasets():
    with pytest.raises(DataError, match="unknown UCR/UEA dataset 'Nope'") as err:
        ucr.build_ucr_dataset("Nope")
    assert "BasicMotions" in str(err.value)


def test_missing_aeon_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "aeon", None)
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'nasjax\[ucr\]'"):
        ucr.data_dir()
