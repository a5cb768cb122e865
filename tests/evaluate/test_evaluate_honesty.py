"""Planted signal: models approach (never beat) Bayes; no signal / shuffled ~50%."""

import functools

import jax
import numpy as np
import pytest

import nasjax  # noqa: F401
from nasjax.baselines import BASELINES, fit_predict_arch
from nasjax.evaluate import accuracy, balanced_accuracy, split_arrays
from nasjax.graph import chain
from nasjax.train import TrainConfig, split_ids
from tests.helpers import data_spec, fold_frame, tiny_synthetic

CFG = TrainConfig(
    n_steps=400,
    eval_every=100,
    batch_size=128,
    learning_rate=1e-2,
    warmup_steps=20,
    eval_batch_size=512,
    max_eval_samples=1024,
)


@functools.lru_cache(maxsize=4)
def dataset(signal, seed=0):
    syn = tiny_synthetic(seed, n_steps=5000, signal=signal)
    return fold_frame(syn.frame, window=2), syn.bayes_accuracy


def mlp_accuracy(data):
    ds, folds, _ = data
    spec = data_spec(ds, max_width=32, ops=("dense_gelu",))
    arch = chain(spec, ["dense_gelu", "dense_gelu"], [32, 32])
    p = fit_predict_arch(jax.random.key(0), arch, data, cfg=CFG)
    ids = split_ids(folds, "test")[2]
    y = split_arrays(ds, ids)["labels"]
    return accuracy(y, p), balanced_accuracy(y, p), len(ids)


def test_planted_signal_reaches_but_never_beats_bayes():
    data, bayes = dataset(0.2)
    ds, folds, _ = data
    assert bayes == 0.7
    ids = split_ids(folds, "test")[2]
    y = split_arrays(ds, ids)["labels"]
    noise = 3 * np.sqrt(0.25 / len(ids))
    acc_nn, _, _ = mlp_accuracy(data)
    acc_gbdt = accuracy(y, BASELINES["gbdt"].fit_predict(jax.random.key(0), data))
    for acc in (acc_nn, acc_gbdt):
        assert bayes - 0.04 <= acc <= bayes + noise, acc
    for name in ("majority", "persistence", "logistic"):  # cannot see the XOR
        acc = accuracy(y, BASELINES[name].fit_predict(jax.random.key(0), data))
        assert acc <= bayes + noise and acc < acc_nn - 0.05, (name, acc)


@pytest.mark.slow
def test_no_signal_and_shuffled_labels_give_half():
    data, _ = dataset(0.0)
    _, bal, n = mlp_accuracy(data)
    noise = 3 * np.sqrt(0.25 / n)
    assert abs(bal - 0.5) <= noise, bal
    data2, _ = dataset(0.2)
    ds2 = data2.dataset
    rng = np.random.default_rng(0)
    labels = np.asarray(ds2.labels).copy()
    mask = np.asarray(ds2.label_mask)
    labels[mask] = rng.permutation(labels[mask])
    shuffled = ds2.replace(labels=labels)
    # Shuffling moves the class balance, so compare balanced accuracy to 50%.
    _, bal, n = mlp_accuracy(data2._replace(dataset=shuffled))
    assert abs(bal - 0.5) <= 3 * np.sqrt(0.25 / n), bal
