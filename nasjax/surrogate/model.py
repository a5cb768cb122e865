"""The NumPyro GP model over padded, masked observations (exact or sparse).

One model serves MAP and NUTS. Its likelihood factor is the exact marginal
likelihood, or, given inducing inputs, Titsias' (2009) collapsed variational
bound (VFE): ``log N(y | 0, Q + Lambda) - tr(Lambda^-1 (K - Q)) / 2`` with
``Q = K_nm K_mm^-1 K_mn``, ``O(n m^2)`` instead of ``O(n^3)``. With the
inducing inputs equal to the training inputs the bound is the exact marginal
likelihood.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from nasjax.surrogate.encode import Layout
from nasjax.surrogate.kernels import (
    KernelParams,
    Pairs,
    arch_kernel_diag,
    kernel,
    pairs,
)

JITTER = 1e-8
"""Added to the diagonal of every covariance matrix (standardised units)."""

INDUCING_JITTER = 1e-6
"""Added to the diagonal of ``K_mm`` (relative to the amplitude)."""


@dataclasses.dataclass(frozen=True)
class GPPriors:
    """LogNormal / Beta priors of the GP hyper-parameters (standardised targets).

    Attributes:
        amplitude: ``(loc, scale)`` of LogNormal on the signal variance.
        lengthscale: ``(loc, scale)`` of LogNormal on each group length-scale
            (median ``exp(loc)``; group distances are O(1)).
        noise: ``(loc, scale)`` of LogNormal on the noise variance
            (validation metrics are noisy: median 0.05 of the target variance).
        graph_weight: ``(a, b)`` of Beta on the WL kernel weight.
        fidelity_lengthscale: ``(loc, scale)`` of LogNormal on the length-scale
            over ``log2`` budgets (median 2 doublings); sampled only when the
            observations carry a fidelity.
    """

    amplitude: tuple[float, float] = (0.0, 1.0)
    lengthscale: tuple[float, float] = (0.0, 1.0)
    noise: tuple[float, float] = (math.log(0.05), 1.0)
    graph_weight: tuple[float, float] = (2.0, 2.0)
    fidelity_lengthscale: tuple[float, float] = (math.log(2.0), 1.0)


SITES: tuple[str, ...] = ("amplitude", "lengthscale", "noise", "graph_weight")
FIDELITY_SITE = "fidelity_lengthscale"


class KernelCache(NamedTuple):
    """Hyper-parameter-free kernel inputs of one fit (:func:`kernel_cache`).

    Attributes:
        xx: :class:`~nasjax.surrogate.kernels.Pairs` of the inputs with
            themselves (exact GP), or None.
        zz: Pairs of the inducing inputs with themselves (sparse GP), or None.
        zx: Pairs of the inducing inputs with the inputs (sparse GP), or None.
    """

    xx: Pairs | None = None
    zz: Pairs | None = None
    zx: Pairs | None = None


def kernel_cache(
    x: jax.Array, lay: Layout, inducing: jax.Array | None = None
) -> KernelCache:
    """What every likelihood evaluation of one fit shares (computed once).

    Args:
        x: ``float[M, D']`` padded inputs.
        lay: Encoding layout (static).
        inducing: ``float[m, D']`` inducing inputs (sparse GP), or None.

    Returns:
        ``KernelCache``: ``O(G M^2)`` (exact) or ``O(G m M)`` (sparse) memory.
    """
    if inducing is None:
        return KernelCache(xx=pairs(x, x, lay))
    return KernelCache(zz=pairs(inducing, inducing, lay), zx=pairs(inducing, x, lay))


def covariance(
    kp: KernelParams,
    noise: jax.Array,
    x: jax.Array,
    mask: jax.Array,
    lay: Layout,
    noise_obs: jax.Array | None = None,
    cached: Pairs | None = None,
) -> jax.Array:
    """``K + diag(noise + noise_obs)`` on valid rows, identity on padded rows.

    Args:
        kp: Kernel hyper-parameters.
        noise: ``float[]`` homoscedastic noise variance.
        x: ``float[M, D]`` (or ``[M, D + 1]`` with fidelity) padded inputs.
        mask: ``bool[M]`` valid rows.
        lay: Encoding layout (static).
        noise_obs: ``float[M]`` extra per-observation noise variance, or None.
        cached: ``pairs(x, x, lay)`` if already computed, or None.

    Returns:
        ``float[M, M]``.
    """
    both = mask[:, None] & mask[None, :]
    k = jnp.where(both, kernel(kp, x, x, lay, cached), 0.0)
    extra = 0.0 if noise_obs is None else noise_obs
    diag = jnp.where(mask, noise + extra + JITTER, 1.0)
    return k + jnp.diag(diag)


def masked_mvn_logpdf(y: jax.Array, cov: jax.Array, mask: jax.Array) -> jax.Array:
    """``log N(y[mask] | 0, cov[mask][:, mask])``; padded rows contribute 0.

    ``cov`` must be the identity on padded rows and columns (as
    :func:`covariance` builds it). Its gradient is the closed form
    ``(alpha alpha^T - cov^-1) / 2`` (:func:`_zero_mean_logpdf`), about half
    the work of differentiating through the Cholesky factorisation.
    """
    y0 = jnp.where(mask, y, 0.0)
    n_pad = jnp.sum(~mask)
    return _zero_mean_logpdf(y0, cov) + 0.5 * n_pad * math.log(2.0 * math.pi)


@jax.custom_vjp
def _zero_mean_logpdf(y: jax.Array, cov: jax.Array) -> jax.Array:
    """``log N(y | 0, cov)`` for ``y float[M]``, ``cov float[M, M]``."""
    return _zero_mean_logpdf_fwd(y, cov)[0]


def _zero_mean_logpdf_fwd(y: jax.Array, cov: jax.Array):
    chol = jnp.linalg.cholesky(cov)
    a = jax.scipy.linalg.solve_triangular(chol, y, lower=True)
    value = (
        -0.5 * jnp.sum(a**2)
        - jnp.sum(jnp.log(jnp.diag(chol)))
        - 0.5 * y.shape[0] * math.log(2.0 * math.pi)
    )
    alpha = jax.scipy.linalg.solve_triangular(chol.T, a, lower=False)
    return value, (chol, alpha)


def _zero_mean_logpdf_bwd(res, g):
    chol, alpha = res
    eye = jnp.eye(chol.shape[0], dtype=chol.dtype)
    # Symmetric: the transpose is the same matrix, in the layout of the
    # elementwise consumers (spares a transposing copy of the LAPACK result).
    cov_inv = jax.scipy.linalg.cho_solve((chol, True), eye).T
    d_cov = 0.5 * g * (jnp.outer(alpha, alpha) - cov_inv)
    return -g * alpha, d_cov


_zero_mean_logpdf.defvjp(_zero_mean_logpdf_fwd, _zero_mean_logpdf_bwd)


def inducing_chol(
    kp: KernelParams, z: jax.Array, lay: Layout, cached: Pairs | None = None
) -> jax.Array:
    """Cholesky factor ``float[m, m]`` of ``K_mm + jitter I``."""
    kmm = kernel(kp, z, z, lay, cached)
    eye = jnp.eye(z.shape[0], dtype=kmm.dtype)
    return jnp.linalg.cholesky(kmm + INDUCING_JITTER * kp.amplitude * eye)


def sparse_terms(
    kp: KernelParams,
    noise: jax.Array,
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    z: jax.Array,
    lay: Layout,
    noise_obs: jax.Array | None = None,
    cache: KernelCache | None = None,
) -> tuple[jax.Array, ...]:
    """Shared factors of the VFE bound and the sparse posterior.

    ``cache`` (:func:`kernel_cache` of ``x`` and ``z``) spares the kernel
    inputs; None computes them.

    Returns:
        ``(lm [m, m], a [m, M], lb [m, m], c [m], lam [M], y0 [M])`` with
        ``lm = chol(K_mm)``, ``a = lm^-1 K_mn Lambda^-1/2``,
        ``lb = chol(I + a a^T)``, ``c = lb^-1 a Lambda^-1/2 y`` and
        ``y0 = Lambda^-1/2 y`` (0 on padding).
    """
    zz = None if cache is None else cache.zz
    zx = None if cache is None else cache.zx
    lm = inducing_chol(kp, z, lay, zz)
    kmn = jnp.where(mask[None, :], kernel(kp, z, x, lay, zx), 0.0)
    extra = 0.0 if noise_obs is None else noise_obs
    lam = jnp.where(mask, noise + extra + JITTER, 1.0)
    s = 1.0 / jnp.sqrt(lam)
    a = jax.scipy.linalg.solve_triangular(lm, kmn, lower=True) * s[None, :]
    eye = jnp.eye(z.shape[0], dtype=a.dtype)
    lb = jnp.linalg.cholesky(eye + a @ a.T)
    y0 = jnp.where(mask, y, 0.0) * s
    c = jax.scipy.linalg.solve_triangular(lb, a @ y0, lower=True)
    return lm, a, lb, c, lam, y0


def vfe_logpdf(
    kp: KernelParams,
    noise: jax.Array,
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    z: jax.Array,
    lay: Layout,
    noise_obs: jax.Array | None = None,
    cache: KernelCache | None = None,
) -> jax.Array:
    """Titsias' collapsed bound on ``log p(y)``; padded rows contribute 0.

    Args:
        kp: Kernel hyper-parameters.
        noise: ``float[]`` homoscedastic noise variance.
        x: ``float[M, D']`` padded inputs.
        y: ``float[M]`` standardised targets.
        mask: ``bool[M]`` valid rows.
        z: ``float[m, D']`` inducing inputs.
        lay: Encoding layout (static).
        noise_obs: ``float[M]`` extra per-observation noise, or None.
        cache: :func:`kernel_cache` of ``x`` and ``z``, or None.

    Returns:
        ``float[]``.
    """
    _, a, lb, c, lam, y0 = sparse_terms(kp, noise, x, y, mask, z, lay, noise_obs, cache)
    n = jnp.sum(mask)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diag(lb))) + jnp.sum(
        jnp.where(mask, jnp.log(lam), 0.0)
    )
    quad = jnp.sum(y0**2) - jnp.sum(c**2)
    kdiag = arch_kernel_diag(kp, x, lay)
    qdiag = jnp.sum(a**2, axis=0) * lam
    trace = jnp.sum(jnp.where(mask, (kdiag - qdiag) / lam, 0.0))
    return -0.5 * (quad + logdet + trace + n * math.log(2.0 * math.pi))


def gp_model(
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    lay: Layout,
    priors: GPPriors,
    noise_obs: jax.Array | None = None,
    inducing: jax.Array | None = None,
    cache: KernelCache | None = None,
) -> None:
    """NumPyro model: priors on the hyper-parameters, GP likelihood of ``y``.

    Args:
        x: ``float64[M, D]`` encodings, padded to ``M``; ``[M, D + 1]`` with
            a fidelity column (then ``fidelity_lengthscale`` is sampled too).
        y: ``float64[M]`` standardised targets (padding ignored).
        mask: ``bool[M]`` valid observations.
        lay: Encoding layout (static).
        priors: Prior parameters (static).
        noise_obs: ``float64[M]`` known per-observation noise variance
            (standardised units) added to the learned noise, or None.
        inducing: ``float64[m, D]`` inducing inputs: the VFE bound replaces
            the exact likelihood; None for the exact GP.
        cache: :func:`kernel_cache` of ``x`` (and ``inducing``), computed
            once per fit so each likelihood evaluation costs ``O(G M^2)``
            kernel work instead of ``O(M^2 D)``; None computes it each time.
    """
    g = len(lay.groups)
    amp = numpyro.sample("amplitude", dist.LogNormal(*priors.amplitude))
    ls = numpyro.sample(
        "lengthscale", dist.LogNormal(*priors.lengthscale).expand([g]).to_event(1)
    )
    noise = numpyro.sample("noise", dist.LogNormal(*priors.noise))
    w = numpyro.sample("graph_weight", dist.Beta(*priors.graph_weight))
    fl = None
    if x.shape[-1] > lay.dim:
        fl = jnp.asarray(
            numpyro.sample(FIDELITY_SITE, dist.LogNormal(*priors.fidelity_lengthscale))
        )
    kp = KernelParams(jnp.asarray(amp), jnp.asarray(ls), jnp.asarray(w), fl)
    noise = jnp.asarray(noise)
    if inducing is None:
        xx = None if cache is None else cache.xx
        cov = covariance(kp, noise, x, mask, lay, noise_obs, xx)
        numpyro.factor("y", masked_mvn_logpdf(y, cov, mask))
    else:
        lp = vfe_logpdf(kp, noise, x, y, mask, inducing, lay, noise_obs, cache)
        numpyro.factor("y", lp)
