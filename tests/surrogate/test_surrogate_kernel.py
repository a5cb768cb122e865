"""Encoding and architecture kernel: shapes, symmetry, positive semi-definiteness."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import nasjax  # noqa: F401
from nasjax.graph import chain
from nasjax.surrogate import KernelParams, arch_kernel, encode, layout
from nasjax.surrogate.kernels import kernel_from_pairs, pairs
from tests.helpers import random_archs, small_spec

SPEC = small_spec()
_enc = jax.jit(jax.vmap(encode))


def test_encoding_shape_and_widths_visible():
    lay = layout(SPEC)
    a = chain(SPEC, ["dense_gelu", "conv"], [8, 8])
    b = chain(SPEC, ["dense_gelu", "conv"], [16, 8])
    ea, eb = np.asarray(encode(a)), np.asarray(encode(b))
    assert ea.shape == (lay.dim,) and ea.dtype == np.float32
    assert not np.allclose(ea, eb)  # widths are seen (AutoKeras ignored them)
    kp = KernelParams(jnp.float32(1.0), jnp.ones(len(lay.groups)), jnp.float32(0.3))
    k = np.asarray(arch_kernel(kp, jnp.stack([ea, eb]), jnp.stack([ea, eb]), lay))
    assert k[0, 1] < k[0, 0] - 1e-4


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    amp=st.floats(0.1, 5.0),
    ls=st.lists(st.floats(0.05, 20.0), min_size=5, max_size=5),
    w=st.floats(0.01, 0.99),
)
def test_kernel_symmetric_psd(seed, amp, ls, w):
    lay = layout(SPEC)
    with jax.enable_x64(True):
        archs = random_archs(SPEC, 24, seed)
        x = jnp.asarray(_enc(archs), jnp.float64)
        x = jnp.concatenate([x, x[:3]])  # exact duplicates too
        kp = KernelParams(jnp.asarray(amp), jnp.asarray(ls), jnp.asarray(w))
        k = np.asarray(arch_kernel(kp, x, x, lay))
    np.testing.assert_allclose(k, k.T, atol=1e-12)
    assert np.linalg.eigvalsh(k).min() >= -1e-8
    np.testing.assert_allclose(np.diag(k), amp, rtol=1e-9)


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    ls=st.lists(st.floats(0.05, 20.0), min_size=5, max_size=5),
    w=st.floats(0.01, 0.99),
    fid_ls=st.one_of(st.none(), st.floats(0.2, 5.0)),
)
def test_kernel_from_pairs_equals_arch_kernel(seed, ls, w, fid_ls):
    """The fit's precomputed form is the same kernel (cross sets, fidelity)."""
    lay = layout(SPEC)
    with jax.enable_x64(True):
        x = jnp.asarray(_enc(random_archs(SPEC, 20, seed)), jnp.float64)
        if fid_ls is not None:
            budgets = jax.random.choice(jax.random.key(seed), 3, (20, 1))
            x = jnp.concatenate([x, -budgets.astype(jnp.float64)], axis=1)
        fl = None if fid_ls is None else jnp.asarray(fid_ls)
        kp = KernelParams(jnp.asarray(1.7), jnp.asarray(ls), jnp.asarray(w), fl)
        for xa, xb in ((x, x), (x[:7], x[7:])):
            direct = np.asarray(arch_kernel(kp, xa, xb, lay))
            cached = np.asarray(kernel_from_pairs(kp, pairs(xa, xb, lay)))
            np.testing.assert_allclose(cached, direct, rtol=1e-9, atol=1e-12)
