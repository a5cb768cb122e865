"""Pending evaluations: the kriging believer (refit-free posterior update)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.graph.spec import bucket_size
from nasjax.surrogate.gp import GPState, _factorise

_factorise_all = jax.jit(
    jax.vmap(_factorise, in_axes=(0, None, None, None, None)), static_argnums=4
)


def repad(state: GPState, rows: int) -> GPState:
    """Re-pad ``state`` to at least ``rows`` rows (a power of two); exact."""
    m = bucket_size(rows, state.x.shape[0])
    if m == state.x.shape[0]:
        return state
    with jax.enable_x64(True):
        extra = m - state.x.shape[0]
        x = jnp.pad(state.x, ((0, extra), (0, 0)))
        y = jnp.pad(state.y, (0, extra))
        mask = jnp.pad(state.mask, (0, extra))
        chol, alpha = _factorise_all(state.hyper, x, y, mask, state.layout)
        return state.replace(x=x, y=y, mask=mask, chol=chol, alpha=alpha)


def kriging_believer(state: GPState, encoded_pending: jax.Array) -> GPState:
    """Condition the GP on pending points, believing their predicted mean.

    The hyper-parameters are kept (no refit): the pending points enter as
    observations equal to the current posterior mean, so the mean is unchanged
    and the variance shrinks around them; a batch then spreads out instead of
    piling onto one mode. Padding grows to the next power of two if needed.

    Args:
        state: A fitted GP.
        encoded_pending: ``float[P, D]`` encodings of pending archs.

    Returns:
        The conditioned ``GPState`` (``best`` is raised to the believed
        values when they exceed it).
    """
    enc = np.asarray(encoded_pending, np.float64).reshape(-1, state.x.shape[1])
    if len(enc) == 0:
        return state
    mean, _ = state.predict(enc)
    n = state.n_obs
    state = repad(state, n + len(enc))
    with jax.enable_x64(True):
        y_fake = (jnp.asarray(mean, jnp.float64) - state.y_mean) / state.y_scale
        x = np.array(state.x)
        y = np.array(state.y)
        mask = np.array(state.mask)
        free = np.flatnonzero(~mask)[: len(enc)]
        x[free] = enc
        y[free] = np.asarray(y_fake)
        mask[free] = True
        xj, yj, mj = jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask)
        chol, alpha = _factorise_all(state.hyper, xj, yj, mj, state.layout)
        best = jnp.maximum(state.best, jnp.max(jnp.asarray(mean, jnp.float64)))
        return state.replace(x=xj, y=yj, mask=mj, chol=chol, alpha=alpha, best=best)
