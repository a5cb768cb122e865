"""Multi-objective helpers: Pareto fronts and random scalarisation (ParEGO).

Objectives are maximised (pass ``-param_count`` to minimise size). A random
augmented Chebyshev scalarisation turns ``K`` objectives into one target, so
a single-objective acquisition can trace the front: ParEGO (Knowles, 2006)
draws one weight per round, qParEGO one weight per batch member.

:func:`scalarised_expected_improvement` is the acquisition used when only the
first objective is uncertain (a GP posterior) and the others are known in
closed form for every candidate (parameter count, MACs): the expected
improvement of the scalarised value, computed exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr
from jax.typing import ArrayLike

from nasjax.typing import Key

_TINY = 1e-12


def pareto_front(points: ArrayLike) -> jax.Array:
    """Mask of the non-dominated rows (maximisation).

    Args:
        points: ``float[P, K]`` objective values; rows with NaN are never on
            the front.

    Returns:
        ``bool[P]``: True where no other row is ``>=`` in every objective and
        ``>`` in one. Duplicated optimal rows are all kept.
    """
    p = jnp.asarray(points)
    ok = jnp.all(jnp.isfinite(p), axis=1)
    q = jnp.where(ok[:, None], p, -jnp.inf)
    ge = jnp.all(q[None, :, :] >= q[:, None, :], axis=-1)  # [i, j]: j >= i
    gt = jnp.any(q[None, :, :] > q[:, None, :], axis=-1)
    dominated = jnp.any(ge & gt & ok[None, :], axis=1)
    return ok & ~dominated


def pareto_rank(points: ArrayLike) -> jax.Array:
    """Non-dominated sorting rank of every row (maximisation).

    Args:
        points: ``float[P, K]`` objective values.

    Returns:
        ``int32[P]``: 0 on the Pareto front, 1 on the front of the rest, and
        so on; rows with NaN get ``P``.
    """
    p = jnp.asarray(points)
    n = p.shape[0]
    ok = jnp.all(jnp.isfinite(p), axis=1)

    def peel(carry):
        rank, left, r = carry
        front = pareto_front(jnp.where(left[:, None], p, jnp.nan)) & left
        return jnp.where(front, r, rank), left & ~front, r + 1

    init = (jnp.full(n, n, jnp.int32), ok, jnp.int32(0))
    rank, _, _ = jax.lax.while_loop(lambda c: jnp.any(c[1]), peel, init)
    return rank


def normalise(objectives: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> jax.Array:
    """``(y - lo) / (hi - lo)`` per column (a zero range divides by 1).

    Args:
        objectives: ``float[..., K]``.
        lo: ``float[K]`` value mapped to 0.
        hi: ``float[K]`` value mapped to 1.

    Returns:
        ``float[..., K]``.
    """
    y, lo, hi = jnp.asarray(objectives), jnp.asarray(lo), jnp.asarray(hi)
    return (y - lo) / jnp.where(hi > lo, hi - lo, 1.0)


def chebyshev(z: ArrayLike, weights: ArrayLike, rho: float = 0.05) -> jax.Array:
    """Augmented Chebyshev scalarisation ``min_k w_k z_k + rho sum_k w_k z_k``.

    Args:
        z: ``float[..., K]`` normalised objectives (maximised).
        weights: ``float[K]`` non-negative weights (or ``float[..., K]``).
        rho: Weight of the linear (augmentation) term; ``> 0`` makes every
            maximiser Pareto optimal.

    Returns:
        ``float[...]`` scalar targets to maximise (NaN stays NaN).
    """
    wz = jnp.asarray(weights) * jnp.asarray(z)
    return jnp.min(wz, axis=-1) + rho * jnp.sum(wz, axis=-1)


def random_scalarisation(
    key: Key, objectives: ArrayLike, rho: float = 0.05
) -> jax.Array:
    """Augmented Chebyshev scalarisation with a random simplex weight.

    Args:
        key: PRNG key (draws the weight vector).
        objectives: ``float[P, K]``; each column is min-max normalised over
            the finite rows first.
        rho: Weight of the linear (augmentation) term.

    Returns:
        ``float[P]`` scalar targets to maximise (NaN rows stay NaN).
    """
    y = jnp.asarray(objectives)
    z = normalise(y, jnp.nanmin(y, axis=0), jnp.nanmax(y, axis=0))
    w = jax.random.dirichlet(key, jnp.ones(y.shape[1]))
    return chebyshev(z, w, rho)


def _segment(m, s, lo, hi, slope, offset):
    """``E[(slope * u + offset) 1{lo <= u < hi}]`` for ``u ~ N(m, s^2)``."""
    a, b = (lo - m) / s, (hi - m) / s
    phi_a = jnp.exp(-0.5 * a**2) / jnp.sqrt(2 * jnp.pi)
    phi_b = jnp.where(jnp.isinf(b), 0.0, jnp.exp(-0.5 * b**2) / jnp.sqrt(2 * jnp.pi))
    mass = ndtr(b) - ndtr(a)
    return (slope * m + offset) * mass + slope * s * (phi_a - phi_b)


def scalarised_expected_improvement(
    mean: ArrayLike,
    std: ArrayLike,
    known: ArrayLike,
    weights: ArrayLike,
    lo: ArrayLike,
    hi: ArrayLike,
    best: ArrayLike,
    rho: float = 0.05,
) -> jax.Array:
    """Exact EI of the augmented Chebyshev value when one objective is random.

    Objective 0 is ``f ~ N(mean, std^2)`` (a GP posterior); objectives
    ``1..K-1`` are ``known`` exactly. The scalarised value
    ``s(f) = chebyshev(normalise([f, known]), weights, rho)`` is the minimum
    of two increasing lines in ``f``, so ``E[max(s(f) - best, 0)]`` has a
    closed form (two truncated-normal segments).

    Args:
        mean: ``float[C]`` posterior means of objective 0.
        std: ``float[C]`` posterior standard deviations (``>= 0``).
        known: ``float[C, K-1]`` the other objectives (maximised).
        weights: ``float[K]`` non-negative weights.
        lo: ``float[K]`` normalisation lower bounds.
        hi: ``float[K]`` normalisation upper bounds.
        best: Incumbent scalarised value.
        rho: Augmentation weight (``> 0``).

    Returns:
        ``float[C]``, ``>= 0``; ``max(s(mean) - best, 0)`` where ``std -> 0``.
    """
    mean, std = jnp.asarray(mean), jnp.asarray(std)
    known = jnp.asarray(known).reshape(mean.shape[0], -1)
    w, lo, hi = jnp.asarray(weights), jnp.asarray(lo), jnp.asarray(hi)
    scale = jnp.where(hi[0] > lo[0], hi[0] - lo[0], 1.0)
    # u = w0 * (f - lo0) / scale ~ N(m, s^2): the weighted accuracy term.
    m = w[0] * (mean - lo[0]) / scale
    s = w[0] * std / scale
    wz = w[1:] * normalise(known, lo[1:], hi[1:])
    c = jnp.min(wz, axis=-1)  # the other terms of the min
    d = jnp.sum(wz, axis=-1)
    best = jnp.asarray(best)
    # s(u) - best = min((1 + rho) u + rho d - best, c + rho u + rho d - best).
    off1 = rho * d - best
    off2 = c + rho * d - best
    t1 = -off1 / (1.0 + rho)
    t2 = -off2 / rho
    t = jnp.where(t1 <= c, t1, t2)  # s(t) = best; s is strictly increasing
    small = s <= _TINY
    safe = jnp.where(small, 1.0, s)
    low = jnp.minimum(t, c)
    ei = _segment(m, safe, low, c, 1.0 + rho, off1) * (t < c)
    ei = ei + _segment(m, safe, jnp.maximum(t, c), jnp.inf, rho, off2)
    exact = jnp.minimum((1.0 + rho) * m + off1, rho * m + off2)
    return jnp.where(small, jnp.maximum(exact, 0.0), jnp.maximum(ei, 0.0))
