"""Acquisition numerics against scipy closed forms and Monte Carlo."""

import jax
import numpy as np
import pytest
from scipy.stats import norm

import nasjax  # noqa: F401
from nasjax.surrogate import (
    expected_improvement,
    log_expected_improvement,
    probability_of_improvement,
    upper_confidence_bound,
)


def _ei_ref(mu, s, best):
    z = (mu - best) / s
    return s * (z * norm.cdf(z) + norm.pdf(z))


def test_ei_matches_scipy():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=200).astype(np.float32)
    s = rng.uniform(0.05, 2.0, size=200).astype(np.float32)
    got = np.asarray(expected_improvement(mu, s, 0.3))
    np.testing.assert_allclose(got, _ei_ref(mu, s, 0.3), rtol=2e-4, atol=1e-6)


def test_ei_monte_carlo():
    rng = np.random.default_rng(1)
    mu, s, best = 0.2, 0.7, 0.5
    f = rng.normal(mu, s, size=400_000)
    mc = np.mean(np.maximum(f - best, 0.0))
    got = float(expected_improvement(np.float32(mu), np.float32(s), best))
    assert abs(got - mc) < 3e-3


def test_ei_std_zero_limit():
    mu = np.array([1.0, -1.0, 0.5], np.float32)
    got = np.asarray(expected_improvement(mu, np.zeros(3, np.float32), 0.5))
    np.testing.assert_allclose(got, [0.5, 0.0, 0.0])
    assert np.all(np.isfinite(got))
    grad = jax.grad(lambda m: expected_improvement(m, 0.0, 0.0))(1.0)
    assert np.isfinite(grad)


def test_log_ei_matches_log_of_ei_and_is_finite_in_tail():
    with jax.enable_x64(True):
        mu = np.linspace(-5.0, 3.0, 50)
        s = np.full(50, 0.8)
        got = np.asarray(log_expected_improvement(mu, s, 0.0))
        np.testing.assert_allclose(got, np.log(_ei_ref(mu, s, 0.0)), rtol=1e-8)
        far = np.asarray(log_expected_improvement(np.array([-60.0, -1e6]), 1.0, 0.0))
    assert np.all(np.isfinite(far))
    # asymptotic: log EI ~ -z^2/2 - log(sqrt(2 pi)) - 2 log|z|
    z = 60.0
    assert abs(far[0] - (-(z**2) / 2 - 0.5 * np.log(2 * np.pi) - 2 * np.log(z))) < 1e-3
    assert far[1] < far[0]


@pytest.mark.parametrize("best", [-1.0, 0.0, 2.0])
def test_pi_and_ucb(best):
    mu = np.linspace(-2, 2, 9).astype(np.float32)
    s = np.full(9, 0.5, np.float32)
    np.testing.assert_allclose(
        np.asarray(probability_of_improvement(mu, s, best)),
        norm.cdf((mu - best) / s),
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_allclose(
        np.asarray(upper_confidence_bound(mu, s, 2.0)), mu + 2.0 * s, rtol=1e-6
    )
    p0 = np.asarray(probability_of_improvement(mu, np.zeros(9, np.float32), best))
    np.testing.assert_array_equal(p0, (mu > best).astype(np.float32))
