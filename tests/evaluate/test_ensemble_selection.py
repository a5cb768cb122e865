"""Greedy ensemble selection with replacement (Caruana et al. 2004)."""

import numpy as np
import pytest

from nasjax.evaluate import classification as cm
from nasjax.evaluate.ensemble import select_ensemble
from nasjax.evaluate.metrics import log_loss


def test_picks_the_known_best_mixture():
    """Two candidates biased in opposite directions average to the truth; a
    third (anti-correlated) one must get no weight."""
    rng = np.random.default_rng(0)
    n = 20_000
    q = rng.uniform(0.3, 0.7, n)
    y = (rng.random(n) < q).astype(np.int64)
    preds = np.stack([q + 0.2, q - 0.2, 1.0 - q])
    sel = select_ensemble(y, preds, rounds=10)
    np.testing.assert_allclose(sel.weights, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(sel.predict(preds), q)
    assert sel.loss == pytest.approx(log_loss(y, q))
    assert sel.counts.sum() == sel.best_round + 1


@pytest.mark.parametrize("seed", range(5))
def test_never_worse_than_the_best_single_candidate(seed):
    rng = np.random.default_rng(seed)
    m, n, rounds = 5, 400, 7
    y = rng.integers(0, 2, n)
    preds = np.clip(rng.normal(0.5, 0.15, (m, n)) + 0.1 * (y - 0.5), 0.01, 0.99)
    sel = select_ensemble(y, preds, rounds=rounds)
    singles = [log_loss(y, p) for p in preds]
    assert sel.loss <= min(singles) + 1e-12
    assert sel.loss == pytest.approx(log_loss(y, sel.predict(preds)))
    assert sel.weights.sum() == pytest.approx(1.0)
    assert np.all(sel.weights >= 0)
    np.testing.assert_allclose(sel.weights * sel.counts.sum(), sel.counts)
    assert sel.curve[0] == pytest.approx(min(singles))
    assert sel.loss == pytest.approx(sel.curve.min())


def test_class_probabilities_pick_the_known_best_mixture():
    """Three classes: two candidates that each favour a wrong class by the
    same margin average to the truth; the uniform one gets no weight."""
    rng = np.random.default_rng(1)
    n, c = 6_000, 3
    truth = rng.dirichlet(np.ones(c) * 2.0, n)
    y = np.array([rng.choice(c, p=p) for p in truth])
    shift = np.array([0.1, -0.1, 0.0])
    a = truth + shift * truth.min(axis=1, keepdims=True) * 5
    b = truth - shift * truth.min(axis=1, keepdims=True) * 5
    preds = np.stack([a, b, np.full((n, c), 1 / c)])
    sel = select_ensemble(y, preds, rounds=10, metric=cm.log_loss)
    np.testing.assert_allclose(sel.weights, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(sel.predict(preds), truth, atol=1e-12)
    assert sel.loss == pytest.approx(cm.log_loss(y, truth))


def test_bad_arguments():
    with pytest.raises(ValueError, match="preds"):
        select_ensemble(np.zeros(3), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="preds"):
        select_ensemble(np.zeros(3), np.zeros((2, 3, 2, 1)))
    with pytest.raises(ValueError, match="rounds"):
        select_ensemble(np.zeros(3), np.full((1, 3), 0.5), rounds=0)
