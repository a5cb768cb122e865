"""``nasjax.NASClassifier``: fit/predict, labels, sklearn tools, export.

Every fast test shares one data shape family (``F = 4`` features, two
classes, up to 256 instances: one padded bucket of
:mod:`nasjax.data.arrays`) and one tiny search space, so the training
program compiles once per shape ``T`` for the whole module.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import TimeSeriesSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nasjax
from nasjax.app.estimator import NASClassifier, is_candle_frame

TINY = {
    "searcher": "random",
    "population": 2,
    "rounds": 1,
    "n_steps": 100,
    "learning_rate": 1e-2,
    "max_nodes": 2,
    "max_width": 8,
    "ops": ("identity", "dense_gelu"),
    "seeds": ("linear",),
    "random_state": 0,
}
"""A search small enough to fit in seconds once compiled."""


def toy(n: int = 192, steps: int | None = None, seed: int = 0):
    """A learnable toy: ``y = 1`` when ``x0 + 0.5 x1 + noise > 0``.

    Returns ``X [n, 4]`` (or ``[n, steps, 4]``, the signal on the last step)
    and string labels ``"down"``/``"up"``.
    """
    rng = np.random.default_rng(seed)
    shape = (n, 4) if steps is None else (n, steps, 4)
    x = rng.normal(size=shape).astype(np.float32)
    last = x if steps is None else x[:, -1]
    score = last[:, 0] + 0.5 * last[:, 1] + 0.3 * rng.normal(size=n)
    y = np.where(score > 0, "up", "down")
    return x, y


@pytest.fixture(scope="module")
def fitted() -> tuple[NASClassifier, np.ndarray, np.ndarray]:
    x, y = toy()
    return NASClassifier(**TINY).fit(x, y), x, y


def test_top_level_export():
    assert nasjax.NASClassifier is NASClassifier
    assert "NASClassifier" in nasjax.__all__


def test_fit_predict_shapes_and_labels(fitted):
    est, x, y = fitted
    assert list(est.classes_) == ["down", "up"]
    assert est.n_features_in_ == 4 and est.window_ == 1
    proba = est.predict_proba(x)
    assert proba.shape == (len(x), 2) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    pred = est.predict(x)
    assert pred.dtype == y.dtype and set(pred) <= {"down", "up"}
    np.testing.assert_array_equal(pred, est.classes_[proba.argmax(axis=1)])
    # Learnable signal (Bayes accuracy ~0.9): well above chance on new data.
    x_new, y_new = toy(seed=1)
    assert est.score(x_new, y_new) > 0.75
    # Fitted attributes of the search.
    assert est.best_arch_ is not None and est.history_.height == TINY["population"]
    assert 0.0 <= est.best_score_ <= 1.0 and est.stopped_by_ == "rounds"
    assert est.norm_.mean.shape == (3, 4)


def test_predict_rows_do_not_depend_on_the_batch(fitted):
    est, x, _ = fitted
    whole = est.predict_proba(x)
    np.testing.assert_array_equal(est.predict_proba(x[7:19]), whole[7:19])
    np.testing.assert_array_equal(est.predict_proba(x[::-1]), whole[::-1])


def test_clone_params_and_unfitted(fitted):
    est, x, _ = fitted
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    with pytest.raises(NotFittedError):
        fresh.predict(x)
    fresh.set_params(rounds=3, folds="time")
    assert fresh.get_params()["rounds"] == 3


def test_refit_is_reproducible_and_pickles(fitted):
    est, x, y = fitted
    again = clone(est).fit(x, y)
    np.testing.assert_array_equal(again.predict_proba(x), est.predict_proba(x))
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict_proba(x), est.predict_proba(x))


def test_export_and_load(fitted, tmp_path):
    est, x, _ = fitted
    folder = est.export(tmp_path / "model")
    for name in ("arch.json", "params", "preprocess.json", "estimator.json"):
        assert (folder / name).exists()
    loaded = NASClassifier.load(folder)
    np.testing.assert_array_equal(loaded.predict(x), est.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), est.predict_proba(x))
    assert loaded.get_params() == est.get_params()


def test_integer_labels_and_bad_input(fitted):
    est, x, y = fitted
    ints = np.where(y == "up", 7, -3)
    fit = clone(est).fit(x, ints)
    assert list(fit.classes_) == [-3, 7] and set(fit.predict(x)) <= {-3, 7}
    with pytest.raises(ValueError, match="features"):
        est.predict(x[:, :3])
    with pytest.raises(ValueError, match="class"):
        clone(est).fit(x, np.full(len(x), "up"))
    with pytest.raises(ValueError, match="requires y"):
        clone(est).fit(x)
    with pytest.raises(ValueError, match="Unknown label type"):
        clone(est).fit(x, np.linspace(0, 1, len(x)))


@pytest.mark.slow  # a second compile for T = 3 (~25 s); [n, F] input runs fast
def test_series_input(fitted):
    """``[n, T, F]`` series: one window per instance; 2-D input is refused."""
    x, y = toy(steps=3)
    est = NASClassifier(**TINY).fit(x, y)
    assert est.window_ == 3 and est.n_features_in_ == 4
    assert est.predict_proba(x).shape == (len(x), 2)
    assert est.score(*toy(steps=3, seed=1)) > 0.75
    with pytest.raises(ValueError, match="steps"):
        est.predict(x[:, 0])
    with pytest.raises(ValueError, match="steps"):
        est.predict(x[:, :2])


def test_pipeline_and_cross_val_score_with_time_series_split():
    """The acceptance check of issue 24: ``cross_val_score(NASClassifier(...),
    X, y, cv=TimeSeriesSplit(3))`` runs, and beats chance on a learnable
    toy (in a Pipeline, with time-ordered inner folds)."""
    x, y = toy(n=240, seed=2)
    pipe = make_pipeline(StandardScaler(), NASClassifier(**TINY, folds="time"))
    scores = cross_val_score(pipe, x, y, cv=TimeSeriesSplit(3))
    assert scores.shape == (3,)
    assert scores.mean() > 0.7, scores


def test_is_candle_frame():
    import polars as pl

    candles = pl.DataFrame({"timestamp": [1], "symbol": ["BTC/USDT"], "close": [1.0]})
    assert is_candle_frame(candles)
    assert is_candle_frame({"BTC/USDT": candles.drop("symbol")})
    assert not is_candle_frame(pl.DataFrame({"a": [1.0], "close": [2.0]}))
    assert not is_candle_frame(np.zeros((3, 2)))


@pytest.mark.slow
def test_candle_frame_fit_predict_export(tmp_path):
    """``fit(frame)`` runs the app; its export is a ``load_model`` folder."""
    from nasjax.data import synthetic

    frame = synthetic(0, n_symbols=2, n_steps=1500, signal=0.2).frame
    est = NASClassifier(**{**TINY, "n_steps": 20}, eval_every=10, window=8)
    est.fit(frame)
    assert list(est.classes_) == [0, 1] and est.window_ == 8
    rows = est.predict_frame(frame)
    proba = est.predict_proba(frame)
    assert proba.shape == (rows.height, 2)
    np.testing.assert_allclose(proba[:, 1], rows["p_up"].to_numpy())
    folder = est.export(tmp_path / "model")
    model = nasjax.load_model(folder)
    np.testing.assert_allclose(
        model.predict(frame)["p_up"].to_numpy(), proba[:, 1], atol=1e-5
    )
    np.testing.assert_allclose(NASClassifier.load(folder).predict_proba(frame), proba)
