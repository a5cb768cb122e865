"""Pareto front and random scalarisation."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nasjax  # noqa: F401
from nasjax.surrogate import pareto_front, random_scalarisation
from nasjax.surrogate.pareto import (
    chebyshev,
    normalise,
    pareto_rank,
    scalarised_expected_improvement,
)


def _brute(p):
    out = []
    for i in range(len(p)):
        if not np.all(np.isfinite(p[i])):
            out.append(False)
            continue
        dom = any(
            np.all(np.isfinite(p[j])) and np.all(p[j] >= p[i]) and np.any(p[j] > p[i])
            for j in range(len(p))
        )
        out.append(not dom)
    return np.array(out)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=12)
)
def test_pareto_front_matches_brute_force(rows):
    p = np.asarray(rows, np.float32)
    np.testing.assert_array_equal(np.asarray(pareto_front(p)), _brute(p))


def test_nan_rows_excluded_and_scalarisation_monotone():
    p = np.array([[1.0, 0.0], [0.0, 1.0], [np.nan, 5.0], [0.5, 0.5], [0.2, 0.2]])
    np.testing.assert_array_equal(
        np.asarray(pareto_front(p)), [True, True, False, True, False]
    )
    s = np.asarray(random_scalarisation(jax.random.key(0), p))
    assert np.isnan(s[2]) and s[3] > s[4]  # a dominating row scores higher


def _brute_rank(p):
    rank = np.full(len(p), len(p))
    left = np.all(np.isfinite(p), axis=1)
    r = 0
    while left.any():
        q = np.where(left[:, None], p, np.nan)
        front = _brute(q) & left
        rank[front] = r
        left &= ~front
        r += 1
    return rank


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
        min_size=1,
        max_size=10,
    )
)
def test_pareto_rank_matches_repeated_brute_force_fronts(rows):
    p = np.asarray(rows, np.float32)
    p[0, 0] = np.nan if len(p) > 3 else p[0, 0]
    np.testing.assert_array_equal(np.asarray(pareto_rank(p)), _brute_rank(p))


def test_random_scalarisation_is_chebyshev_of_normalised_columns():
    y = np.array([[0.5, -3.0], [0.7, -2.0], [0.6, -4.0]])
    key = jax.random.key(3)
    w = jax.random.dirichlet(key, np.ones(2))
    z = normalise(y, y.min(0), y.max(0))
    np.testing.assert_allclose(
        np.asarray(random_scalarisation(key, y)),
        np.asarray(chebyshev(z, w, 0.05)),
        rtol=1e-6,
    )


@pytest.mark.parametrize("seed", range(4))
def test_scalarised_ei_matches_monte_carlo(seed):
    rng = np.random.default_rng(seed)
    c, k = 6, 3
    mean = rng.uniform(0.45, 0.6, c)
    std = rng.uniform(0.0, 0.05, c)
    std[0] = 0.0  # the noiseless limit
    known = rng.uniform(-4.0, -2.0, (c, k - 1))
    w = rng.dirichlet(np.ones(k))
    lo = np.array([0.45, -4.0, -4.0])
    hi = np.array([0.6, -2.0, -2.0])
    best = float(rng.uniform(0.0, 0.2))
    with jax.enable_x64(True):
        ei = np.asarray(
            scalarised_expected_improvement(mean, std, known, w, lo, hi, best, 0.05)
        )
    f = mean[:, None] + std[:, None] * rng.standard_normal((c, 400_000))
    y = np.concatenate(
        [f[..., None], np.broadcast_to(known[:, None, :], (c, f.shape[1], k - 1))], -1
    )
    s = np.asarray(chebyshev(normalise(y, lo, hi), w, 0.05))
    mc = np.maximum(s - best, 0.0).mean(axis=1)
    np.testing.assert_allclose(ei, mc, atol=2e-4, rtol=1e-2)
    assert np.all(ei >= 0)


def test_scalarised_ei_ignores_accuracy_when_its_weight_is_zero():
    mean = np.array([0.5, 0.9])
    std = np.array([0.1, 0.1])
    known = np.array([[-2.0], [-3.0]])  # the first is cheaper
    lo, hi = np.array([0.4, -4.0]), np.array([0.6, -2.0])
    w = np.array([0.0, 1.0])
    ei = np.asarray(
        scalarised_expected_improvement(mean, std, known, w, lo, hi, 0.0, 0.05)
    )
    assert ei[0] > ei[1]
