"""Baselines: registry, fixed deep archs in the search space, fit_predict shapes."""

import dataclasses

import jax
import numpy as np
import pytest

import nasjax  # noqa: F401
from nasjax.baselines import BASELINES, DEEP_ARCHS, default_spec
from nasjax.baselines.registry import fit_arch, fit_predict_arch, predict_arch
from nasjax.graph import chain, validate
from nasjax.nn import active_param_count, init
from nasjax.train import split_ids
from tests.helpers import data_spec, fast_train_config, small_spec, tiny_dataset


@pytest.fixture(scope="module")
def data():
    return tiny_dataset(1, signal=0.1, window=8)


def test_registry_lists_every_baseline():
    assert set(BASELINES) == {
        "majority",
        "persistence",
        "logistic",
        "gbdt",
        "lstm",
        "transformer",
        "tcn",
    }
    assert {b.kind for b in BASELINES.values()} == {"naive", "classical", "deep"}


@pytest.mark.parametrize("name", sorted(DEEP_ARCHS))
def test_deep_archs_are_valid_fixed_archs(name):
    spec = small_spec(n_features=7, window=32, max_width=64)
    arch = validate(DEEP_ARCHS[name](spec))
    n_params = int(active_param_count(arch))
    assert 5_000 < n_params < 200_000, n_params
    a = arch.to_numpy()
    used = {spec.ops[i] for i in a["ops"][1 : int(a["node_mask"].sum())]}
    expected = {
        "lstm": {"lstm"},
        "transformer": {"attention", "layernorm", "dense_gelu"},
        "tcn": {"conv", "dense_gelu"},
    }[name]
    assert used == expected


@pytest.mark.parametrize("name", ["majority", "persistence", "logistic", "gbdt"])
@pytest.mark.parametrize("split", ["val", "test"])
def test_classical_fit_predict_shapes(data, name, split):
    p = BASELINES[name].fit_predict(jax.random.key(0), data, split=split)
    n = len(split_ids(data.folds, split)[2])
    assert p.shape == (n,) and p.dtype == np.float32
    assert np.all((p >= 0) & (p <= 1))


@pytest.mark.slow
def test_deep_baseline_trains_with_the_population_engine(data):
    spec = dataclasses.replace(
        default_spec(data.dataset, max_width=16), ops=("conv", "dense_gelu")
    )
    cfg = fast_train_config()
    p = BASELINES["tcn"].fit_predict(
        jax.random.key(0), data, split="test", cfg=cfg, spec=spec
    )
    assert p.shape == (len(split_ids(data.folds, "test")[2]),)
    assert np.all(np.isfinite(p))


@pytest.mark.slow  # two trainings of one arch
def test_fit_arch_then_predict_equals_fit_predict_arch(data):
    """``fit_predict_arch`` is ``fit_arch`` followed by ``predict_arch``."""
    spec = data_spec(data.dataset, max_nodes=2, max_width=8, ops=("dense_gelu",))
    arch = chain(spec, ["dense_gelu"], [8])
    cfg = fast_train_config()
    key = jax.random.key(3)
    params = fit_arch(key, arch, data, cfg=cfg)
    assert jax.tree.structure(params) == jax.tree.structure(
        init(jax.random.key(0), arch)
    )
    for split in ("val", "test"):
        p = predict_arch(arch, params, data, split=split, batch_size=64)
        q = fit_predict_arch(key, arch, data, split=split, cfg=cfg)
        n = len(split_ids(data.folds, split)[2])
        assert p.dtype == np.float32 and p.shape == (n,)
        np.testing.assert_array_equal(p, q)
