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
