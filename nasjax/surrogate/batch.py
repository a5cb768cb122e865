"""Pending evaluations: the kriging believer (refit-free posterior update).

An exact posterior grows by a block Cholesky update (``O(M^2 P)`` for ``P``
new rows instead of a new ``O(M^3)`` factorisation): the valid rows of a
``GPState`` are a prefix and the padded rows an identity block, so the new
rows' factor is ``[L21, L22]`` with ``L21 = K21 L11^-T`` and
``L22 = chol(K22 - L21 L21^T)``. A sparse posterior is refactorised
(``O(n m^2)``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.surrogate.encode import Layout
from nasjax.surrogate.gp import GPState, Hyper, factorise_all, padded_rows
from nasjax.surrogate.kernels import arch_kernel
from nasjax.surrogate.model import JITTER


def repad(state: GPState, rows: int) -> GPState:
    """Re-pad ``state`` to hold ``rows`` rows (:func:`padded_rows`); exact."""
    if rows <= state.x.shape[0]:
        return state
    m = padded_rows(rows)
    with jax.enable_x64(True):
        extra = m - state.x.shape[0]
        x = jnp.pad(state.x, ((0, extra), (0, 0)))
        y = jnp.pad(state.y, (0, extra))
        mask = jnp.pad(state.mask, (0, extra))
        nobs = None if state.noise_obs is None else jnp.pad(state.noise_obs, (0, extra))
        chol, alpha, chol_b = factorise_all(
            state.hyper, x, y, mask, state.layout, nobs, state.inducing
        )
        return state.replace(
            x=x, y=y, mask=mask, noise_obs=nobs, chol=chol, alpha=alpha, chol_b=chol_b
        )


def _append_one(hyper: Hyper, chol, x, y, mask, noise_obs, start, lay, p):
    """Factor and weights after rows ``start .. start + p`` became valid."""
    kp = hyper.kernel()
    xn = jax.lax.dynamic_slice_in_dim(x, start, p)
    old = mask & (jnp.arange(x.shape[0]) < start)
    k21 = jnp.where(old[None, :], arch_kernel(kp, xn, x, lay), 0.0)
    l21 = jax.scipy.linalg.solve_triangular(chol, k21.T, lower=True).T
    extra = (
        0.0 if noise_obs is None else jax.lax.dynamic_slice_in_dim(noise_obs, start, p)
    )
    k22 = arch_kernel(kp, xn, xn, lay) + jnp.diag(
        jnp.broadcast_to(hyper.noise + extra + JITTER, (p,))
    )
    l22 = jnp.linalg.cholesky(k22 - l21 @ l21.T)
    chol = jax.lax.dynamic_update_slice(chol, l21, (start, 0))
    chol = jax.lax.dynamic_update_slice(chol, l22, (start, start))
    alpha = jax.scipy.linalg.cho_solve((chol, True), jnp.where(mask, y, 0.0))
    return chol, alpha


@functools.partial(jax.jit, static_argnames=("lay", "p"))
def _append(hyper, chol, x, y, mask, noise_obs, start, *, lay: Layout, p: int):
    one = functools.partial(
        _append_one, x=x, y=y, mask=mask, noise_obs=noise_obs, start=start,
        lay=lay, p=p,
    )  # fmt: skip
    return jax.vmap(one)(hyper, chol)


def kriging_believer(state: GPState, encoded_pending: jax.Array) -> GPState:
    """Condition the GP on pending points, believing their predicted mean.

    The hyper-parameters are kept (no refit): the pending points enter as
    observations equal to the current posterior mean (at the target
    fidelity, without known extra noise), so the mean is unchanged and the
    variance shrinks around them; a batch then spreads out instead of piling
    onto one mode. Padding grows (:func:`~nasjax.surrogate.gp.padded_rows`) if needed.

    Args:
        state: A fitted GP.
        encoded_pending: ``float[P, D]`` encodings of pending archs.

    Returns:
        The conditioned ``GPState`` (``best`` is raised to the believed
        values when they exceed it).
    """
    enc = np.asarray(encoded_pending, np.float64).reshape(-1, state.layout.dim)
    if len(enc) == 0:
        return state
    mean, _ = state.predict(enc)
    xin = state.inputs(enc)
    n = state.n_obs
    state = repad(state, n + len(enc))
    with jax.enable_x64(True):
        y_fake = (jnp.asarray(mean, jnp.float64) - state.y_mean) / state.y_scale
        x = np.array(state.x)
        y = np.array(state.y)
        mask = np.array(state.mask)
        free = np.flatnonzero(~mask)[: len(enc)]
        x[free] = xin
        y[free] = np.asarray(y_fake)
        mask[free] = True
        xj, yj, mj = jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask)
        best = jnp.maximum(state.best, jnp.max(jnp.asarray(mean, jnp.float64)))
        contiguous = free[0] == n and np.array_equal(free, np.arange(n, n + len(enc)))
        if state.sparse or not contiguous:
            chol, alpha, chol_b = factorise_all(
                state.hyper, xj, yj, mj, state.layout, state.noise_obs, state.inducing
            )
            return state.replace(
                x=xj, y=yj, mask=mj, chol=chol, alpha=alpha, chol_b=chol_b, best=best
            )
        chol, alpha = _append(
            state.hyper, state.chol, xj, yj, mj, state.noise_obs,
            jnp.asarray(n), lay=state.layout, p=len(enc),
        )  # fmt: skip
        return state.replace(x=xj, y=yj, mask=mj, chol=chol, alpha=alpha, best=best)
