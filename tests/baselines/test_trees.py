"""Boosted trees as arrays: the same predictions as scikit-learn's, in numpy
and in JAX, through a pickle-free file."""

import jax
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from nasjax.baselines.classical import gbdt
from nasjax.baselines.trees import TreeModel, gbdt_trees
from nasjax.train.data import split_ids
from tests.helpers import tiny_dataset


def _fitted(seed: int, labels=(0, 1), nan_rate: float = 0.1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, 5))
    y = np.where(x[:, 0] * x[:, 1] + 0.3 * rng.normal(size=600) > 0, *labels)
    x[rng.random(x.shape) < nan_rate] = np.nan
    model = HistGradientBoostingClassifier(
        max_iter=30, max_leaf_nodes=9, random_state=seed
    ).fit(x, y)
    probe = rng.normal(size=(400, 5))
    probe[rng.random(probe.shape) < nan_rate] = np.nan
    return model, probe


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trees_predict_what_sklearn_predicts(seed):
    """Log-odds of "up" equal ``decision_function`` (NaNs included), in numpy
    exactly and in float32 JAX closely."""
    model, probe = _fitted(seed)
    trees = TreeModel.from_sklearn(model, lags=0)
    want = model.decision_function(probe)
    np.testing.assert_allclose(trees.predict_raw(probe), want, rtol=1e-12, atol=1e-12)
    got = np.asarray(jax.jit(trees.logits)(probe.astype(np.float32)))
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_labels_named_the_other_way_round_flip_the_sign():
    """Classes (1, 0) in the fit: the model still gives the log-odds of 1."""
    model, probe = _fitted(0, labels=(1, 0))
    trees = TreeModel.from_sklearn(model, lags=0)
    p_up = model.predict_proba(probe)[:, list(model.classes_).index(1)]
    np.testing.assert_allclose(1 / (1 + np.exp(-trees.predict_raw(probe))), p_up)


def test_save_load_round_trip(tmp_path):
    model, probe = _fitted(3)
    trees = TreeModel.from_sklearn(model, lags=2)
    trees.save(tmp_path / "trees.npz")
    back = TreeModel.load(tmp_path / "trees.npz")
    assert (back.lags, back.depth, back.baseline) == (2, trees.depth, trees.baseline)
    np.testing.assert_array_equal(back.predict_raw(probe), trees.predict_raw(probe))


def test_more_than_two_classes_is_refused():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    model = HistGradientBoostingClassifier(max_iter=3).fit(x, rng.integers(0, 3, 300))
    with pytest.raises(ValueError, match="binary"):
        TreeModel.from_sklearn(model, lags=0)


def test_gbdt_trees_equal_the_gbdt_baseline():
    """Fitted on the last fold's training ids with the same key, the arrays
    predict the GBDT baseline's test P(up)."""
    data = tiny_dataset(n_steps=600)
    key = jax.random.key(7)
    _, _, test_ids = split_ids(data.folds, "test")
    want = gbdt(key, data, split="test")
    got = gbdt_trees(key, data).predict(data, test_ids)
    np.testing.assert_allclose(got, want, atol=1e-6)
