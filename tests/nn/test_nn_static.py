"""The straight-line model of one concrete arch equals the bucket model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nasjax.nn as nnx
from nasjax.graph import DEFAULT_OPS, chain, random_arch
from nasjax.train import make_train, make_train_data, select_fold
from tests.helpers import data_spec, fast_train_config, tiny_dataset

apply_jit = jax.jit(nnx.apply)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_static_equals_bucket_model(spec, x, seed):
    arch = random_arch(jax.random.key(seed), spec)
    params = nnx.init(jax.random.key(seed + 100), arch)
    static = jax.jit(lambda p, xb: nnx.apply_static(arch, p, xb))
    np.testing.assert_allclose(
        static(params, x), apply_jit(arch, params, x), rtol=1e-5, atol=1e-5
    )


def test_static_gradients_equal_bucket_gradients(spec, x):
    arch = chain(spec, ["lstm", "conv", "attention"], [8, 16, 8])
    params = nnx.init(jax.random.key(3), arch)

    def loss(forward):
        return jax.jit(jax.grad(lambda p: jnp.sum(forward(arch, p, x) ** 2)))(params)

    g_static, g_bucket = loss(nnx.apply_static), loss(nnx.apply)
    for a, b in zip(jax.tree.leaves(g_static), jax.tree.leaves(g_bucket), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # two trainings (the forward equality stays fast)
def test_static_training_equals_bucket_training():
    """``make_train(cfg, forward=apply_static)`` reproduces the default run."""
    folded = tiny_dataset(n_symbols=2, n_steps=800, n_folds=1)
    small = data_spec(folded, max_width=64, ops=DEFAULT_OPS)  # all ops, wide
    arch = random_arch(jax.random.key(2), small)
    p0 = nnx.init(jax.random.key(3), arch)
    cfg = fast_train_config(
        n_steps=6,
        eval_every=3,
        eval_batch_size=128,
        max_eval_samples=128,
        warmup_steps=20,
    )
    data = make_train_data(folded, eval_batch_size=128, max_eval_samples=128)
    data = select_fold(data, 0)
    key = jax.random.key(1)
    _, m_bucket = jax.jit(make_train(cfg))(key, arch, p0, data)
    static_train = make_train(cfg, forward=nnx.apply_static)
    _, m_static = jax.jit(lambda k, p, d: static_train(k, arch, p, d))(key, p0, data)
    np.testing.assert_allclose(m_static["val_loss"], m_bucket["val_loss"], rtol=1e-4)


def test_static_needs_a_concrete_single_arch(spec, x):
    arch = random_arch(jax.random.key(0), spec)
    params = nnx.init(jax.random.key(1), arch)
    with pytest.raises(ValueError, match="concrete arch"):
        jax.jit(nnx.apply_static)(arch, params, x)
    pair = jax.tree.map(lambda a: jnp.stack([a, a]), arch)
    with pytest.raises(ValueError, match="single arch"):
        nnx.apply_static(pair, params, x)
    with pytest.raises(ValueError, match="x must be"):
        nnx.apply_static(arch, params, x[:, :2])
