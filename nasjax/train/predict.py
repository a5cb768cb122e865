"""Predictions of trained models on arbitrary sample ids (outside training)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from nasjax.data.dataset import gather_windows
from nasjax.data.normalize import normalize
from nasjax.graph.arch import Arch
from nasjax.nn.model import apply
from nasjax.typing import Params


@jax.jit
def _chunked_proba(arch, params, features, ids, mean, std):
    window = arch.spec.window

    def one(i):
        x = normalize(gather_windows(features, i, window), mean, std)
        return jax.nn.softmax(apply(arch, params, x), axis=-1)

    return jax.lax.map(one, ids)


def predict_proba(
    arch: Arch,
    params: Params,
    features: jax.Array,
    ids: np.ndarray,
    mean: ArrayLike,
    std: ArrayLike,
    batch_size: int = 512,
) -> np.ndarray:
    """Class probabilities of ONE model for sample ids.

    Args:
        arch: A single arch.
        params: Its params.
        features: ``float32[T, S, F]`` un-normalised features.
        ids: ``int[n]`` sample ids ``t * S + s``.
        mean: ``float32[F]`` normalisation mean (the fold's train part).
        std: ``float32[F]``.
        batch_size: Examples per forward pass.

    Returns:
        ``float32[n, n_classes]`` host array.
    """
    ids = np.asarray(ids, np.int32)
    n = len(ids)
    n_pad = max(1, -(-n // batch_size)) * batch_size
    padded = np.zeros(n_pad, np.int32)
    padded[:n] = ids
    proba = _chunked_proba(
        arch,
        params,
        features,
        jnp.asarray(padded.reshape(-1, batch_size)),
        jnp.asarray(mean),
        jnp.asarray(std),
    )
    return np.asarray(proba).reshape(n_pad, -1)[:n]
