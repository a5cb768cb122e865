"""Resumable training: b1 steps then b2 more == b1 + b2 in one go, per fold;
training budgets in epochs; the separate early-stopping metric."""

import dataclasses
import functools
import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nasjax
from nasjax.data import FoldedData
from nasjax.graph import random_arch, stack
from nasjax.train import TrainConfig, TrainPlan, train_population
from nasjax.train.plan import _take
from tests.helpers import data_spec, fast_train_config, tiny_dataset

CFG = fast_train_config(
    n_steps=8,
    eval_every=2,
    batch_size=16,
    warmup_steps=2,
    learning_rate=1e-2,
    schedule_steps=8,
)


@functools.lru_cache(maxsize=1)
def small_data():
    return FoldedData(*tiny_dataset())


def population(n, seed=0):
    spec = data_spec(small_data())
    keys = jax.random.split(jax.random.key(seed), n)
    archs = stack([random_arch(k, spec) for k in keys])
    return archs, jax.vmap(nasjax.nn.init)(keys, archs)


def fit(key, archs, params, cfg, resume=None):
    plan = TrainPlan(shard=False)
    return train_population(
        key, archs, params, small_data(), cfg, plan=plan, resume=resume
    )


def assert_trees_close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # four compiles (~2 min on 2 shared cores)
def test_continuing_equals_one_long_run_per_fold_and_for_promoted_subsets():
    archs, params = population(3, seed=1)
    key = jax.random.key(5)
    # patience=1 with a large rate: some members stop early in the first part.
    cfg = dataclasses.replace(CFG, patience=1)
    whole = fit(key, archs, params, cfg)
    first = fit(key, archs, params, dataclasses.replace(cfg, n_steps=4))
    assert first.state is not None and whole.state is not None
    np.testing.assert_array_equal(np.asarray(first.state.step), 4)
    rest = fit(
        key, archs, None, dataclasses.replace(cfg, n_steps=4), resume=first.state
    )
    assert rest.state is not None
    np.testing.assert_array_equal(np.asarray(rest.state.step), 8)
    for name in ("best_step", "stopped_step", "failed"):
        np.testing.assert_array_equal(rest.metrics[name], whole.metrics[name])
    for name in ("best_val_loss", "best_val_accuracy", "best_score"):
        np.testing.assert_allclose(
            rest.metrics[name], whole.metrics[name], rtol=1e-4, atol=1e-5
        )
    np.testing.assert_allclose(rest.fitness, whole.fitness, rtol=1e-4, atol=1e-5)
    curve = np.concatenate(
        [first.metrics["val_loss"], rest.metrics["val_loss"]], axis=-1
    )
    np.testing.assert_allclose(curve, whole.metrics["val_loss"], rtol=1e-4, atol=1e-5)
    assert_trees_close(rest.params, whole.params)
    assert_trees_close(rest.state.opt_state, whole.state.opt_state)
    # A promoted subset (members 2 and 0, in that order) continues its own
    # per-fold states: equal to those members' one long run.
    idx = np.array([2, 0])
    sub = fit(
        jax.random.key(99),  # not used: the states carry their keys
        _take(archs, idx),
        None,
        dataclasses.replace(cfg, n_steps=4),
        resume=_take(first.state, idx),
    )
    assert_trees_close(sub.params, _take(whole.params, idx))
    np.testing.assert_array_equal(
        sub.metrics["best_step"], np.asarray(whole.metrics["best_step"])[idx]
    )
    with pytest.raises(ValueError, match="params=None"):
        fit(key, archs, params, cfg, resume=first.state)


@settings(max_examples=40, deadline=None)
@given(
    epochs=st.floats(0.01, 20.0),
    n_train=st.integers(1, 100_000),
    batch=st.integers(1, 512),
    every=st.integers(1, 50),
)
def test_epochs_become_whole_evaluations_covering_the_epochs(
    epochs, n_train, batch, every
):
    cfg = TrainConfig(n_steps=every, eval_every=every, batch_size=batch, epochs=epochs)
    steps = cfg.steps_for(n_train)
    assert steps % every == 0 and steps >= every
    assert steps * batch >= epochs * n_train  # at least the epochs asked
    assert (steps - every) * batch < max(epochs * n_train, batch)  # no more
    resolved = cfg.resolved(n_train)
    assert resolved.n_steps == steps and resolved.epochs is None
    plain = dataclasses.replace(cfg, epochs=None)
    assert plain.steps_for(n_train) == every and plain.resolved(n_train) is plain
    assert math.isclose(cfg.horizon, every)


def test_stop_metric_loss_keeps_the_lowest_loss_and_reports_accuracy():
    archs, params = population(2, seed=2)
    cfg = dataclasses.replace(CFG, stop_metric="loss", metric="accuracy")
    res = fit(jax.random.key(1), archs, params, cfg)
    loss = np.asarray(res.metrics["val_loss"])  # [P, K, n_evals]
    best = np.asarray(res.metrics["best_val_loss"])
    # The kept params are those of the lowest loss seen (the initial params'
    # loss is not in the curve, so the kept one is at most the curve's min).
    assert np.all(best <= loss.min(axis=-1) + 1e-6)
    np.testing.assert_allclose(
        res.fitness, np.asarray(res.metrics["best_val_accuracy"]).mean(axis=1)
    )
    with pytest.raises(ValueError, match="stop_metric"):
        TrainConfig(stop_metric="auc")
