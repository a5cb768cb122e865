"""MiniRocket: random-dilation convolution features + a ridge classifier.

Dempster, Schmidt & Webb (2021), "MiniRocket: a very fast (almost)
deterministic transform for time series classification". Each of the 84
kernels of length 9 has weight -1 everywhere but +2 at three positions (the
84 ways to choose three of nine); every kernel is applied at a fixed set of
dilations (exponentially spaced up to ``(length - 1) / 8``), and each
(kernel, dilation) output gives the proportion of its values above a few
biases (PPV), the biases being quantiles of that output on a random TRAIN
instance. Padding alternates between (kernel, dilation) pairs. With several
channels each (kernel, dilation) pair sums the convolutions of a random
subset of channels (MiniRocket's multivariate variant). A ridge classifier
with its penalty chosen by leave-one-out cross-validation (scikit-learn's
``RidgeClassifierCV``) reads the standardised features.

Class probabilities come from the ridge scores with one temperature,
``softmax(tau * score)``, fitted on the ridge's own **leave-one-out** scores
of the training instances, so no held-out instance is spent on calibration.

The transform is computed with JAX (a weight of -1 on all nine taps plus
+3 on the chosen three: ``C = -sum_j x_j + 3 (x_a + x_b + x_c)``), in chunks
of instances so that memory stays bounded.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import softmax
from sklearn.linear_model import RidgeClassifierCV
from sklearn.preprocessing import StandardScaler

KERNEL_LENGTH: int = 9
TRIPLES: np.ndarray = np.asarray(list(itertools.combinations(range(9), 3)), np.int32)
"""``int32[84, 3]`` the taps with weight +2 of each kernel."""

N_KERNELS: int = len(TRIPLES)
ALPHAS: np.ndarray = np.logspace(-3, 3, 10)
"""Ridge penalties tried by leave-one-out cross-validation."""

_GOLDEN = (np.sqrt(5.0) + 1.0) / 2.0


@dataclasses.dataclass(frozen=True)
class MiniRocket:
    """A fitted MiniRocket transform.

    Attributes:
        length: Series length it was fitted for.
        dilations: ``int[D]`` dilations.
        n_per: ``int[D]`` features per kernel at each dilation.
        biases: Per dilation, ``float32[84, n_per[d]]`` the biases.
        channels: Per dilation, ``float32[84, F]`` 1 where the kernel sums
            that channel.
    """

    length: int
    dilations: tuple[int, ...]
    n_per: tuple[int, ...]
    biases: tuple[np.ndarray, ...]
    channels: tuple[np.ndarray, ...]

    @property
    def n_features(self) -> int:
        """Features per instance (``84 * sum(n_per)``)."""
        return N_KERNELS * int(sum(self.n_per))


def fit_dilations(length: int, n_features: int, max_dilations: int = 32):
    """``(dilations int[D], features per kernel per dilation int[D])`` as
    MiniRocket spaces them for a series of ``length`` steps."""
    per_kernel = max(n_features // N_KERNELS, 1)
    n_dil = min(per_kernel, max_dilations)
    multiplier = per_kernel / n_dil
    top = np.log2(max(length - 1, 1) / (KERNEL_LENGTH - 1))
    raw = np.logspace(0, max(top, 0.0), n_dil, base=2).astype(np.int32)
    dilations, counts = np.unique(raw, return_counts=True)
    n_per = (counts * multiplier).astype(np.int32)
    i = 0
    while n_per.sum() < per_kernel:
        n_per[i % len(n_per)] += 1
        i += 1
    return dilations, n_per


def _quantiles(n: int) -> np.ndarray:
    """The low-discrepancy quantiles ``(k * golden ratio) mod 1``, k = 1..n."""
    return (np.arange(1, n + 1) * _GOLDEN) % 1.0


@functools.partial(jax.jit, static_argnums=1)
def _conv(x: jax.Array, dilation: int, channels: jax.Array) -> jax.Array:
    """``float32[n, L, 84]`` every kernel at one dilation ('same' zero pad).

    Args:
        x: ``float32[n, L, F]`` series.
        dilation: The dilation.
        channels: ``float32[84, F]`` channel weights of each kernel.
    """
    n_steps = x.shape[1]
    pad = 4 * dilation
    xp = jnp.pad(x, ((0, 0), (pad, pad), (0, 0)))
    taps = jnp.stack(
        [xp[:, j * dilation : j * dilation + n_steps] for j in range(KERNEL_LENGTH)]
    )  # [9, n, L, F]
    per_kernel = jnp.einsum("jnlf,kf->jnlk", taps, channels)  # [9, n, L, 84]
    total = jnp.sum(per_kernel, axis=0)
    k = jnp.arange(N_KERNELS)
    chosen = sum(per_kernel[TRIPLES[:, i], :, :, k] for i in range(3))  # [84, n, L]
    return -total + 3.0 * jnp.moveaxis(chosen, 0, -1)


@jax.jit
def _ppv(c: jax.Array, biases: jax.Array, valid: jax.Array) -> jax.Array:
    """``float32[n, 84, q]`` share of valid steps where ``c > bias``."""
    above = (c[..., None] > biases[None, None]) & valid[None, :, :, None]
    return jnp.sum(above, axis=1) / jnp.maximum(jnp.sum(valid, axis=0), 1)[:, None]


def _valid_steps(length: int, dilation: int, index: int) -> np.ndarray:
    """``bool[L, 84]``: padded kernels read every step, the others (every
    second pair) only the steps their whole kernel covers."""
    pad = 4 * dilation
    inner = np.zeros(length, bool)
    inner[pad : max(length - pad, pad)] = True
    if not inner.any():
        inner[:] = True
    padded = (index + np.arange(N_KERNELS)) % 2 == 0
    return np.where(padded[None, :], True, inner[:, None])


def fit_minirocket(
    key: jax.Array, x: np.ndarray, n_features: int = 10_000
) -> MiniRocket:
    """Fit the dilations, channel subsets and biases on TRAIN series.

    Args:
        key: PRNG key (the instances biases are drawn from, channel subsets).
        x: ``float32[n, L, F]`` training series.
        n_features: Target number of features (rounded down to 84s).

    Returns:
        The :class:`MiniRocket`.
    """
    x = np.asarray(x, np.float32)
    n, length, n_ch = x.shape
    dilations, n_per = fit_dilations(length, n_features)
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
    biases, channels = [], []
    start = 0
    for d, q in zip(dilations, n_per, strict=True):
        top = np.log2(min(n_ch, KERNEL_LENGTH) + 1)
        sizes = np.floor(2 ** rng.uniform(0, top, N_KERNELS)).astype(np.int64)
        mask = np.zeros((N_KERNELS, n_ch), np.float32)
        for k, s in enumerate(np.clip(sizes, 1, n_ch)):
            mask[k, rng.choice(n_ch, size=s, replace=False)] = 1.0
        picks = rng.integers(0, n, N_KERNELS)
        c = np.asarray(_conv(jnp.asarray(x[picks]), int(d), jnp.asarray(mask)))
        own = c[np.arange(N_KERNELS), :, np.arange(N_KERNELS)]  # [84, L]
        qs = _quantiles(start + N_KERNELS * q)[start:].reshape(N_KERNELS, q)
        start += N_KERNELS * q
        biases.append(
            np.stack([np.quantile(own[k], qs[k]) for k in range(N_KERNELS)]).astype(
                np.float32
            )
        )
        channels.append(mask)
    return MiniRocket(
        length,
        tuple(int(d) for d in dilations),
        tuple(int(q) for q in n_per),
        tuple(biases),
        tuple(channels),
    )


def transform(model: MiniRocket, x: np.ndarray, chunk: int = 64) -> np.ndarray:
    """``float32[n, n_features]`` PPV features of series ``x[n, L, F]``.

    Raises:
        ValueError: If the series length is not the fitted one.
    """
    x = np.asarray(x, np.float32)
    if x.shape[1] != model.length:
        raise ValueError(f"series of {x.shape[1]} steps; fitted for {model.length}")
    out = []
    for lo in range(0, len(x), chunk):
        xb = jnp.asarray(x[lo : lo + chunk])
        parts = []
        for i, d in enumerate(model.dilations):
            c = _conv(xb, d, jnp.asarray(model.channels[i]))
            valid = jnp.asarray(_valid_steps(model.length, d, i))
            ppv = _ppv(c, jnp.asarray(model.biases[i]), valid)
            parts.append(np.asarray(ppv).reshape(len(xb), -1))
        out.append(np.concatenate(parts, axis=1))
    return np.concatenate(out).astype(np.float32)


def _class_scores(raw: np.ndarray) -> np.ndarray:
    """Ridge outputs ``[n]`` (two classes) or ``[n, C]`` as ``[n, C]`` scores."""
    raw = np.asarray(raw, np.float64)
    return np.stack([-raw, raw], axis=1) if raw.ndim == 1 else raw


@dataclasses.dataclass(frozen=True)
class RocketClassifier:
    """MiniRocket features, a standardiser, a ridge and its temperature.

    Attributes:
        transform: The fitted :class:`MiniRocket`.
        scaler: Standardiser of the features (TRAIN statistics).
        ridge: The ``RidgeClassifierCV``.
        temperature: ``tau`` of ``softmax(tau * score)`` (leave-one-out fit).
    """

    transform: MiniRocket
    scaler: StandardScaler
    ridge: RidgeClassifierCV
    temperature: float

    @property
    def classes(self) -> np.ndarray:
        """``int[C']`` the classes seen in TRAIN (the ridge's columns)."""
        return np.asarray(self.ridge.classes_)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """``float64[n, C']`` class probabilities (columns: :attr:`classes`)."""
        feats = self.scaler.transform(transform(self.transform, x))
        scores = _class_scores(self.ridge.decision_function(feats))
        return softmax(self.temperature * scores, axis=1)


def _loo_scores(z: np.ndarray, y_index: np.ndarray, n_cls: int, alpha: float):
    """Leave-one-out ridge outputs of every training instance (closed form).

    With the ``-1 / +1`` targets the ridge classifier fits (one column for two
    classes), the hat matrix of a ridge with intercept is ``H = Q diag(l / (l
    + alpha)) Q^T + 1/n`` for the eigen-decomposition of the centred Gram
    matrix, and the leave-one-out output is ``(yhat - h_ii y) / (1 - h_ii)``.

    Returns:
        ``float64[n]`` (two classes) or ``float64[n, C]``.
    """
    n = len(z)
    targets = -np.ones((n, n_cls))
    targets[np.arange(n), y_index] = 1.0
    if n_cls == 2:
        targets = targets[:, 1:]
    zc = (z - z.mean(axis=0)).astype(np.float64)
    lam, q = np.linalg.eigh(zc @ zc.T)
    shrink = np.clip(lam, 0.0, None) / (np.clip(lam, 0.0, None) + alpha)
    hat = (q * shrink) @ q.T + 1.0 / n
    fitted = hat @ targets
    h = np.diag(hat)[:, None]
    loo = (fitted - h * targets) / np.maximum(1.0 - h, 1e-12)
    return loo[:, 0] if n_cls == 2 else loo


def _fit_temperature(scores: np.ndarray, y_index: np.ndarray) -> float:
    """``tau`` minimising the log loss of ``softmax(tau * scores)``."""

    def loss(log_tau: float) -> float:
        p = softmax(np.exp(log_tau) * scores, axis=1)
        return float(-np.mean(np.log(p[np.arange(len(p)), y_index] + 1e-12)))

    res = minimize_scalar(loss, bounds=(-5.0, 3.0), method="bounded")
    return float(np.exp(res.x))


def fit_rocket_classifier(
    key: jax.Array, x: np.ndarray, y: np.ndarray, n_features: int = 10_000
) -> RocketClassifier:
    """Fit MiniRocket + ridge (+ temperature) on TRAIN series.

    Args:
        key: PRNG key of the transform.
        x: ``float32[n, L, F]`` series.
        y: ``int[n]`` class labels.
        n_features: Target number of features.

    Returns:
        The :class:`RocketClassifier`.

    Raises:
        ValueError: With fewer than two classes in ``y``.
    """
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        raise ValueError("MiniRocket needs at least two classes in TRAIN")
    rocket = fit_minirocket(key, x, n_features)
    feats = transform(rocket, x)
    scaler = StandardScaler().fit(feats)
    z = np.asarray(scaler.transform(feats), np.float64)
    ridge = RidgeClassifierCV(alphas=ALPHAS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ridge.fit(z, y)
    classes = np.asarray(ridge.classes_)
    y_index = np.searchsorted(classes, y)
    alpha = float(np.asarray(ridge.alpha_))
    scores = _class_scores(_loo_scores(z, y_index, len(classes), alpha))
    return RocketClassifier(rocket, scaler, ridge, _fit_temperature(scores, y_index))
