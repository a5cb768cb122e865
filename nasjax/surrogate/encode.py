"""Fixed-length encodings of architectures for the GP surrogate.

``encode(arch) -> float32[D]`` sees every part of an architecture. The vector
is a concatenation of groups (see :func:`layout`); the kernel gives each
Matern group its own length-scale and compares the ``wl`` group with a
cosine (graph) kernel:

* ``ops``: one-hot op of each hidden node ``1..N-1`` (zeros when inactive).
* ``width``: width of each node ``/ max_width``.
* ``conv``: per hidden node, ``kernel / max_kernel`` and
  ``log2(dilation) / log2(max dilation)`` for conv nodes (0 otherwise).
* ``adj``: the strictly upper-triangular adjacency.
* ``global``: active nodes ``/ N``, depth ``/ N``, readout one-hot, op
  histogram ``/ N``, ``log10(1 + active params) / 8``.
* ``wl``: a depth-1 Weisfeiler-Lehman histogram: counts of node labels and of
  (predecessor label, node label) edge pairs, labels = ops plus ``input``.
  Permutation invariant, so it matches isomorphic graphs the positional
  groups would keep apart.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nasjax.graph.arch import Arch
from nasjax.graph.spec import READOUTS, ArchSpec
from nasjax.nn.cost import active_param_count

GROUPS: tuple[str, ...] = ("ops", "width", "conv", "adj", "global")
"""Matern groups in encoding order (``wl`` follows them)."""


class Layout(NamedTuple):
    """Static slices of an encoding (hashable, so usable as a jit static arg).

    Attributes:
        groups: ``(start, stop)`` of each Matern group in :data:`GROUPS`.
        wl: ``(start, stop)`` of the WL histogram.
        dim: Total length ``D``.
    """

    groups: tuple[tuple[int, int], ...]
    wl: tuple[int, int]
    dim: int


def layout(spec: ArchSpec) -> Layout:
    """The encoding layout of bucket ``spec``."""
    n, o = spec.max_nodes, spec.n_ops
    sizes = [
        (n - 1) * o,
        n,
        2 * (n - 1),
        n * (n - 1) // 2,
        2 + len(READOUTS) + o + 1,
    ]
    groups, start = [], 0
    for size in sizes:
        groups.append((start, start + size))
        start += size
    wl_size = (o + 1) + (o + 1) ** 2
    return Layout(tuple(groups), (start, start + wl_size), start + wl_size)


def _depth(adj: jax.Array) -> jax.Array:
    n = adj.shape[-1]
    depth = jnp.zeros(n, jnp.float32)
    for j in range(1, n):
        cand = jnp.where(adj[:, j], depth + 1.0, 0.0)
        depth = depth.at[j].set(jnp.max(cand))
    return jnp.max(depth)


def encode(arch: Arch) -> jax.Array:
    """Encode a single arch (vmap for a population).

    Args:
        arch: An ``Arch`` without batch axes.

    Returns:
        ``float32[D]`` with ``D = layout(arch.spec).dim``.
    """
    spec = arch.spec
    n, o = spec.max_nodes, spec.n_ops
    mask = arch.node_mask
    hidden = mask & (jnp.arange(n) > 0)
    onehot = jax.nn.one_hot(arch.ops, o) * hidden[:, None]
    width = jnp.where(mask, arch.width, 0) / spec.max_width
    is_conv = (
        hidden & (arch.ops == spec.op_id("conv"))
        if "conv" in spec.ops
        else jnp.zeros(n, bool)
    )
    max_dil = max(spec.dilations)
    log_dil = jnp.log2(jnp.maximum(arch.dilation, 1).astype(jnp.float32))
    conv = jnp.stack(
        [
            jnp.where(is_conv, arch.kernel / spec.max_kernel, 0.0),
            jnp.where(is_conv, log_dil / max(math.log2(max_dil), 1.0), 0.0),
        ],
        axis=-1,
    )[1:]
    iu = jnp.triu_indices(n, k=1)
    adj = arch.adj[iu].astype(jnp.float32)
    n_active = jnp.sum(mask)
    n_params = active_param_count(arch).astype(jnp.float32)
    glob = jnp.concatenate(
        [
            jnp.stack([n_active / n, _depth(arch.adj) / n]),
            jax.nn.one_hot(arch.readout, len(READOUTS)),
            jnp.sum(onehot, axis=0) / n,
            jnp.log10(1.0 + n_params)[None] / 8.0,
        ]
    )
    # WL depth 1: labels are ops + "input" (label o, node 0).
    labels = (
        jnp.concatenate(
            [onehot, (jnp.arange(n) == 0)[:, None].astype(jnp.float32)], axis=1
        )
        * mask[:, None]
    )
    edges = arch.adj.astype(jnp.float32)
    pairs = labels.T @ edges @ labels  # [o + 1, o + 1]: (pred label, node label)
    wl = jnp.concatenate([jnp.sum(labels, axis=0), pairs.reshape(-1)])
    out = jnp.concatenate(
        [onehot[1:].reshape(-1), width, conv.reshape(-1), adj, glob, wl]
    )
    return out.astype(jnp.float32)


def encode_population(archs: Arch) -> jax.Array:
    """``float32[P, D]``: :func:`encode` vmapped over a stacked population."""
    return jax.vmap(encode)(archs)
