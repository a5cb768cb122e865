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

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from nasjax.surrogate.encode import Layout
from nasjax.surrogate.kernels import KernelParams, arch_kernel, arch_kernel_diag

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


def covariance(
    kp: KernelParams,
    noise: jax.Array,
    x: jax.Array,
    mask: jax.Array,
    lay: Layout,
    noise_obs: jax.Array | None = None,
) -> jax.Array:
    """``K + diag(noise + noise_obs)`` on valid rows, identity on padded rows.

    Args:
        kp: Kernel hyper-parameters.
        noise: ``float[]`` homoscedastic noise variance.
        x: ``float[M, D]`` (or ``[M, D + 1]`` with fidelity) padded inputs.
        mask: ``bool[M]`` valid rows.
        lay: Encoding layout (static).
        noise_obs: ``float[M]`` extra per-observation noise variance, or None.

    Returns:
        ``float[M, M]``.
    """
    both = mask[:, None] & mask[None, :]
    k = jnp.where(both, arch_kernel(kp, x, x, lay), 0.0)
    extra = 0.0 if noise_obs is None else noise_obs
    diag = jnp.where(mask, noise + extra + JITTER, 1.0)
    return k + jnp.diag(diag)


def masked_mvn_logpdf(y: jax.Array, cov: jax.Array, mask: jax.Array) -> jax.Array:
    """``log N(y[mask] | 0, cov[mask][:, mask])``; padded rows contribute 0."""
    y0 = jnp.where(mask, y, 0.0)
    chol = jnp.linalg.cholesky(cov)
    a = jax.scipy.linalg.solve_triangular(chol, y0, lower=True)
    n = jnp.sum(mask)
    return (
        -0.5 * jnp.sum(a**2)
        - jnp.sum(jnp.log(jnp.diag(chol)))
        - 0.5 * n * math.log(2.0 * math.pi)
    )


def inducing_chol(kp: KernelParams, z: jax.Array, lay: Layout) -> jax.Array:
    """Cholesky factor ``float[m, m]`` of ``K_mm + jitter I``."""
    kmm = arch_kernel(kp, z, z, lay)
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
) -> tuple[jax.Array, ...]:
    """Shared factors of the VFE bound and the sparse posterior.

    Returns:
        ``(lm [m, m], a [m, M], lb [m, m], c [m], lam [M], y0 [M])`` with
        ``lm = chol(K_mm)``, ``a = lm^-1 K_mn Lambda^-1/2``,
        ``lb = chol(I + a a^T)``, ``c = lb^-1 a Lambda^-1/2 y`` and
        ``y0 = Lambda^-1/2 y`` (0 on padding).
    """
    lm = inducing_chol(kp, z, lay)
    kmn = jnp.where(mask[None, :], arch_kernel(kp, z, x, lay), 0.0)
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

    Returns:
        ``float[]``.
    """
    _, a, lb, c, lam, y0 = sparse_terms(kp, noise, x, y, mask, z, lay, noise_obs)
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
        cov = covariance(kp, noise, x, mask, lay, noise_obs)
        numpyro.factor("y", masked_mvn_logpdf(y, cov, mask))
    else:
        numpyro.factor("y", vfe_logpdf(kp, noise, x, y, mask, inducing, lay, noise_obs))
