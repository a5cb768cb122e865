"""Multi-objective helpers: Pareto fronts and random scalarisation (ParEGO).

Objectives are maximised (pass ``-param_count`` to minimise size). A random
augmented Chebyshev scalarisation turns ``K`` objectives into one target per
round, so the single-objective GP and EI can trace the front over rounds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from nasjax.typing import Key


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
    lo = jnp.nanmin(y, axis=0)
    hi = jnp.nanmax(y, axis=0)
    z = (y - lo) / jnp.where(hi > lo, hi - lo, 1.0)
    w = jax.random.dirichlet(key, jnp.ones(y.shape[1]))
    return jnp.min(w * z, axis=1) + rho * jnp.sum(w * z, axis=1)
