"""Exact integer token arithmetic (int64 micro-tokens, parts-per-million rates).

Every balance is an ``int64`` count of micro-tokens and every rate an integer
number of parts per million, so supply conservation holds exactly: each
operation here either moves a whole number of units or reports the units it
could not place (``dust``), which the caller burns and counts. Arrays must be
built under 64-bit mode (see :func:`nasjax.protocol.x64.x64`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

UNITS_PER_TOKEN: int = 1_000_000
"""Micro-tokens per token."""

PPM: int = 1_000_000
"""Parts per million: the denominator of every rate."""


def to_units(tokens: float) -> int:
    """Tokens -> integer micro-tokens (rounded to the nearest unit)."""
    return round(tokens * UNITS_PER_TOKEN)


def to_tokens(units: int | float) -> float:
    """Micro-tokens -> tokens (for reports only, never for accounting)."""
    return float(units) / UNITS_PER_TOKEN


def to_ppm(fraction: float) -> int:
    """A fraction in [0, 1] -> integer parts per million."""
    return round(fraction * PPM)


def mul_ppm(amount: jax.Array, ppm: jax.Array) -> jax.Array:
    """``floor(amount * ppm / 1e6)`` exactly, without int64 overflow.

    Args:
        amount: ``int64[...]`` non-negative amounts.
        ppm: ``int64[...]`` rates in ``[0, PPM]`` (broadcast with ``amount``).

    Returns:
        ``int64[...]`` the floored products (never more than ``amount``).
    """
    amount = jnp.asarray(amount, jnp.int64)
    ppm = jnp.asarray(ppm, jnp.int64)
    q, r = amount // PPM, amount % PPM
    return q * ppm + (r * ppm) // PPM


def _mul_wide(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(hi, lo)`` ``uint64`` words of the exact product of non-negative int64s."""
    a, b = jnp.asarray(a, jnp.uint64), jnp.asarray(b, jnp.uint64)
    low, s = jnp.uint64(0xFFFFFFFF), jnp.uint64(32)
    a0, a1, b0, b1 = a & low, a >> s, b & low, b >> s
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> s) + (p01 & low) + (p10 & low)
    return p11 + (p01 >> s) + (p10 >> s) + (mid >> s), (p00 & low) | (mid << s)


def _below(x: tuple[jax.Array, jax.Array], y: tuple[jax.Array, jax.Array]):
    return (x[0] < y[0]) | ((x[0] == y[0]) & (x[1] < y[1]))


def product_at_least(
    a: jax.Array, b: jax.Array, c: jax.Array, d: jax.Array
) -> jax.Array:
    """``a * b >= c * d`` exactly (128-bit products) for non-negative int64s."""
    return ~_below(_mul_wide(a, b), _mul_wide(c, d))


def mul_div(a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
    """``floor(a * b / c)`` exactly, also where ``a * b`` overflows int64.

    The quotient is estimated in float64 and corrected with exact 128-bit
    products (two 64-bit words), so it is exact while it is below ``2**50``.

    Args:
        a: ``int64[...]`` non-negative.
        b: ``int64[...]`` non-negative.
        c: ``int64[...]`` positive (all three broadcast together).

    Returns:
        ``int64[...]`` the floored quotients.
    """
    a, b, c = (jnp.asarray(x, jnp.int64) for x in (a, b, c))
    est = jnp.floor(a.astype(jnp.float64) * b.astype(jnp.float64) / c)
    q = jnp.clip(est, 0.0, 2.0**62).astype(jnp.int64)
    ab = _mul_wide(a, b)
    q = jnp.where(_below(ab, _mul_wide(q, c)), q - 1, q)
    return jnp.where(_below(ab, _mul_wide(q + 1, c)), q, q + 1)


def split_equal(pool: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Split each pool equally over its masked seats, flooring.

    Args:
        pool: ``int64[P]`` amounts to share.
        mask: ``bool[P, C]`` seats that receive a share.

    Returns:
        ``(share int64[P, C], dust int64[P])``: the per-seat amounts (zero off
        the mask) and what is left (the whole pool when no seat is masked);
        ``share.sum(1) + dust == pool`` exactly.
    """
    n = jnp.sum(mask, axis=1).astype(jnp.int64)
    each = jnp.where(n > 0, pool // jnp.maximum(n, 1), 0)
    share = jnp.where(mask, each[:, None], 0)
    return share, pool - each * n


def take_stake(
    amount: jax.Array, bonded: jax.Array, unbonding: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Take up to ``amount`` per node, from the bond first, then unbonding.

    Unbonding slots are taken in slot order. Nothing is taken beyond what a
    node holds.

    Args:
        amount: ``int64[N]`` requested amounts (>= 0).
        bonded: ``int64[N]`` bonded stake.
        unbonding: ``int64[N, D]`` stake waiting for release.

    Returns:
        ``(bonded, unbonding, taken int64[N])`` after the deduction.
    """
    from_bond = jnp.minimum(amount, bonded)
    rest = amount - from_bond
    before = jnp.cumsum(unbonding, axis=1) - unbonding
    from_slot = jnp.clip(rest[:, None] - before, 0, unbonding)
    taken = from_bond + jnp.sum(from_slot, axis=1)
    return bonded - from_bond, unbonding - from_slot, taken


def credit(n: int, ids: jax.Array, amounts: jax.Array) -> jax.Array:
    """``int64[n]`` sum of ``amounts`` per id (any shape, ids in ``[0, n)``)."""
    return (
        jnp.zeros(n, jnp.int64)
        .at[jnp.reshape(ids, -1)]
        .add(jnp.reshape(jnp.asarray(amounts, jnp.int64), -1))
    )
