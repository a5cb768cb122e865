"""GP fitting (multi-restart MAP or NUTS) and the posterior ``GPState``.

All GP arithmetic runs in float64 inside ``jax.enable_x64(True)`` blocks, so
the global dtype configuration of the process is never changed; results
cross back to the caller as float32 arrays.

MAP: NumPyro's ``potential_energy`` of :func:`~nasjax.surrogate.model.gp_model`
(the negative log joint in the unconstrained space, Jacobians included) is
minimised with optax Adam from ``n_restarts`` starts (one at the prior
medians, the rest drawn around them), vmapped; the restart with the lowest
potential wins. This keeps one model definition for MAP and NUTS, and a
fixed-length ``lax.scan`` means a refit never recompiles for a given padded
size (observations are padded to powers of two, at least 8).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.typing import ArrayLike
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import potential_energy

from nasjax.graph.spec import bucket_size, pad_rows
from nasjax.surrogate.encode import Layout
from nasjax.surrogate.kernels import KernelParams, arch_kernel
from nasjax.surrogate.model import JITTER, SITES, GPPriors, covariance, gp_model
from nasjax.typing import Key

MIN_PAD = 8


class Hyper(NamedTuple):
    """Hyper-parameter samples, leading axis ``S`` (``S = 1`` for MAP)."""

    amplitude: jax.Array
    lengthscale: jax.Array
    noise: jax.Array
    graph_weight: jax.Array

    def kernel(self) -> KernelParams:
        """The kernel part."""
        return KernelParams(self.amplitude, self.lengthscale, self.graph_weight)


@struct.dataclass
class GPState:
    """A fitted GP posterior (float64 leaves, padded to ``M`` rows).

    Attributes:
        x: ``float64[M, D]`` training encodings.
        mask: ``bool[M]`` valid rows.
        y: ``float64[M]`` standardised targets (0 on padding).
        y_mean: ``float64[]`` target mean (original units).
        y_scale: ``float64[]`` target std (original units).
        hyper: ``Hyper`` with leading axis ``S``.
        chol: ``float64[S, M, M]`` Cholesky factors of ``K + noise I``.
        alpha: ``float64[S, M]`` ``(K + noise I)^-1 y``.
        best: ``float64[]`` best observed target (original units).
        layout: Encoding layout (static).
    """

    x: jax.Array
    mask: jax.Array
    y: jax.Array
    y_mean: jax.Array
    y_scale: jax.Array
    hyper: Hyper
    chol: jax.Array
    alpha: jax.Array
    best: jax.Array
    layout: Layout = struct.field(pytree_node=False)

    def replace(self, **changes: Any) -> GPState:
        """A copy with ``changes`` applied (out of place)."""
        return dataclasses.replace(self, **changes)

    @property
    def n_obs(self) -> int:
        """Number of valid observations."""
        return int(np.asarray(self.mask).sum())

    def predict(self, encoded: ArrayLike) -> tuple[jax.Array, jax.Array]:
        """Posterior predictive of the latent objective at ``encoded``.

        With several hyper-parameter samples (NUTS) the mixture's mean and
        std are returned.

        Args:
            encoded: ``float[C, D]`` candidate encodings.

        Returns:
            ``(mean float32[C], std float32[C])`` in original target units.
        """
        with jax.enable_x64(True):
            mean, var = _predict_jit(self, jnp.asarray(encoded, jnp.float64))
            std = jnp.sqrt(jnp.maximum(var, 0.0))
            return mean.astype(jnp.float32), std.astype(jnp.float32)


def _posterior_one(hyper: Hyper, chol, alpha, x, mask, xc, lay):
    """Standardised mean and variance of one hyper-parameter sample."""
    kc = arch_kernel(hyper.kernel(), xc, x, lay)
    kc = jnp.where(mask[None, :], kc, 0.0)
    mean = kc @ alpha
    v = jax.scipy.linalg.solve_triangular(chol, kc.T, lower=True)
    prior_var = hyper.amplitude  # every encoding has a non-empty WL part
    var = prior_var - jnp.sum(v**2, axis=0)
    return mean, jnp.maximum(var, 1e-12)


@jax.jit
def _predict_jit(state: GPState, xc: jax.Array) -> tuple[jax.Array, jax.Array]:
    post = functools.partial(
        _posterior_one, x=state.x, mask=state.mask, xc=xc, lay=state.layout
    )
    means, vars_ = jax.vmap(post)(state.hyper, state.chol, state.alpha)
    mean = jnp.mean(means, 0)
    var = jnp.mean(vars_ + means**2, 0) - mean**2
    return state.y_mean + state.y_scale * mean, state.y_scale**2 * var


def _factorise(hyper: Hyper, x, y, mask, lay):
    cov = covariance(hyper.kernel(), hyper.noise, x, mask, lay)
    chol = jnp.linalg.cholesky(cov)
    alpha = jax.scipy.linalg.cho_solve((chol, True), jnp.where(mask, y, 0.0))
    return chol, alpha


def _pad(x: np.ndarray, y: np.ndarray, pad_to: int | None):
    n = len(y)
    m = bucket_size(n, MIN_PAD) if pad_to is None else pad_to
    if m < n:
        raise ValueError(f"pad_to={m} is smaller than the {n} observations")
    xp = pad_rows(x, m, fill=0.0, dtype=np.float64)
    yp = pad_rows(y, m, fill=0.0, dtype=np.float64)
    return xp, yp, np.arange(m) < n


def _standardise(y: np.ndarray) -> tuple[np.ndarray, float, float]:
    mean = float(np.mean(y))
    scale = float(np.std(y)) if len(y) > 1 else 1.0
    scale = scale if scale > 1e-9 else 1.0
    return (y - mean) / scale, mean, scale


def _prior_init(key: Key, n_restarts: int, g: int, priors: GPPriors) -> dict:
    """Unconstrained starts: restart 0 at the prior medians, others perturbed."""
    ks = jax.random.split(key, 4)
    first = (jnp.arange(n_restarts) > 0).astype(jnp.float64)

    def draw(k, loc, scale, shape=()):
        noise = jax.random.normal(k, (n_restarts, *shape), jnp.float64)
        f = first.reshape((n_restarts,) + (1,) * len(shape))
        return loc + scale * noise * f

    return {
        "amplitude": draw(ks[0], *priors.amplitude),
        "lengthscale": draw(ks[1], *priors.lengthscale, shape=(g,)),
        "noise": draw(ks[2], *priors.noise),
        "graph_weight": draw(ks[3], 0.0, 1.0),
    }


def _constrain(u: dict) -> Hyper:
    return Hyper(
        amplitude=jnp.exp(u["amplitude"]),
        lengthscale=jnp.exp(u["lengthscale"]),
        noise=jnp.exp(u["noise"]),
        graph_weight=jax.nn.sigmoid(u["graph_weight"]),
    )


@functools.partial(jax.jit, static_argnames=("lay", "priors", "n_restarts", "steps"))
def _fit_map_jit(key, x, y, mask, *, lay, priors, n_restarts, steps, lr):
    def pot(u):
        return potential_energy(gp_model, (x, y, mask, lay, priors), {}, u)

    opt = optax.adam(lr)
    u0 = _prior_init(key, n_restarts, len(lay.groups), priors)

    def run(u):
        def step(carry, _):
            u, s = carry
            val, grad = jax.value_and_grad(pot)(u)
            grad = jax.tree.map(lambda g: jnp.where(jnp.isfinite(g), g, 0.0), grad)
            upd, s = opt.update(grad, s, u)
            return (optax.apply_updates(u, upd), s), val

        (u, _), _ = jax.lax.scan(step, (u, opt.init(u)), None, length=steps)
        return u, pot(u)

    us, pots = jax.vmap(run)(u0)
    pots = jnp.where(jnp.isfinite(pots), pots, jnp.inf)
    best = jnp.argmin(pots)
    u = jax.tree.map(lambda v: v[best][None], us)
    hyper = _constrain(u)
    chol, alpha = jax.vmap(lambda h: _factorise(h, x, y, mask, lay))(hyper)
    return hyper, chol, alpha, pots


def fit_gp(
    key: Key,
    encoded: jax.Array,
    targets: jax.Array,
    lay: Layout,
    *,
    priors: GPPriors | None = None,
    n_restarts: int = 8,
    steps: int = 200,
    lr: float = 0.05,
    method: str = "map",
    num_warmup: int = 200,
    num_samples: int = 100,
    pad_to: int | None = None,
) -> GPState:
    """Fit the GP to observations (NaN targets are dropped).

    Args:
        key: PRNG key (restart starts, or NUTS).
        encoded: ``float[n, D]`` encodings of the evaluated archs.
        targets: ``float[n]`` fitness values (maximised); NaN = failed.
        lay: Encoding layout of the bucket.
        priors: Hyper-parameter priors (default :class:`GPPriors`).
        n_restarts: MAP restarts (vmapped).
        steps: Adam steps per restart.
        lr: Adam learning rate (unconstrained space).
        method: ``"map"`` or ``"nuts"`` (predictions average the samples).
        num_warmup: NUTS warm-up steps.
        num_samples: NUTS samples kept.
        pad_to: Rows to pad to (default: next power of two, at least 8).

    Returns:
        The posterior ``GPState``.

    Raises:
        ValueError: With no finite target, or an unknown method.
    """
    priors = GPPriors() if priors is None else priors
    enc = np.asarray(encoded, np.float64)
    tgt = np.asarray(targets, np.float64)
    ok = np.isfinite(tgt)
    if not ok.any():
        raise ValueError("fit_gp needs at least one finite target")
    ys, y_mean, y_scale = _standardise(tgt[ok])
    xp, yp, mp = _pad(enc[ok], ys, pad_to)
    with jax.enable_x64(True):
        x, y, mask = jnp.asarray(xp), jnp.asarray(yp), jnp.asarray(mp)
        if method == "map":
            hyper, chol, alpha, _ = _fit_map_jit(
                key, x, y, mask, lay=lay, priors=priors,
                n_restarts=n_restarts, steps=steps, lr=lr,
            )  # fmt: skip
        elif method == "nuts":
            mcmc = MCMC(
                NUTS(gp_model),
                num_warmup=num_warmup,
                num_samples=num_samples,
                progress_bar=False,
            )
            mcmc.run(key, x, y, mask, lay, priors)
            s = mcmc.get_samples()
            hyper = Hyper(*(jnp.asarray(s[k], jnp.float64) for k in SITES))
            chol, alpha = jax.vmap(lambda h: _factorise(h, x, y, mask, lay))(hyper)
        else:
            raise ValueError(f"method must be 'map' or 'nuts', got {method!r}")
        return GPState(
            x=x, mask=mask, y=y,
            y_mean=jnp.asarray(y_mean), y_scale=jnp.asarray(y_scale),
            hyper=hyper, chol=chol, alpha=alpha,
            best=jnp.asarray(float(np.max(tgt[ok]))), layout=lay,
        )  # fmt: skip


def fit_compiles() -> int:
    """Number of compiled MAP-fit executables so far (for recompile checks)."""
    return getattr(_fit_map_jit, "_cache_size")()  # noqa: B009


__all__ = ["JITTER", "GPState", "Hyper", "fit_compiles", "fit_gp"]
