"""The ``window`` readout: one function everywhere, padding-free, counted,
linear over the whole window for the ``linear_window`` seed, seen by the GP."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nasjax.nn as nnx
from nasjax.graph import READOUTS, ZOO, Arch, pad_to, stack, unstack
from nasjax.surrogate.encode import encode
from tests.helpers import random_archs, random_inputs, search_spec, small_spec

WINDOW = READOUTS.index("window")
SPEC = small_spec()
apply_jit = jax.jit(nnx.apply)
apply_pop = jax.jit(jax.vmap(nnx.apply, in_axes=(0, 0, None)))


def window_members(n: int = 4, seed: int = 0) -> tuple[Arch, dict]:
    """Random archs with the window readout and random time weights."""
    archs = random_archs(SPEC, n, seed).replace(readout=jnp.full(n, WINDOW, jnp.int32))
    keys = jax.random.split(jax.random.key(seed + 1), n)
    params = jax.vmap(nnx.init)(keys, archs)
    k = jax.random.key(seed + 2)
    params["readout"] = jax.random.normal(k, params["readout"].shape)
    return archs, params


def member(tree, i):
    return jax.tree.map(lambda v: v[i], tree)


def test_window_is_a_known_readout_and_random_archs_draw_it():
    assert READOUTS == ("last", "mean", "window")
    drawn = np.asarray(random_archs(SPEC, 64, 3).readout)
    assert set(drawn.tolist()) == {0, 1, 2}


def test_fresh_window_arch_equals_its_last_step_twin():
    """The time weights start at the last step: a fresh window arch computes
    what the same arch with the last-step readout computes."""
    archs = random_archs(SPEC, 3, 5)
    params = jax.vmap(nnx.init)(jax.random.split(jax.random.key(6), 3), archs)
    x = random_inputs(SPEC, 4, seed=7)
    apply = apply_pop
    last = apply(archs.replace(readout=jnp.zeros(3, jnp.int32)), params, x)
    window = apply(archs.replace(readout=jnp.full(3, WINDOW, jnp.int32)), params, x)
    np.testing.assert_allclose(window, last, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "node_loop", [pytest.param("unroll", marks=pytest.mark.slow), "scan", "schedule"]
)
def test_population_and_static_equal_the_bucket_model(node_loop):
    archs, params = window_members(2)
    x = random_inputs(SPEC, 4, seed=8)
    ref = apply_pop(archs, params, x)
    pop = nnx.apply_population(archs, params, x, node_loop=node_loop)
    np.testing.assert_allclose(pop, ref, rtol=1e-4, atol=1e-5)
    if node_loop == "unroll":
        static = np.stack(
            [
                nnx.apply_static(a, member(params, i), x)
                for i, a in enumerate(unstack(archs))
            ]
        )
        np.testing.assert_allclose(static, ref, rtol=1e-4, atol=1e-5)


def test_window_readout_is_padding_invariant():
    archs, params = window_members(2, 11)
    x = random_inputs(SPEC, 4, seed=12)
    big_spec = SPEC.grown(max_nodes=16, max_width=32)
    for i, arch in enumerate(unstack(archs)):
        p = member(params, i)
        big = pad_to(arch, big_spec)
        np.testing.assert_allclose(
            apply_jit(arch, p, x),
            apply_jit(big, nnx.pad_params(p, arch, big), x),
            rtol=1e-5,
            atol=1e-5,
        )


def test_param_count_counts_exactly_the_time_weights_that_matter():
    """Window minus last = T x output width, and that many time weights get
    a gradient (the others are padding)."""
    archs, params = window_members(4, 13)
    x = random_inputs(SPEC, 8, seed=14)
    grad_fn = jax.jit(jax.grad(lambda p, a: jnp.sum(nnx.apply(a, p, x) ** 2)))
    for i, arch in enumerate(unstack(archs)):
        twin = arch.replace(readout=jnp.int32(0))
        extra = int(nnx.active_param_count(arch)) - int(nnx.active_param_count(twin))
        out_w = int(arch.width[int(arch.n_active) - 1])
        assert extra == SPEC.window * out_w
        macs = float(nnx.active_macs(arch)) - float(nnx.active_macs(twin))
        assert macs == SPEC.window * out_w
        grad = grad_fn(member(params, i), arch)
        assert int(np.count_nonzero(np.asarray(grad["readout"]))) == extra


def test_linear_window_seed_is_linear_in_every_step():
    """logits(x) - logits(0) is linear in x and depends on the first step,
    which the last-step linear seed ignores."""
    spec = search_spec()
    x = random_inputs(spec, 4, seed=15)
    y = random_inputs(spec, 4, seed=16)
    zero = jnp.zeros_like(x)
    early = x.at[:, 1:].set(0.0)  # only the first step is non-zero
    for name, sees_first in (("linear_window", True), ("linear", False)):
        arch = ZOO[name](spec)
        params = nnx.init(jax.random.key(17), arch)
        params["readout"] = jax.random.normal(jax.random.key(18), (8, 16))

        def f(v, arch=arch, params=params):
            return apply_jit(arch, params, v) - apply_jit(arch, params, zero)

        np.testing.assert_allclose(
            f(2.0 * x - 0.5 * y), 2.0 * f(x) - 0.5 * f(y), rtol=1e-4, atol=1e-4
        )
        moved = float(jnp.max(jnp.abs(f(early))))
        assert (moved > 1e-3) == sees_first, (name, moved)


def test_readout_is_seen_by_fingerprint_json_and_gp_encoding():
    spec = search_spec()
    archs = stack([ZOO["linear"](spec), ZOO["linear_window"](spec)])
    lin, win = unstack(archs)
    assert lin.fingerprint() != win.fingerprint()
    assert Arch.from_json(win.to_json()).fingerprint() == win.fingerprint()
    assert not np.allclose(encode(lin), encode(win))
    assert "| window" in win.summary() and "| last" in lin.summary()
