"""The NumPyro GP model over padded, masked observations."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from nasjax.surrogate.encode import Layout
from nasjax.surrogate.kernels import KernelParams, arch_kernel

JITTER = 1e-8
"""Added to the diagonal of every covariance matrix (standardised units)."""


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
    """

    amplitude: tuple[float, float] = (0.0, 1.0)
    lengthscale: tuple[float, float] = (0.0, 1.0)
    noise: tuple[float, float] = (math.log(0.05), 1.0)
    graph_weight: tuple[float, float] = (2.0, 2.0)


SITES: tuple[str, ...] = ("amplitude", "lengthscale", "noise", "graph_weight")


def covariance(
    kp: KernelParams, noise: jax.Array, x: jax.Array, mask: jax.Array, lay: Layout
) -> jax.Array:
    """``K + noise I`` on valid rows, identity on padded rows: ``float[M, M]``."""
    both = mask[:, None] & mask[None, :]
    k = jnp.where(both, arch_kernel(kp, x, x, lay), 0.0)
    diag = jnp.where(mask, noise + JITTER, 1.0)
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


def gp_model(
    x: jax.Array, y: jax.Array, mask: jax.Array, lay: Layout, priors: GPPriors
) -> None:
    """NumPyro model: priors on the hyper-parameters, GP likelihood of ``y``.

    Args:
        x: ``float64[M, D]`` encodings, padded to ``M``.
        y: ``float64[M]`` standardised targets (padding ignored).
        mask: ``bool[M]`` valid observations.
        lay: Encoding layout (static).
        priors: Prior parameters (static).
    """
    g = len(lay.groups)
    amp = numpyro.sample("amplitude", dist.LogNormal(*priors.amplitude))
    ls = numpyro.sample(
        "lengthscale", dist.LogNormal(*priors.lengthscale).expand([g]).to_event(1)
    )
    noise = numpyro.sample("noise", dist.LogNormal(*priors.noise))
    w = numpyro.sample("graph_weight", dist.Beta(*priors.graph_weight))
    kp = KernelParams(jnp.asarray(amp), jnp.asarray(ls), jnp.asarray(w))
    cov = covariance(kp, jnp.asarray(noise), x, mask, lay)
    numpyro.factor("y", masked_mvn_logpdf(y, cov, mask))
