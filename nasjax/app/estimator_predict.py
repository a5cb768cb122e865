"""Class probabilities of a K-fold ensemble on raw series (host batches).

One jitted function per arch bucket and chunk size: rows are cut into
chunks of :data:`CHUNK` (the last one zero-padded), so any number of rows
reuses one compiled program and a row's result does not depend on the rows
beside it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from nasjax.data.normalize import normalize
from nasjax.graph.arch import Arch
from nasjax.nn.model import apply
from nasjax.typing import Params

__all__ = ["CHUNK", "ensemble_proba"]

CHUNK = 256
"""Rows per call of the compiled function."""


@jax.jit
def _proba(
    arch: Arch, fold_params: Params, x: jax.Array, mean: jax.Array, std: jax.Array
) -> jax.Array:
    def one(params: Params, mu: jax.Array, sd: jax.Array) -> jax.Array:
        return jax.nn.softmax(apply(arch, params, normalize(x, mu, sd)), axis=-1)

    return jax.vmap(one)(fold_params, mean, std).mean(axis=0)


def ensemble_proba(
    arch: Arch,
    fold_params: Params,
    x: ArrayLike,
    mean: ArrayLike,
    std: ArrayLike,
) -> np.ndarray:
    """Mean over the K fold models of their softmax.

    Args:
        arch: A single arch.
        fold_params: Its K models' params, leaves ``[K, ...]``.
        x: ``float32[n, T, F]`` raw (un-normalised) series.
        mean: ``float32[K, F]``: model k normalises with ``mean[k]``.
        std: ``float32[K, F]``.

    Returns:
        ``float32[n, C]`` host array.
    """
    x = np.asarray(x, np.float32)
    mu, sd = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)
    out = []
    for a in range(0, len(x), CHUNK):
        chunk = x[a : a + CHUNK]
        padded = np.zeros((CHUNK, *x.shape[1:]), np.float32)
        padded[: len(chunk)] = chunk
        out.append(np.asarray(_proba(arch, fold_params, padded, mu, sd))[: len(chunk)])
    n_classes = arch.spec.n_classes
    return np.concatenate(out) if out else np.zeros((0, n_classes), np.float32)
