"""Positive-definite kernels on architecture encodings.

``arch_kernel = amplitude * ((1 - w) * Matern52(grouped ARD) + w * cosine(WL))``:
a convex combination (``w`` in ``(0, 1)``) of two PSD kernels, scaled by a
positive amplitude, hence PSD. The Matern part sees ops, widths, conv
hyper-parameters, edges and global shape (one length-scale per group, so
widths are never ignored as in AutoKeras); the cosine kernel on the WL
histogram matches graphs up to node permutation.

Fidelity (optional): an input with one column more than the layout
(``x[..., lay.dim]`` = ``log2(budget / target budget)``, see
:func:`nasjax.surrogate.gp.fit_gp`) multiplies the kernel by a Matern-5/2 in
that column with its own length-scale (a product of PSD kernels is PSD), so
scores at different training budgets are correlated but not equal.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nasjax.surrogate.encode import Layout


class KernelParams(NamedTuple):
    """Kernel hyper-parameters (constrained values).

    Attributes:
        amplitude: ``float[]`` > 0, prior variance of standardised targets.
        lengthscale: ``float[G]`` > 0, one per Matern group.
        graph_weight: ``float[]`` in ``(0, 1)``, weight of the WL kernel.
        fidelity_lengthscale: ``float[]`` > 0, length-scale over the fidelity
            column (in doublings of the budget); None without fidelity.
    """

    amplitude: jax.Array
    lengthscale: jax.Array
    graph_weight: jax.Array
    fidelity_lengthscale: jax.Array | None = None


def _scaled(x: jax.Array, lay: Layout, lengthscale: jax.Array) -> jax.Array:
    parts = [x[..., a:b] / lengthscale[g] for g, (a, b) in enumerate(lay.groups)]
    return jnp.concatenate(parts, axis=-1)


def matern52(r: jax.Array) -> jax.Array:
    """Matern-5/2 profile of a (scaled) distance ``r >= 0``."""
    s = math.sqrt(5.0) * r
    return (1.0 + s + s**2 / 3.0) * jnp.exp(-s)


def _sq_dist(a: jax.Array, b: jax.Array) -> jax.Array:
    d2 = jnp.sum(a**2, -1)[:, None] + jnp.sum(b**2, -1)[None, :] - 2.0 * a @ b.T
    return jnp.maximum(d2, 0.0)


def _matern_distance(sq: jax.Array) -> jax.Array:
    """Scaled distance from a squared one (finite gradient at 0)."""
    # Exact zero distance on the diagonal of K(x, x) keeps d/dr finite.
    return jnp.maximum(jnp.sqrt(sq + 1e-12) - 1e-6, 0.0)


def _unit(v: jax.Array) -> jax.Array:
    norm = jnp.sqrt(jnp.sum(v**2, -1, keepdims=True))
    return v / jnp.maximum(norm, 1e-12)


def arch_kernel(
    params: KernelParams, xa: jax.Array, xb: jax.Array, lay: Layout
) -> jax.Array:
    """Cross-covariance matrix between two sets of encodings.

    Args:
        params: Kernel hyper-parameters.
        xa: ``float[A, D]`` encodings (``float[A, D + 1]`` with a fidelity
            column).
        xb: ``float[B, D]`` encodings (idem).
        lay: The encoding layout (static).

    Returns:
        ``float[A, B]``.
    """
    sa, sb = _scaled(xa, lay, params.lengthscale), _scaled(xb, lay, params.lengthscale)
    k_m = matern52(_matern_distance(_sq_dist(sa, sb)))
    k_g = _graph_cosine(xa, xb, lay)
    w = params.graph_weight
    k = params.amplitude * ((1.0 - w) * k_m + w * k_g)
    return k * fidelity_factor(params, xa, xb, lay)


def _graph_cosine(xa: jax.Array, xb: jax.Array, lay: Layout) -> jax.Array:
    wa = _unit(xa[..., lay.wl[0] : lay.wl[1]])
    wb = _unit(xb[..., lay.wl[0] : lay.wl[1]])
    return wa @ wb.T


class Pairs(NamedTuple):
    """The hyper-parameter-free inputs of :func:`arch_kernel` for two sets.

    Attributes:
        sq_dist: ``float[G, A, B]`` squared Euclidean distance of each Matern
            group (unscaled).
        graph: ``float[A, B]`` cosine similarity of the WL histograms.
        fidelity: ``float[A, B]`` absolute differences of the fidelity
            column, or None without one.
    """

    sq_dist: jax.Array
    graph: jax.Array
    fidelity: jax.Array | None = None


def pairs(xa: jax.Array, xb: jax.Array, lay: Layout) -> Pairs:
    """Precompute the kernel inputs of ``xa`` against ``xb`` (see module doc).

    Args:
        xa: ``float[A, D]`` encodings (``[A, D + 1]`` with a fidelity column).
        xb: ``float[B, D]`` encodings (idem).
        lay: The encoding layout (static).

    Returns:
        :class:`Pairs` (``O(G A B)`` memory).
    """
    sq = jnp.stack([_sq_dist(xa[..., a:b], xb[..., a:b]) for a, b in lay.groups])
    fid = _fidelity_distance(xa, xb, lay) if xa.shape[-1] > lay.dim else None
    return Pairs(sq, _graph_cosine(xa, xb, lay), fid)


def kernel_from_pairs(params: KernelParams, p: Pairs) -> jax.Array:
    """``float[A, B]``: :func:`arch_kernel` from precomputed :class:`Pairs`."""
    inv = 1.0 / params.lengthscale**2
    k_m = matern52(_matern_distance(jnp.tensordot(inv, p.sq_dist, axes=1)))
    w = params.graph_weight
    k = params.amplitude * ((1.0 - w) * k_m + w * p.graph)
    if p.fidelity is None or params.fidelity_lengthscale is None:
        return k
    return k * matern52(p.fidelity / params.fidelity_lengthscale)


def kernel(
    params: KernelParams,
    xa: jax.Array,
    xb: jax.Array,
    lay: Layout,
    cached: Pairs | None = None,
) -> jax.Array:
    """``float[A, B]``: :func:`arch_kernel`, from ``cached`` (``pairs(xa, xb,
    lay)``) when given."""
    if cached is None:
        return arch_kernel(params, xa, xb, lay)
    return kernel_from_pairs(params, cached)


def _fidelity_distance(xa: jax.Array, xb: jax.Array, lay: Layout) -> jax.Array:
    """``float[A, B]`` absolute differences of the fidelity columns."""
    return jnp.abs(xa[..., lay.dim][:, None] - xb[..., lay.dim][None, :])


def fidelity_factor(
    params: KernelParams, xa: jax.Array, xb: jax.Array, lay: Layout
) -> jax.Array | float:
    """``float[A, B]`` Matern-5/2 over the fidelity column, or 1 without one."""
    if xa.shape[-1] <= lay.dim or params.fidelity_lengthscale is None:
        return 1.0
    return matern52(_fidelity_distance(xa, xb, lay) / params.fidelity_lengthscale)


def arch_kernel_diag(params: KernelParams, x: jax.Array, lay: Layout) -> jax.Array:
    """``float[A]``: the diagonal of ``arch_kernel(params, x, x)``."""
    wl = x[..., lay.wl[0] : lay.wl[1]]
    has_wl = (jnp.sum(wl**2, -1) > 0).astype(x.dtype)
    w = params.graph_weight
    return params.amplitude * ((1.0 - w) + w * has_wl)
