"""MiniRocket: the transform's properties, the closed-form leave-one-out
ridge outputs, the temperature, and agreement with aeon's MiniRocket."""

from __future__ import annotations

from importlib.util import find_spec

import jax
import numpy as np
import pytest
from scipy.special import softmax
from sklearn.linear_model import Ridge

from nasjax.baselines.minirocket import (
    N_KERNELS,
    _fit_temperature,
    _loo_scores,
    fit_dilations,
    fit_minirocket,
    fit_rocket_classifier,
    transform,
)


def waves(key: int, n: int, length: int = 60, channels: int = 1):
    """``(x float32[n, L, F], y int[n])``: class 0 a slow sine, class 1 a
    faster one, class 2 a square wave, random phases and noise."""
    rng = np.random.default_rng(key)
    y = rng.integers(0, 3, n)
    t = np.arange(length)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, channels))
    freq = np.where(y == 0, 0.08, 0.2)[:, None, None]
    x = np.sin(freq * t + phase)
    x = np.where((y == 2)[:, None, None], np.sign(x), x)
    x = x + 0.3 * rng.normal(size=(n, length, channels))
    return x.astype(np.float32), y


def test_dilations_spread_the_features():
    for length, n_features in ((24, 10_000), (251, 10_000), (9, 840)):
        dilations, n_per = fit_dilations(length, n_features)
        assert n_per.sum() == n_features // N_KERNELS
        assert dilations[0] == 1 and np.all(np.diff(dilations) > 0)
        assert dilations[-1] <= max((length - 1) / 8, 1)


def test_transform_is_deterministic_bounded_and_chunk_invariant():
    x, _ = waves(0, 20, channels=3)
    a = fit_minirocket(jax.random.key(1), x, n_features=1_000)
    b = fit_minirocket(jax.random.key(1), x, n_features=1_000)
    f = transform(a, x)
    assert f.shape == (20, a.n_features) and a.n_features == 84 * (1_000 // 84)
    assert f.min() >= 0.0 and f.max() <= 1.0 and f.std() > 0.05
    np.testing.assert_array_equal(f, transform(b, x))  # same key, same transform
    np.testing.assert_array_equal(f, transform(a, x, chunk=3))  # chunking
    other = fit_minirocket(jax.random.key(2), x, n_features=1_000)
    assert not np.array_equal(f, transform(other, x))
    with pytest.raises(ValueError, match="fitted for 60"):
        transform(a, x[:, :50])


def test_loo_scores_equal_refitting_without_each_instance():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(15, 40))
    for n_cls in (2, 3):
        y = rng.integers(0, n_cls, 15)
        loo = _loo_scores(z, y, n_cls, alpha=2.0)
        targets = -np.ones((15, n_cls))
        targets[np.arange(15), y] = 1.0
        if n_cls == 2:
            targets = targets[:, 1:]
        for i in range(15):
            keep = np.arange(15) != i
            ridge = Ridge(alpha=2.0).fit(z[keep], targets[keep])
            got = loo[i] if n_cls > 2 else loo[i : i + 1]
            np.testing.assert_allclose(got, ridge.predict(z[i : i + 1])[0], atol=1e-8)


def test_temperature_undoes_overconfidence():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(4000, 3))
    y = np.array([rng.choice(3, p=p) for p in softmax(logits, axis=1)])
    tau = _fit_temperature(10.0 * logits, y)  # scores ten times too sharp
    assert tau == pytest.approx(0.1, rel=0.15)


def test_classifier_learns_the_waves():
    x, y = waves(5, 90)
    xt, yt = waves(6, 120)
    model = fit_rocket_classifier(jax.random.key(0), x, y, n_features=2_000)
    p = model.predict_proba(xt)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert np.mean(model.classes[p.argmax(axis=1)] == yt) > 0.95
    assert 0.0 < model.temperature < np.exp(3.0) + 1e-9
    with pytest.raises(ValueError, match="two classes"):
        fit_rocket_classifier(jax.random.key(0), x, np.zeros(90, int))


@pytest.mark.slow
@pytest.mark.skipif(find_spec("aeon") is None, reason="needs aeon (nasjax[ucr])")
def test_accuracy_matches_aeon_minirocket_on_gunpoint():
    """Same algorithm, other random draws: the test accuracies on GunPoint
    agree within 2 points (aeon's MiniRocket scores ~0.99 there)."""
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.datasets import load_classification

    x, y = load_classification("GunPoint", split="train")
    xt, yt = load_classification("GunPoint", split="test")
    classes = np.unique(y)
    ours = fit_rocket_classifier(
        jax.random.key(0),
        np.transpose(x, (0, 2, 1)).astype(np.float32),
        np.searchsorted(classes, y),
    )
    p = ours.predict_proba(np.transpose(xt, (0, 2, 1)).astype(np.float32))
    acc = np.mean(classes[ours.classes[p.argmax(axis=1)]] == yt)
    theirs = MiniRocketClassifier(random_state=0).fit(x, y)
    ref = np.mean(theirs.predict(xt) == yt)
    assert acc >= 0.95 and abs(acc - ref) <= 0.02, (acc, ref)
