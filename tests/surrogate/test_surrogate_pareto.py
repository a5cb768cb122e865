"""Pareto front and random scalarisation."""

import jax
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import nasjax  # noqa: F401
from nasjax.surrogate import pareto_front, random_scalarisation


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
