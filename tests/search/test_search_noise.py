"""Fitness standard errors: kept by every searcher, used by the GP of bayes_morph."""

import dataclasses
import functools

import jax
import numpy as np
import pytest

from nasjax.search import SEARCHERS
from nasjax.search.base import Archive
from tests.search.test_search_contract import OPTIONS, SPEC, toy_fitness


def _one_round(name, se, **extra):
    searcher = SEARCHERS[name](SPEC, **{**OPTIONS[name], **extra})
    state = searcher.init(jax.random.key(0), None)
    prop, state = searcher.ask(jax.random.key(1), state, 8)
    fit = toy_fitness(prop.archs)
    state, _ = searcher.tell(jax.random.key(2), state, prop.archs, fit, fitness_se=se)
    return searcher, state


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_every_searcher_keeps_the_told_standard_errors(name):
    se = np.linspace(0.0, 0.07, 8)
    _, state = _one_round(name, se)
    np.testing.assert_array_equal(state.archive.fitness_se, se)
    np.testing.assert_allclose(state.archive.noise_var, se**2)
    _, unknown = _one_round(name, None)
    assert np.isnan(unknown.archive.fitness_se).all()
    np.testing.assert_array_equal(unknown.archive.noise_var, np.zeros(8))


def test_wrong_count_of_standard_errors_is_refused():
    with pytest.raises(ValueError, match="3 standard errors for 8 fitness"):
        _one_round("random", np.zeros(3))


def test_an_archive_saved_without_errors_takes_new_ones():
    searcher, state = _one_round("random", None)
    old = dataclasses.replace(state.archive, fitness_se=np.zeros(0))
    assert Archive.noise_var.fget(old).shape == (8,)  # type: ignore[union-attr]
    prop, st = searcher.ask(jax.random.key(3), state._replace(archive=old), 4)
    fit = toy_fitness(prop.archs)
    st, _ = searcher.tell(jax.random.key(4), st, prop.archs, fit, fitness_se=np.ones(4))
    assert len(st.archive.fitness_se) == 12
    assert np.isnan(st.archive.fitness_se[:8]).all()
    np.testing.assert_array_equal(st.archive.fitness_se[8:], 1.0)


@functools.cache
def _next_proposal(se, noise_aware):
    se = np.asarray(se)
    searcher, state = _one_round("bayes_morph", se, gp_noise_aware=noise_aware)
    prop, _ = searcher.ask(jax.random.key(5), state, 8)
    return prop.fingerprints


@pytest.mark.slow  # two GP compiles (~40 s); the GP side is also tested fast in
# test_surrogate_fast.py (test_known_noise_widens_the_posterior_at_that_point)
def test_bayes_morph_gp_takes_the_known_noise():
    zero = (0.0,) * 8
    # zero known noise is no known noise
    assert _next_proposal(zero, True) == _next_proposal(zero, False)
    # large, unequal errors change what the GP believes, hence what it asks
    noisy = (3.0, 0.0) * 4
    assert _next_proposal(noisy, True) != _next_proposal(noisy, False)
    assert _next_proposal(noisy, False) == _next_proposal(zero, False)
