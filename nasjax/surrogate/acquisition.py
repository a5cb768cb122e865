"""Acquisition functions for maximisation (elementwise, numerically safe).

Every function takes the posterior ``mean`` and ``std`` (same shape, any
float dtype) in target units and returns an array of that shape. A ``std`` at
or below ``_TINY`` is treated as a noiseless prediction: the limits as
``std -> 0`` are returned instead of ``0 / 0``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import erfcx, log_ndtr, ndtr
from jax.typing import ArrayLike

_TINY = 1e-12
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_HALF_LOG_PI_OVER_2 = 0.5 * math.log(math.pi / 2.0)


def _z(mean: ArrayLike, std: ArrayLike, best: ArrayLike) -> tuple[jax.Array, ...]:
    mean, std, best = jnp.broadcast_arrays(*map(jnp.asarray, (mean, std, best)))
    small = std <= _TINY
    safe = jnp.where(small, 1.0, std)
    return (mean - best) / safe, safe, small, mean - best


def expected_improvement(mean: ArrayLike, std: ArrayLike, best: ArrayLike) -> jax.Array:
    """``E[max(f - best, 0)]`` for ``f ~ N(mean, std^2)``.

    Args:
        mean: ``float[...]`` posterior means.
        std: ``float[...]`` posterior standard deviations (``>= 0``).
        best: Incumbent (scalar or broadcastable).

    Returns:
        ``float[...]``, ``>= 0``; equals ``max(mean - best, 0)`` when ``std -> 0``.
    """
    z, safe, small, diff = _z(mean, std, best)
    phi = jnp.exp(-0.5 * z**2 - _LOG_SQRT_2PI)
    ei = safe * (z * ndtr(z) + phi)
    return jnp.where(small, jnp.maximum(diff, 0.0), jnp.maximum(ei, 0.0))


def _log_h(z: jax.Array) -> jax.Array:
    """``log(z * Phi(z) + phi(z))`` stably for every ``z`` (Ament et al., 2023)."""
    eps = jnp.finfo(z.dtype).eps
    log_phi = -0.5 * z**2 - _LOG_SQRT_2PI
    upper = jnp.where(z > -1.0, z, -1.0)
    direct = jnp.log(upper * ndtr(upper) + jnp.exp(-0.5 * upper**2 - _LOG_SQRT_2PI))
    mid_z = jnp.clip(z, -1.0 / jnp.sqrt(eps), -1.0)
    # h(z) = phi(z) * (1 - |z| * sqrt(pi/2) * erfcx(|z| / sqrt2)) for z < 0.
    log_term = jnp.log(erfcx(-mid_z / math.sqrt(2.0)) * jnp.abs(mid_z))
    log_term = log_term + _HALF_LOG_PI_OVER_2
    mid = -0.5 * mid_z**2 - _LOG_SQRT_2PI + _log1mexp(log_term)
    far = log_phi - 2.0 * jnp.log(jnp.abs(jnp.where(z < -1.0, z, -1.0)))
    return jnp.where(z > -1.0, direct, jnp.where(z > -1.0 / jnp.sqrt(eps), mid, far))


def _log1mexp(x: jax.Array) -> jax.Array:
    """``log(1 - exp(x))`` for ``x < 0``."""
    return jnp.where(x > -math.log(2.0), jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def log_expected_improvement(
    mean: ArrayLike, std: ArrayLike, best: ArrayLike
) -> jax.Array:
    """``log(expected_improvement(mean, std, best))`` without underflow.

    Finite far below the incumbent, where EI underflows to 0 in floating point,
    so candidates there can still be ranked. ``-inf`` only when ``std -> 0``
    and ``mean <= best``.
    """
    z, safe, small, diff = _z(mean, std, best)
    log_ei = _log_h(z) + jnp.log(safe)
    noiseless = jnp.log(jnp.maximum(diff, 0.0))
    return jnp.where(small, noiseless, log_ei)


def upper_confidence_bound(
    mean: ArrayLike, std: ArrayLike, beta: ArrayLike = 2.0
) -> jax.Array:
    """``mean + beta * std`` (``beta`` multiplies the std, it is not squared)."""
    return jnp.asarray(mean) + jnp.asarray(beta) * jnp.asarray(std)


def probability_of_improvement(
    mean: ArrayLike, std: ArrayLike, best: ArrayLike
) -> jax.Array:
    """``P(f > best)``; ``1[mean > best]`` when ``std -> 0``."""
    z, _, small, diff = _z(mean, std, best)
    return jnp.where(small, (diff > 0).astype(z.dtype), ndtr(z))


def log_probability_of_improvement(
    mean: ArrayLike, std: ArrayLike, best: ArrayLike
) -> jax.Array:
    """``log P(f > best)`` (stable in the lower tail)."""
    z, _, small, diff = _z(mean, std, best)
    return jnp.where(small, jnp.where(diff > 0, 0.0, -jnp.inf), log_ndtr(z))


ACQUISITIONS = {
    "ei": expected_improvement,
    "log_ei": log_expected_improvement,
    "pi": probability_of_improvement,
}
"""Acquisitions taking ``(mean, std, best)``; UCB takes ``beta`` instead."""
