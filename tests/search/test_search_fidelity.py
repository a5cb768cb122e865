"""Rung budgets, fitness uncertainty and the selection rule (pure numpy)."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasjax.search.fidelity import (
    fitness_stats,
    n_promoted,
    rung_budgets,
    select_score,
    top_members,
)


@settings(max_examples=60, deadline=None)
@given(
    top=st.integers(1, 5000),
    eta=st.integers(2, 5),
    rungs=st.integers(1, 5),
    every=st.integers(1, 100),
)
def test_rung_budgets_increase_in_whole_evaluations_up_to_the_full_length(
    top, eta, rungs, every
):
    b = rung_budgets(top, eta, rungs, every)
    assert 1 <= len(b) <= rungs
    assert all(x % every == 0 for x in b)
    assert all(x < y for x, y in itertools.pairwise(b))
    assert b[-1] == math.ceil(top / every) * every
    assert b[0] >= every


def test_rung_budgets_example_and_errors():
    assert rung_budgets(900, 3, 3, 50) == (100, 300, 900)
    assert rung_budgets(20, 3, 3, 10) == (10, 20)  # two rungs round alike
    assert rung_budgets(100, 3, 1, 50) == (100,)
    with pytest.raises(ValueError, match="eta"):
        rung_budgets(100, 1, 3, 50)
    assert [n_promoted(n, 3) for n in (0, 1, 3, 4, 8, 9)] == [0, 1, 1, 2, 3, 3]


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(
        st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3), min_size=1, max_size=6
    ),
    n=st.integers(1, 10_000),
    z=st.floats(0.0, 3.0),
)
def test_se_covers_fold_spread_and_sampling_and_lcb_is_below_the_mean(scores, n, z):
    s = np.asarray(scores)
    stats = fitness_stats(s, np.full(3, n), accuracy=True)
    np.testing.assert_allclose(stats.mean, s.mean(axis=1))
    assert np.all(stats.se >= stats.std / math.sqrt(3) - 1e-12)
    binom = np.sqrt(np.sum(s * (1 - s) / n, axis=1)) / 3
    assert np.all(stats.se >= binom - 1e-12)
    lcb = select_score(stats.mean, stats.se, "lcb", z)
    assert np.all(lcb <= stats.mean + 1e-12)
    np.testing.assert_array_equal(
        select_score(stats.mean, stats.se, "mean"), stats.mean
    )
    # A wider bound never raises a score.
    assert np.all(select_score(stats.mean, stats.se, "lcb", z + 1) <= lcb + 1e-12)


def test_a_lucky_high_variance_member_does_not_beat_a_consistent_one_under_lcb():
    folds = np.array(
        [
            [0.60, 0.45, 0.58],  # lucky: the higher mean, a large fold spread
            [0.53, 0.53, 0.53],  # consistent
        ]
    )
    stats = fitness_stats(folds, np.full(3, 4096))
    assert stats.mean[0] > stats.mean[1]
    assert top_members(select_score(stats.mean, stats.se, "mean"), 1)[0] == 0
    assert top_members(select_score(stats.mean, stats.se, "lcb"), 1)[0] == 1


def test_failed_members_are_never_selected():
    folds = np.array([[0.9, np.nan, 0.9], [0.5, 0.5, 0.5], [0.6, 0.6, 0.6]])
    stats = fitness_stats(folds, None)
    assert np.isnan(stats.mean[0]) and np.isnan(stats.se[0])
    score = select_score(stats.mean, stats.se, "lcb")
    np.testing.assert_array_equal(top_members(score, 3), [2, 1])
    assert fitness_stats(np.array([[0.5], [0.7]])).std.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="select rule"):
        select_score(stats.mean, stats.se, "max")
