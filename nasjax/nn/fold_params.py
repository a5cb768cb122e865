"""Per-fold parameter copies: one set of trained weights per walk-forward fold.

A member trained on K walk-forward folds ends with K different parameter
sets: fold ``k``'s were fitted on fold ``k``'s training period and early-stopped
on its validation period. A child that inherits them must continue fold
``k`` from fold ``k``'s parent weights; starting every fold from the last
fold's weights would hand earlier folds a model already fitted on their
validation periods (a validation leak).

So inherited params carry a *fold axis*: leaves ``[P, K, ...]`` for a
population (``[K, ...]`` for one member). ``K = 1`` means "the same start on
every fold" (fresh weights) and broadcasts to any fold count. Plain
population params ``[P, ...]`` are accepted wherever fold params are, as
``K = 1``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.graph.build import random_arch
from nasjax.graph.spec import ArchSpec
from nasjax.nn.model import init
from nasjax.typing import Params, PyTree


@functools.lru_cache(maxsize=64)
def param_ndims(spec: ArchSpec) -> tuple[int, ...]:
    """Rank of every leaf of one member's params in bucket ``spec`` (tree order)."""
    shapes = jax.eval_shape(lambda k: init(k, random_arch(k, spec)), jax.random.key(0))
    return tuple(len(s.shape) for s in jax.tree.leaves(shapes))


def fold_axis_size(params: Params, spec: ArchSpec, batch_dims: int = 1) -> int | None:
    """Fold-axis size of ``params`` (None when it has no fold axis).

    Args:
        params: Params with ``batch_dims`` leading member axes, with or
            without a fold axis after them.
        spec: Their bucket.
        batch_dims: Leading member axes (1 for a population, 0 for one).

    Raises:
        ValueError: If the leaves' ranks match neither layout, or leaves
            disagree on the fold count.
    """
    ref = param_ndims(spec)
    leaves = jax.tree.leaves(params)
    if len(leaves) != len(ref):
        raise ValueError(
            f"params have {len(leaves)} leaves, bucket {spec} has {len(ref)}"
        )
    extra = {np.ndim(v) - r - batch_dims for v, r in zip(leaves, ref, strict=True)}
    if extra == {0}:
        return None
    if extra != {1}:
        raise ValueError(
            "params match neither [members, ...] nor [members, folds, ...] for "
            f"bucket {spec} (leaf ranks off by {sorted(extra)})"
        )
    sizes = {np.shape(v)[batch_dims] for v in leaves}
    if len(sizes) != 1:
        raise ValueError(f"params leaves disagree on the fold count: {sorted(sizes)}")
    return sizes.pop()


def as_fold_params(params: Params, spec: ArchSpec, batch_dims: int = 1) -> Params:
    """``params`` with a fold axis after the member axes (size 1 if absent)."""
    if fold_axis_size(params, spec, batch_dims) is not None:
        return params
    return jax.tree.map(lambda v: jnp.expand_dims(v, batch_dims), params)


def _grow(v: jax.Array | np.ndarray, n_folds: int, axis: int) -> jax.Array:
    k = np.shape(v)[axis]
    if k == n_folds:
        return jnp.asarray(v)
    if k != 1:
        raise ValueError(f"params carry {k} fold copies, the data has {n_folds} folds")
    shape = list(np.shape(v))
    shape[axis] = n_folds
    return jnp.broadcast_to(v, tuple(shape))


def broadcast_folds(params: Params, n_folds: int, axis: int = 1) -> Params:
    """Fold params with the fold axis (``axis``) broadcast from 1 to ``n_folds``.

    Raises:
        ValueError: If the fold axis is neither 1 nor ``n_folds`` long.
    """
    return jax.tree.map(lambda v: _grow(v, n_folds, axis), params)


def stack_members(trees: Sequence[PyTree], axis: int = 0) -> PyTree:
    """Stack single members' fold params ``[K_i, ...]`` into host ``[n, K, ...]``.

    Fold axes (``axis``) of length 1 broadcast to the longest one. The leaves
    come back as numpy arrays (the archive keeps params on the host).
    """
    k = max(np.shape(jax.tree.leaves(t)[0])[axis] for t in trees)

    def grow(v):
        shape = list(np.shape(v))
        shape[axis] = k
        return np.broadcast_to(np.asarray(v), shape)

    return jax.tree.map(lambda *v: np.stack([grow(x) for x in v]), *trees)


def concat_members(a: Params, b: Params) -> Params:
    """Concatenate fold params ``[n_a, K_a, ...]`` and ``[n_b, K_b, ...]``.

    A fold axis of length 1 broadcasts to the other's length.
    """
    ka = np.shape(jax.tree.leaves(a)[0])[1]
    kb = np.shape(jax.tree.leaves(b)[0])[1]
    k = max(ka, kb)
    return jax.tree.map(
        lambda x, y: jnp.concatenate([_grow(x, k, 1), _grow(y, k, 1)]), a, b
    )


def map_fold_copies(fn: Callable[[Params], Any], params: Params) -> tuple[Any, Any]:
    """``fn`` on every fold copy of one member's ``params [K, ...]``.

    For morphs: a morph's choices depend on its key and arch only, so every
    copy is morphed the same way and the fold-independent outputs (child
    arch, morph ids, applied flags) are read from copy 0.

    Returns:
        ``(out of copy 0, out of every copy with leaves [K, ...])``.
    """
    every = jax.vmap(fn)(params)
    return jax.tree.map(lambda v: v[0], every), every
