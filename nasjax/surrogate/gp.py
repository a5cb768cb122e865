"""GP fitting (MAP by L-BFGS or Adam, or NUTS) and the posterior ``GPState``.

All GP arithmetic runs in float64 inside ``jax.enable_x64(True)`` blocks, so
the global dtype configuration of the process is never changed; results
cross back to the caller as float32 arrays.

MAP minimises NumPyro's ``potential_energy`` of
:func:`~nasjax.surrogate.model.gp_model` (the negative log joint in the
unconstrained space, Jacobians included), so MAP and NUTS share one model.

* ``optimizer="lbfgs"`` (default): optax L-BFGS with a zoom line search and
  early termination (relative decrease or gradient norm below ``tol``), in
  two stages when there are more than ``subset`` observations. The
  ``n_restarts`` starts (one at ``init`` when given, one at the prior medians,
  the rest drawn around them; vmapped) are optimised on a random subset of
  ``subset`` observations for at most ``steps // 4`` iterations; the winner
  is then polished on all of them (at most ``steps`` iterations). A warm
  refit (``init`` = the previous round's MAP, ``n_restarts=1``) skips the
  first stage and usually stops after a few iterations.
* ``optimizer="adam"``: the original fixed-length Adam on all observations
  from every start (``steps`` steps, vmapped).

Above ``sparse_above`` observations the likelihood is Titsias' collapsed
variational bound with ``n_inducing`` inducing inputs (the best
observations, then farthest-point picks of the rest; see
:func:`inducing_points`), and the posterior is the matching sparse (VFE)
predictive: ``O(n m^2)`` time and ``O(n m)`` memory instead of ``O(n^3)`` /
``O(n^2)``.

Every jitted function sees padded shapes only (observations padded to powers
of two, at least 8, plus a few rows from 256 on: :func:`padded_rows`), so a
refit never recompiles for a given padded size. Each fit computes the
hyper-parameter-free kernel inputs once
(:func:`~nasjax.surrogate.model.kernel_cache`), and the likelihood's gradient
in the covariance is the closed form ``(alpha alpha^T - K^-1) / 2``.

Options for multi-fidelity searches and noisy targets: ``fidelity`` (the
training budget of each observation; the kernel gets a Matern factor over
``log2(budget / target budget)`` and predictions are made at the target
budget), ``noise_var`` (known per-observation noise variance, e.g. the fold
spread of a fitness, added to the learned homoscedastic noise).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
from flax import struct
from jax.typing import ArrayLike
from numpyro.infer import MCMC, NUTS
from numpyro.infer.util import potential_energy

from nasjax.graph.spec import bucket_size, pad_rows
from nasjax.surrogate.encode import Layout
from nasjax.surrogate.kernels import KernelParams, arch_kernel
from nasjax.surrogate.model import (
    FIDELITY_SITE,
    JITTER,
    SITES,
    GPPriors,
    covariance,
    gp_model,
    kernel_cache,
    sparse_terms,
)
from nasjax.typing import Key

MIN_PAD = 8

PAD_SKEW = 8
"""Rows added to power-of-two paddings of 256 rows and more (:func:`padded_rows`)."""

WARM_STEP = 0.1
"""First L-BFGS step length (unconstrained units) of a warm refit."""


class Hyper(NamedTuple):
    """Hyper-parameter samples, leading axis ``S`` (``S = 1`` for MAP).

    ``fidelity_lengthscale`` is None unless the GP was fitted with a
    fidelity.
    """

    amplitude: jax.Array
    lengthscale: jax.Array
    noise: jax.Array
    graph_weight: jax.Array
    fidelity_lengthscale: jax.Array | None = None

    def kernel(self) -> KernelParams:
        """The kernel part."""
        return KernelParams(
            self.amplitude, self.lengthscale, self.graph_weight,
            self.fidelity_lengthscale,
        )  # fmt: skip

    def to_host(self) -> dict[str, np.ndarray]:
        """The first sample as host ``float64`` arrays (a warm start ``init``)."""
        out = {k: np.asarray(getattr(self, k), np.float64)[0] for k in SITES}
        if self.fidelity_lengthscale is not None:
            out[FIDELITY_SITE] = np.asarray(self.fidelity_lengthscale, np.float64)[0]
        return out


@struct.dataclass
class GPState:
    """A fitted GP posterior (float64 leaves, padded to ``M`` rows).

    Attributes:
        x: ``float64[M, D]`` training encodings (``[M, D + 1]`` with the
            fidelity column).
        mask: ``bool[M]`` valid rows.
        y: ``float64[M]`` standardised targets (0 on padding).
        y_mean: ``float64[]`` target mean (original units).
        y_scale: ``float64[]`` target std (original units).
        hyper: ``Hyper`` with leading axis ``S``.
        chol: ``float64[S, M, M]`` Cholesky factors of ``K + noise I``
            (sparse: ``float64[S, m, m]`` factors of ``K_mm``).
        alpha: ``float64[S, M]`` ``(K + noise I)^-1 y`` (sparse:
            ``float64[S, m]`` weights of the inducing kernel columns).
        best: ``float64[]`` best observed target (original units).
        layout: Encoding layout (static).
        noise_obs: ``float64[M]`` known per-observation noise variance
            (standardised units), or None.
        inducing: ``float64[m, D]`` inducing inputs of a sparse posterior, or
            None (exact).
        chol_b: ``float64[S, m, m]`` Cholesky factors of ``I + A A^T``
            (sparse only).
        fidelity_target: Budget predictions are made at (static; None
            without fidelity).
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
    noise_obs: jax.Array | None = None
    inducing: jax.Array | None = None
    chol_b: jax.Array | None = None
    fidelity_target: float | None = struct.field(pytree_node=False, default=None)

    def replace(self, **changes: Any) -> GPState:
        """A copy with ``changes`` applied (out of place)."""
        return dataclasses.replace(self, **changes)

    @property
    def n_obs(self) -> int:
        """Number of valid observations."""
        return int(np.asarray(self.mask).sum())

    @property
    def sparse(self) -> bool:
        """Whether the posterior is the sparse (inducing-point) one."""
        return self.inducing is not None

    def inputs(self, encoded: ArrayLike, fidelity: float | None = None) -> np.ndarray:
        """``float64[C, D']``: encodings with the fidelity column if needed.

        Args:
            encoded: ``float[C, D]`` encodings.
            fidelity: Budget (default: ``fidelity_target``); ignored without
                fidelity.
        """
        enc = np.asarray(encoded, np.float64).reshape(-1, self.layout.dim)
        if self.fidelity_target is None:
            return enc
        b = self.fidelity_target if fidelity is None else fidelity
        col = np.full((len(enc), 1), np.log2(b / self.fidelity_target))
        return np.concatenate([enc, col], axis=1)

    def predict(
        self, encoded: ArrayLike, fidelity: float | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Posterior predictive of the latent objective at ``encoded``.

        With several hyper-parameter samples (NUTS) the mixture's mean and
        std are returned. The Cholesky factors of the state are reused (no
        ``O(n^3)`` work here).

        Args:
            encoded: ``float[C, D]`` candidate encodings.
            fidelity: Budget to predict at (default: the target budget);
                ignored without fidelity.

        Returns:
            ``(mean float32[C], std float32[C])`` in original target units.
        """
        with jax.enable_x64(True):
            xc = jnp.asarray(self.inputs(encoded, fidelity))
            mean, var = _predict_jit(self, xc)
            std = jnp.sqrt(jnp.maximum(var, 0.0))
            return mean.astype(jnp.float32), std.astype(jnp.float32)


def _posterior_one(hyper: Hyper, chol, alpha, chol_b, x, mask, z, xc, lay):
    """Standardised mean and variance of one hyper-parameter sample."""
    prior_var = hyper.amplitude  # every encoding has a non-empty WL part
    if z is None:
        kc = arch_kernel(hyper.kernel(), xc, x, lay)
        kc = jnp.where(mask[None, :], kc, 0.0)
        v = jax.scipy.linalg.solve_triangular(chol, kc.T, lower=True)
        var = prior_var - jnp.sum(v**2, axis=0)
    else:
        kc = arch_kernel(hyper.kernel(), xc, z, lay)
        v = jax.scipy.linalg.solve_triangular(chol, kc.T, lower=True)
        vb = jax.scipy.linalg.solve_triangular(chol_b, v, lower=True)
        var = prior_var - jnp.sum(v**2, axis=0) + jnp.sum(vb**2, axis=0)
    mean = kc @ alpha
    return mean, jnp.maximum(var, 1e-12)


@jax.jit
def _predict_jit(state: GPState, xc: jax.Array) -> tuple[jax.Array, jax.Array]:
    post = functools.partial(
        _posterior_one, x=state.x, mask=state.mask, z=state.inducing, xc=xc,
        lay=state.layout,
    )  # fmt: skip
    means, vars_ = jax.vmap(post)(state.hyper, state.chol, state.alpha, state.chol_b)
    mean = jnp.mean(means, 0)
    var = jnp.mean(vars_ + means**2, 0) - mean**2
    return state.y_mean + state.y_scale * mean, state.y_scale**2 * var


def _factorise(hyper: Hyper, x, y, mask, lay, noise_obs=None, inducing=None):
    """``(chol, alpha, chol_b)`` of one hyper-parameter sample (exact/sparse)."""
    if inducing is None:
        cov = covariance(hyper.kernel(), hyper.noise, x, mask, lay, noise_obs)
        chol = jnp.linalg.cholesky(cov)
        alpha = jax.scipy.linalg.cho_solve((chol, True), jnp.where(mask, y, 0.0))
        return chol, alpha, None
    lm, _, lb, c, _, _ = sparse_terms(
        hyper.kernel(), hyper.noise, x, y, mask, inducing, lay, noise_obs
    )
    t = jax.scipy.linalg.solve_triangular(lb.T, c, lower=False)
    alpha = jax.scipy.linalg.solve_triangular(lm.T, t, lower=False)
    return lm, alpha, lb


factorise_all = jax.jit(
    jax.vmap(_factorise, in_axes=(0, None, None, None, None, None, None)),
    static_argnums=4,
)
"""``_factorise`` vmapped over the hyper-parameter samples (jitted)."""


def padded_rows(n: int) -> int:
    """Rows the GP pads ``n`` observations to (few distinct shapes).

    The next power of two (at least ``MIN_PAD``), plus :data:`PAD_SKEW` from
    256 rows on: LAPACK factorises a matrix with a power-of-two leading
    dimension markedly slower (cache-set conflicts; 1,024 rows took 1.5x the
    time of 1,032 on the 2-core benchmark machine).
    """
    m = bucket_size(n, MIN_PAD)
    return m + PAD_SKEW if m >= 256 else m


def _pad(x: np.ndarray, y: np.ndarray, pad_to: int | None):
    n = len(y)
    m = padded_rows(n) if pad_to is None else pad_to
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


def _prior_init(
    key: Key, n_restarts: int, g: int, priors: GPPriors, fidelity: bool = False
) -> dict:
    """Unconstrained starts: restart 0 at the prior medians, others perturbed."""
    ks = jax.random.split(key, 5)
    first = (jnp.arange(n_restarts) > 0).astype(jnp.float64)

    def draw(k, loc, scale, shape=()):
        noise = jax.random.normal(k, (n_restarts, *shape), jnp.float64)
        f = first.reshape((n_restarts,) + (1,) * len(shape))
        return loc + scale * noise * f

    out = {
        "amplitude": draw(ks[0], *priors.amplitude),
        "lengthscale": draw(ks[1], *priors.lengthscale, shape=(g,)),
        "noise": draw(ks[2], *priors.noise),
        "graph_weight": draw(ks[3], 0.0, 1.0),
    }
    if fidelity:
        out[FIDELITY_SITE] = draw(ks[4], *priors.fidelity_lengthscale)
    return out


def _constrain(u: dict) -> Hyper:
    fl = u.get(FIDELITY_SITE)
    return Hyper(
        amplitude=jnp.exp(u["amplitude"]),
        lengthscale=jnp.exp(u["lengthscale"]),
        noise=jnp.exp(u["noise"]),
        graph_weight=jax.nn.sigmoid(u["graph_weight"]),
        fidelity_lengthscale=None if fl is None else jnp.exp(fl),
    )


def _unconstrain(init: Mapping[str, ArrayLike], g: int, priors: GPPriors, fid: bool):
    """Unconstrained ``init`` (one start); missing sites at the prior medians."""
    h = {k: np.asarray(v, np.float64) for k, v in init.items() if v is not None}
    w = float(np.clip(h["graph_weight"], 1e-6, 1 - 1e-6))
    u = {
        "amplitude": np.log(h["amplitude"]),
        "lengthscale": np.broadcast_to(np.log(h["lengthscale"]), (g,)),
        "noise": np.log(h["noise"]),
        "graph_weight": np.asarray(np.log(w / (1 - w))),
    }
    if fid:
        fl = h.get(FIDELITY_SITE)
        loc = priors.fidelity_lengthscale[0]
        u[FIDELITY_SITE] = np.asarray(loc) if fl is None else np.log(fl)
    return {k: jnp.asarray(v, jnp.float64) for k, v in u.items()}


def _lbfgs(fun_u, u0, max_iter: int, tol, step0=1.0):
    """Minimise ``fun_u`` from ``u0``: ``(u, value, iterations)``.

    ``step0`` is the length of the first step (L-BFGS has no curvature yet
    and takes a unit step along the gradient): the optimisation runs in
    ``v = (u - u0) / step0``, which leaves later steps unchanged (their scale
    comes from the curvature pairs) but spares a warm start, already near
    the optimum, the line-search trials of an overlong first step.
    """
    opt = optax.lbfgs()

    def fun(v):
        return fun_u(jax.tree.map(lambda a, b: a + step0 * b, u0, v))

    value_and_grad = optax.value_and_grad_from_state(fun)

    def step(carry):
        v, s, _ = carry
        value, g = value_and_grad(v, state=s)
        g = jax.tree.map(lambda t: jnp.where(jnp.isfinite(t), t, 0.0), g)
        upd, s = opt.update(g, s, v, value=value, grad=g, value_fn=fun)
        return optax.apply_updates(v, upd), s, value

    def going(carry):
        _, s, v_prev = carry
        it = otu.tree_get(s, "count")
        v = otu.tree_get(s, "value")
        gnorm = otu.tree_norm(otu.tree_get(s, "grad"))
        scale = 1.0 + jnp.abs(v)
        moving = ~(v_prev - v <= tol * scale) & (gnorm > tol * scale)
        return (it == 0) | ((it < max_iter) & moving & jnp.isfinite(v))

    v0 = jax.tree.map(jnp.zeros_like, u0)
    v, s, _ = jax.lax.while_loop(going, step, (v0, opt.init(v0), jnp.asarray(jnp.inf)))
    u = jax.tree.map(lambda a, b: a + step0 * b, u0, v)
    return u, otu.tree_get(s, "value"), otu.tree_get(s, "count")


def _adam(fun, u0, steps: int, lr):
    opt = optax.adam(lr)

    def step(carry, _):
        u, s = carry
        val, grad = jax.value_and_grad(fun)(u)
        grad = jax.tree.map(lambda g: jnp.where(jnp.isfinite(g), g, 0.0), grad)
        upd, s = opt.update(grad, s, u)
        return (optax.apply_updates(u, upd), s), val

    (u, _), _ = jax.lax.scan(step, (u0, opt.init(u0)), None, length=steps)
    return u, fun(u), jnp.asarray(steps)


@functools.partial(
    jax.jit, static_argnames=("lay", "priors", "n_restarts", "steps", "optimizer")
)
def _fit_map_jit(
    key, x, y, mask, noise_obs, inducing, u_init, lr, tol, max_iter, step0,
    *, lay, priors, n_restarts, steps, optimizer,
):  # fmt: skip
    """Multi-start MAP: ``(u of the best start, its potential, iterations)``.

    ``step0``: length of every start's first L-BFGS step (see ``_lbfgs``).
    """

    cache = kernel_cache(x, lay, inducing)  # once, shared by every start

    def pot(u):
        args = (x, y, mask, lay, priors, noise_obs, inducing, cache)
        return potential_energy(gp_model, args, {}, u)

    fid = x.shape[-1] > lay.dim
    u0 = _prior_init(key, n_restarts, len(lay.groups), priors, fid)
    if u_init is not None:  # the warm start first, then the prior starts
        u0 = jax.tree.map(
            lambda a, b: jnp.concatenate([b[None], a[: n_restarts - 1]]), u0, u_init
        )
    if optimizer == "lbfgs":
        us, pots, iters = jax.vmap(lambda u: _lbfgs(pot, u, max_iter, tol, step0))(u0)
    else:
        us, pots, iters = jax.vmap(lambda u: _adam(pot, u, steps, lr))(u0)
    pots = jnp.where(jnp.isfinite(pots), pots, jnp.inf)
    best = jnp.argmin(pots)
    return jax.tree.map(lambda v: v[best], us), pots[best], jnp.max(iters)


def inducing_points(x: np.ndarray, y: np.ndarray, m: int) -> np.ndarray:
    """Indices of ``m`` inducing inputs among ``n`` observations.

    The ``m // 8`` best observations first (the incumbent region, where the
    acquisition looks), then greedy farthest-point picks in encoding space
    (a cover of the rest; duplicates are never picked twice).

    Args:
        x: ``float[n, D]`` inputs.
        y: ``float[n]`` targets (maximised).
        m: Number wanted (``<= n``).

    Returns:
        ``int64[m]`` distinct row indices.
    """
    n = len(y)
    m = min(m, n)
    top = np.argsort(-y, kind="stable")[: max(1, m // 8)]
    chosen = list(top)
    d2 = np.full(n, np.inf)
    sq = np.sum(x**2, axis=1)
    for i in chosen:
        d2 = np.minimum(d2, sq - 2.0 * x @ x[i] + sq[i])
    d2[chosen] = -1.0
    while len(chosen) < m:
        i = int(np.argmax(d2))
        chosen.append(i)
        d2 = np.minimum(d2, sq - 2.0 * x @ x[i] + sq[i])
        d2[i] = -1.0
    return np.asarray(chosen, np.int64)


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
    optimizer: str = "lbfgs",
    tol: float = 1e-5,
    subset: int = 128,
    init: Hyper | Mapping[str, ArrayLike] | None = None,
    noise_var: ArrayLike | None = None,
    fidelity: ArrayLike | None = None,
    target_fidelity: float | None = None,
    sparse_above: int = 2048,
    n_inducing: int = 512,
) -> GPState:
    """Fit the GP to observations (NaN targets are dropped).

    Args:
        key: PRNG key (restart starts, subset, or NUTS).
        encoded: ``float[n, D]`` encodings of the evaluated archs.
        targets: ``float[n]`` fitness values (maximised); NaN = failed.
        lay: Encoding layout of the bucket.
        priors: Hyper-parameter priors (default :class:`GPPriors`).
        n_restarts: MAP starts (vmapped).
        steps: Most L-BFGS iterations (a quarter of them in the subset
            stage), or Adam steps.
        lr: Adam learning rate (unconstrained space; Adam only).
        method: ``"map"`` or ``"nuts"`` (predictions average the samples).
        num_warmup: NUTS warm-up steps.
        num_samples: NUTS samples kept.
        pad_to: Rows to pad to (default: :func:`padded_rows`).
        optimizer: ``"lbfgs"`` (default) or ``"adam"`` (MAP only).
        tol: L-BFGS stops when the relative decrease of the potential or the
            gradient norm (relative to ``1 + |potential|``) falls below it.
        subset: L-BFGS with more valid observations than this optimises the
            starts on a random subset of this size, then polishes the best
            on all observations.
        init: A previous MAP (``Hyper`` or :meth:`Hyper.to_host` mapping)
            used as the first start (warm start); with ``n_restarts=1`` the
            subset stage is skipped.
        noise_var: ``float[n]`` known noise variance of each target
            (original units; added to the learned noise), or None.
        fidelity: ``float[n]`` training budget of each observation (> 0),
            or None (all at one budget).
        target_fidelity: Budget the posterior predicts at (default: the
            largest budget observed).
        sparse_above: More valid observations than this switch to the
            sparse (VFE) GP.
        n_inducing: Inducing inputs of the sparse GP.

    Returns:
        The posterior ``GPState``.

    Raises:
        ValueError: With no finite target, an unknown method or optimizer,
            or invalid ``noise_var`` / ``fidelity``.
    """
    priors = GPPriors() if priors is None else priors
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    enc = np.asarray(encoded, np.float64).reshape(-1, lay.dim)
    tgt = np.asarray(targets, np.float64).reshape(-1)
    ok = np.isfinite(tgt)
    if not ok.any():
        raise ValueError("fit_gp needs at least one finite target")
    ys, y_mean, y_scale = _standardise(tgt[ok])
    fid_target = None
    if fidelity is not None:
        fid = np.asarray(fidelity, np.float64).reshape(-1)
        if fid.shape != tgt.shape or not np.all(fid[ok] > 0):
            raise ValueError("fidelity needs one budget > 0 per target")
        fid_target = float(
            np.max(fid[ok]) if target_fidelity is None else target_fidelity
        )
        enc = np.concatenate([enc, np.log2(fid / fid_target)[:, None]], axis=1)
    xv = enc[ok]
    n = len(ys)
    xp, yp, mp = _pad(xv, ys, pad_to)
    nop = None
    if noise_var is not None:
        nv = np.asarray(noise_var, np.float64).reshape(-1)
        if nv.shape != tgt.shape or not np.all(nv[ok] >= 0):
            raise ValueError("noise_var needs one variance >= 0 per target")
        nop = pad_rows(nv[ok] / y_scale**2, len(yp), fill=0.0, dtype=np.float64)
    sparse = n > sparse_above
    z = xv[inducing_points(xv, ys, n_inducing)] if sparse else None
    fid_on = fidelity is not None
    with jax.enable_x64(True):
        x, y, mask = jnp.asarray(xp), jnp.asarray(yp), jnp.asarray(mp)
        noise_obs = None if nop is None else jnp.asarray(nop)
        zj = None if z is None else jnp.asarray(z)
        u_init = None if init is None else _unconstrain(
            init.to_host() if isinstance(init, Hyper) else init,
            len(lay.groups), priors, fid_on,
        )  # fmt: skip
        if method == "map":
            hyper = _fit_map(
                key, x, y, mask, noise_obs, zj, u_init, n, priors=priors, lay=lay,
                n_restarts=n_restarts, steps=steps, lr=lr, tol=tol,
                optimizer=optimizer, subset=subset,
            )  # fmt: skip
        elif method == "nuts":
            mcmc = MCMC(
                NUTS(gp_model),
                num_warmup=num_warmup,
                num_samples=num_samples,
                progress_bar=False,
            )
            cache = jax.jit(kernel_cache, static_argnums=1)(x, lay, zj)
            mcmc.run(key, x, y, mask, lay, priors, noise_obs, zj, cache)
            s = mcmc.get_samples()
            fl = s.get(FIDELITY_SITE)
            hyper = Hyper(
                *(jnp.asarray(s[k], jnp.float64) for k in SITES),
                fidelity_lengthscale=None if fl is None else jnp.asarray(fl),
            )
        else:
            raise ValueError(f"method must be 'map' or 'nuts', got {method!r}")
        chol, alpha, chol_b = factorise_all(hyper, x, y, mask, lay, noise_obs, zj)
        return GPState(
            x=x, mask=mask, y=y,
            y_mean=jnp.asarray(y_mean), y_scale=jnp.asarray(y_scale),
            hyper=hyper, chol=chol, alpha=alpha,
            best=jnp.asarray(float(np.max(tgt[ok]))), layout=lay,
            noise_obs=noise_obs, inducing=zj, chol_b=chol_b,
            fidelity_target=fid_target,
        )  # fmt: skip


def _fit_map(
    key, x, y, mask, noise_obs, z, u_init, n, *, priors, lay, n_restarts, steps,
    lr, tol, optimizer, subset,
) -> Hyper:  # fmt: skip
    """The MAP ``Hyper`` (``S = 1``): one or two stages (module docstring)."""
    lr, tol = jnp.asarray(lr, jnp.float64), jnp.asarray(tol, jnp.float64)
    # L-BFGS: the iteration cap is traced (one executable for both stages).
    fit = functools.partial(
        _fit_map_jit, lay=lay, priors=priors, optimizer=optimizer,
        steps=steps if optimizer == "adam" else 0,
    )  # fmt: skip
    full = jnp.asarray(steps)
    k_sub, k_fit = jax.random.split(key)
    staged = optimizer == "lbfgs" and (n > subset or z is not None)
    warm = u_init is not None and n_restarts == 1
    if staged and not warm:
        rows = np.asarray(jax.random.permutation(k_sub, n))[: min(n, subset)]
        m = padded_rows(len(rows))
        sub_x = jnp.asarray(pad_rows(np.asarray(x)[rows], m, fill=0.0))
        sub_y = jnp.asarray(pad_rows(np.asarray(y)[rows], m, fill=0.0))
        sub_m = jnp.asarray(np.arange(m) < len(rows))
        sub_n = None
        if noise_obs is not None:
            sub_n = jnp.asarray(pad_rows(np.asarray(noise_obs)[rows], m, fill=0.0))
        u_init, _, _ = fit(
            k_fit, sub_x, sub_y, sub_m, sub_n, None, u_init, lr, tol,
            jnp.asarray(max(1, steps // 4)), jnp.asarray(1.0), n_restarts=n_restarts,
        )  # fmt: skip
        n_restarts = 1
    # A warm start is near the optimum: a short first step.
    step0 = jnp.asarray(WARM_STEP if warm else 1.0)
    u, _, _ = fit(
        k_fit, x, y, mask, noise_obs, z, u_init, lr, tol, full, step0,
        n_restarts=n_restarts,
    )  # fmt: skip
    return _constrain(jax.tree.map(lambda v: v[None], u))


def fit_compiles() -> int:
    """Number of compiled MAP-fit executables so far (for recompile checks)."""
    return getattr(_fit_map_jit, "_cache_size")()  # noqa: B009


__all__ = [
    "JITTER",
    "GPState",
    "Hyper",
    "factorise_all",
    "fit_compiles",
    "fit_gp",
    "inducing_points",
    "padded_rows",
]
