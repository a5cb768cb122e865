import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import Array, Float

import nasjax.nn as nnx
from nasjax.graph import chain, pad_to, random_arch, stack, unstack
from tests.helpers import random_inputs, random_members

seeds = st.integers(0, 2**31 - 1)
apply_jit = jax.jit(nnx.apply)
init_jit = jax.jit(nnx.init)


def _member(tree, i):
    return jax.tree.map(lambda leaf: leaf[i], tree)


def test_output_shape_and_dtype(spec, x):
    arch = random_arch(jax.random.key(0), spec)
    logits = nnx.apply(arch, nnx.init(jax.random.key(1), arch), x)
    assert isinstance(logits, Float[Array, "4 2"])
    assert logits.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(logits)))


@pytest.mark.parametrize(
    "op",
    [
        "dense_gelu",
        "dense_tanh",
        "conv",
        "lstm",
        "gru",
        "attention",
        "layernorm",
        "identity",
    ],
)
def test_every_op_runs_and_is_finite(spec, x, op):
    arch = chain(spec, [op, "dense_gelu"], [8, 8])
    logits = apply_jit(arch, init_jit(jax.random.key(3), arch), x)
    assert bool(jnp.all(jnp.isfinite(logits)))


def test_jit_equals_no_jit(spec, x):
    arch = random_arch(jax.random.key(5), spec)
    params = nnx.init(jax.random.key(6), arch)
    np.testing.assert_allclose(
        nnx.apply(arch, params, x), apply_jit(arch, params, x), rtol=1e-5, atol=1e-6
    )


def test_vmap_equals_loop_and_compiles_once(spec, x):
    pop, params = random_members(spec, 6, 7)
    traces = []

    def counted(a, p, xb):
        traces.append(1)
        return nnx.apply(a, p, xb)

    f = jax.jit(jax.vmap(counted, in_axes=(0, 0, None)))
    batched = f(pop, params, x)
    looped = np.stack(
        [apply_jit(a, _member(params, i), x) for i, a in enumerate(unstack(pop))]
    )
    np.testing.assert_allclose(batched, looped, rtol=1e-4, atol=1e-5)
    # A different population of the same bucket reuses the compiled program.
    f(*random_members(spec, 6, 8), x)
    assert len(traces) == 1
    assert f._cache_size() == 1  # type: ignore[attr-defined]


@settings(max_examples=15, deadline=None)
@given(seeds)
def test_padding_invariance(spec, x, seed):
    k_arch, k_init = jax.random.split(jax.random.key(seed))
    arch = random_arch(k_arch, spec)
    params = init_jit(k_init, arch)
    big = pad_to(arch, spec.grown(max_nodes=16, max_width=32))
    big_params = nnx.pad_params(params, arch, big)
    np.testing.assert_allclose(
        apply_jit(arch, params, x), apply_jit(big, big_params, x), rtol=1e-5, atol=1e-5
    )


def test_padding_channels_do_not_leak(spec, x):
    """Garbage in padded parameter slots must not change the output."""
    arch = random_arch(jax.random.key(11), spec)
    params = nnx.init(jax.random.key(12), arch)
    noisy = nnx.init(jax.random.key(13), arch)
    n_active = int(arch.n_active)
    width = np.asarray(arch.width)

    def mix(path, clean, dirty):
        # Keep every node's active params; elsewhere take other random values.
        names = [str(getattr(p, "key", p)) for p in path]
        if names[0] != "nodes":
            return clean
        keep = np.zeros(clean.shape, bool)
        keep[:n_active] = True
        return jnp.where(keep, clean, dirty)

    mixed = jax.tree_util.tree_map_with_path(mix, params, noisy)
    np.testing.assert_allclose(
        apply_jit(arch, params, x), apply_jit(arch, mixed, x), rtol=1e-5, atol=1e-6
    )
    assert width[n_active:].sum() == 0


def test_input_shape_is_checked(spec):
    arch = random_arch(jax.random.key(0), spec)
    params = nnx.init(jax.random.key(1), arch)
    with pytest.raises(ValueError, match="window=8"):
        nnx.apply(arch, params, jnp.zeros((2, 5, spec.n_features)))


def test_population_arch_needs_vmap(spec, x):
    pop = stack([random_arch(jax.random.key(i), spec) for i in range(2)])
    with pytest.raises(ValueError, match="vmap"):
        nnx.apply(pop, {}, x)


def test_model_is_causal_in_time(spec):
    """Logits read at the last step depend on the past only through the DAG;
    embeddings at step t ignore inputs after t for every op."""
    arch = chain(
        spec, ["conv", "attention", "lstm", "gru"], [8, 8, 8, 8], readout="last"
    )
    params = nnx.init(jax.random.key(2), arch)
    x = random_inputs(spec, 2, seed=3)
    t = 4
    x_future = x.at[:, t + 1 :].set(100.0)
    cut = spec.window - (t + 1)
    # Truncate the window: drop the last steps and left-pad so step t is last.
    shifted = jnp.concatenate([jnp.zeros_like(x[:, :cut]), x[:, : t + 1]], axis=1)
    shifted_future = jnp.concatenate(
        [jnp.zeros_like(x[:, :cut]), x_future[:, : t + 1]], axis=1
    )
    np.testing.assert_allclose(
        nnx.apply(arch, params, shifted), nnx.apply(arch, params, shifted_future)
    )


def test_param_count_grows_with_width(spec):
    small = chain(spec, ["lstm"], [8])
    large = chain(spec, ["lstm"], [16])
    assert int(nnx.active_param_count(large)) > int(nnx.active_param_count(small))
    assert float(nnx.active_macs(large)) > float(nnx.active_macs(small))
