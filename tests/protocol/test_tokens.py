"""Exact integer token arithmetic."""

import jax.numpy as jnp
import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nasjax.protocol import x64_mode
from nasjax.protocol.tokens import PPM, mul_div, mul_ppm, split_equal, take_stake

AMOUNT = st.integers(0, 10**15)
RATE = st.integers(0, PPM)


@settings(max_examples=60, deadline=None)
@given(st.lists(AMOUNT, min_size=1, max_size=8), st.lists(RATE, min_size=1, max_size=8))
def test_mul_ppm_is_exact_floor(amounts, rates):
    n = min(len(amounts), len(rates))
    a, r = amounts[:n], rates[:n]
    with x64_mode():
        got = np.asarray(mul_ppm(jnp.asarray(a, jnp.int64), jnp.asarray(r, jnp.int64)))
    assert got.tolist() == [x * y // PPM for x, y in zip(a, r, strict=True)]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**49), st.integers(0, 2**62), st.integers(1, 2**62))
@example(50_000 * 3_000_000, 21_000_000, 30_000_000)  # 0.05 * 3 * 0.7, whole
@example(2**49, 2**62 - 1, 2**62)
def test_mul_div_is_exact_floor(a, b, c):
    c = max(c, (a * b >> 49) + 1)  # quotients below 2**50
    with x64_mode():
        got = int(mul_div(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c)))
    assert got == a * b // c


@settings(max_examples=60, deadline=None)
@given(
    st.lists(AMOUNT, min_size=3, max_size=3),
    st.lists(st.lists(st.booleans(), min_size=5, max_size=5), min_size=3, max_size=3),
)
def test_split_equal_conserves(pools, mask):
    with x64_mode():
        share, dust = split_equal(jnp.asarray(pools, jnp.int64), jnp.asarray(mask))
        share, dust = np.asarray(share), np.asarray(dust)
    assert (share.sum(axis=1) + dust).tolist() == pools
    assert (share >= 0).all() and (dust >= 0).all()
    m = np.asarray(mask)
    assert (share[~m] == 0).all()
    for j in range(3):
        if m[j].any():
            assert len(set(share[j][m[j]].tolist())) == 1  # equal shares
            assert dust[j] < m[j].sum()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 10**9), min_size=4, max_size=4),
    st.lists(st.integers(0, 10**9), min_size=4, max_size=4),
    st.lists(
        st.lists(st.integers(0, 10**9), min_size=3, max_size=3), min_size=4, max_size=4
    ),
)
def test_take_stake_takes_bond_first_never_more_than_held(want, bonded, unbonding):
    with x64_mode():
        b, u, taken = take_stake(
            jnp.asarray(want, jnp.int64),
            jnp.asarray(bonded, jnp.int64),
            jnp.asarray(unbonding, jnp.int64),
        )
        b, u, taken = np.asarray(b), np.asarray(u), np.asarray(taken)
    held = np.asarray(bonded) + np.asarray(unbonding).sum(axis=1)
    assert (taken == np.minimum(want, held)).all()
    assert (b + u.sum(axis=1) + taken == held).all()
    assert (b >= 0).all() and (u >= 0).all()
    assert (b == np.maximum(np.asarray(bonded) - np.asarray(want), 0)).all()
