"""Constructors and bucket moves for :class:`~nasjax.graph.Arch`.

:func:`stack` and :func:`unstack` live in :mod:`nasjax.graph.arch` and are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.graph.arch import Arch, stack, unstack
from nasjax.graph.spec import READOUTS, ArchSpec
from nasjax.graph.validate import validate
from nasjax.typing import Key

__all__ = ["canonicalize", "chain", "pad_to", "random_arch", "stack", "unstack"]


def random_arch(key: Key, spec: ArchSpec, edge_prob: float = 0.3) -> Arch:
    """Sample a valid random architecture of the bucket ``spec``.

    A backbone chain ``0 -> 1 -> ... -> n-1`` keeps every node connected; each
    other forward edge between active nodes is added with ``edge_prob``. The
    readout is uniform over :data:`~nasjax.graph.spec.READOUTS`, ``window``
    included (no morph changes a readout, so random archs and seeds are how
    a search meets each one). Jittable and vmappable over ``key``.

    Args:
        key: PRNG key.
        spec: The bucket.
        edge_prob: Probability of each extra (skip) edge.

    Returns:
        An ``Arch`` with no batch axes.
    """
    n_max, w_max = spec.max_nodes, spec.max_width
    k_n, k_ops, k_w, k_k, k_d, k_e, k_r = jax.random.split(key, 7)
    n_active = jax.random.randint(k_n, (), 2, n_max + 1)
    idx = jnp.arange(n_max)
    node_mask = idx < n_active
    ops = jax.random.randint(k_ops, (n_max,), 0, spec.n_ops)
    steps = w_max // spec.width_step
    width = spec.width_step * jax.random.randint(k_w, (n_max,), 1, steps + 1)
    kernel = jax.random.randint(k_k, (n_max,), 1, spec.max_kernel + 1)
    dilation = jax.random.choice(k_d, jnp.asarray(spec.dilations), (n_max,))
    readout = jax.random.randint(k_r, (), 0, len(READOUTS))
    both_active = node_mask[:, None] & node_mask[None, :]
    upper = idx[:, None] < idx[None, :]
    backbone = idx[None, :] == idx[:, None] + 1
    extra = jax.random.bernoulli(k_e, edge_prob, (n_max, n_max))
    adj = both_active & upper & (backbone | extra)
    return canonicalize(
        Arch(
            ops=ops.astype(jnp.int32),
            adj=adj,
            node_mask=node_mask,
            width=width.astype(jnp.int32),
            kernel=kernel.astype(jnp.int32),
            dilation=dilation.astype(jnp.int32),
            readout=readout.astype(jnp.int32),
            spec=spec,
        )
    )


def canonicalize(arch: Arch) -> Arch:
    """Zero every field of inactive nodes (and node 0's unused op id)."""
    mask = arch.node_mask
    hidden = mask & (jnp.arange(arch.spec.max_nodes) > 0)
    both = mask[..., :, None] & mask[..., None, :]
    return arch.replace(
        ops=jnp.where(hidden, arch.ops, 0).astype(jnp.int32),
        adj=arch.adj & both,
        width=jnp.where(mask, arch.width, 0).astype(jnp.int32),
        kernel=jnp.where(mask, arch.kernel, 0).astype(jnp.int32),
        dilation=jnp.where(mask, arch.dilation, 0).astype(jnp.int32),
    )


def chain(
    spec: ArchSpec,
    ops: Sequence[str],
    widths: Sequence[int],
    *,
    input_width: int | None = None,
    kernels: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
    readout: str = "last",
    skips: Sequence[tuple[int, int]] = (),
) -> Arch:
    """A plain sequential stack ``input -> ops[0] -> ops[1] -> ...``.

    Args:
        spec: The bucket; ``len(ops) + 1 <= spec.max_nodes``.
        ops: Op names of the hidden nodes, in order (the last is the output).
        widths: Width of each hidden node (same length as ``ops``).
        input_width: Width of the input projection (default ``widths[0]``).
        kernels: Conv taps per hidden node (default ``min(3, max_kernel)``).
        dilations: Conv dilation per hidden node (default 1).
        readout: One of :data:`~nasjax.graph.spec.READOUTS`.
        skips: Extra edges ``(i, j)`` between node indices (0 = input).

    Returns:
        A validated ``Arch``.

    Raises:
        ValueError: On lengths that do not match or do not fit the bucket.
    """
    n = len(ops) + 1
    if len(widths) != len(ops):
        raise ValueError(f"chain: {len(ops)} ops but {len(widths)} widths")
    if n > spec.max_nodes:
        raise ValueError(
            f"chain: {n} nodes (input + {len(ops)} ops) exceed "
            f"max_nodes={spec.max_nodes}"
        )
    if readout not in READOUTS:
        raise ValueError(f"chain: readout must be one of {READOUTS}, got {readout!r}")
    kernels = (
        list(kernels) if kernels is not None else [min(3, spec.max_kernel)] * len(ops)
    )
    dilations = list(dilations) if dilations is not None else [1] * len(ops)
    n_max = spec.max_nodes
    a_ops = np.zeros(n_max, np.int32)
    a_ops[1:n] = [spec.op_id(o) for o in ops]
    width = np.zeros(n_max, np.int32)
    width[0] = widths[0] if input_width is None else input_width
    width[1:n] = widths
    kernel = np.zeros(n_max, np.int32)
    kernel[:n] = [kernels[0], *kernels]
    dilation = np.zeros(n_max, np.int32)
    dilation[:n] = [dilations[0], *dilations]
    adj = np.zeros((n_max, n_max), bool)
    for i in range(n - 1):
        adj[i, i + 1] = True
    for i, j in skips:
        adj[i, j] = True
    arch = Arch(
        ops=jnp.asarray(a_ops),
        adj=jnp.asarray(adj),
        node_mask=jnp.asarray(np.arange(n_max) < n),
        width=jnp.asarray(width),
        kernel=jnp.asarray(kernel),
        dilation=jnp.asarray(dilation),
        readout=jnp.asarray(READOUTS.index(readout), jnp.int32),
        spec=spec,
    )
    validate(arch)
    return arch


def pad_to(arch: Arch, spec: ArchSpec) -> Arch:
    """Move a single arch into a bucket at least as large; its meaning is kept.

    The op vocabulary of ``spec`` may be ordered differently or larger; op ids
    are remapped by name.

    Raises:
        ValueError: If ``spec`` is smaller, lacks a used op or differs in I/O.
    """
    old = arch.spec
    for field in ("n_features", "window", "n_classes", "head_dim"):
        if getattr(old, field) != getattr(spec, field):
            raise ValueError(
                f"pad_to: {field} differs "
                f"({getattr(old, field)} vs {getattr(spec, field)})"
            )
    if spec.max_nodes < old.max_nodes or spec.max_width < old.max_width:
        raise ValueError(
            f"pad_to: target bucket (N={spec.max_nodes}, W={spec.max_width}) is "
            "smaller "
            f"than the arch's (N={old.max_nodes}, W={old.max_width})"
        )
    if spec.max_kernel < old.max_kernel:
        raise ValueError("pad_to: target max_kernel is smaller")
    a = arch.to_numpy()
    n_used = int(a["node_mask"].sum())
    used_ops = {old.ops[i] for i in a["ops"][1:n_used]}
    missing = used_ops - set(spec.ops)
    if missing:
        raise ValueError(f"pad_to: target spec lacks ops {sorted(missing)}")
    id_map = np.array([spec.ops.index(o) if o in spec.ops else 0 for o in old.ops])
    extra = spec.max_nodes - old.max_nodes
    a["ops"] = np.where(a["node_mask"], id_map[a["ops"]], 0)
    padded = {k: np.pad(v, (0, extra)) if v.ndim == 1 else v for k, v in a.items()}
    padded["adj"] = np.pad(a["adj"], ((0, extra), (0, extra)))
    padded["ops"][0] = 0
    return Arch(spec=spec, **{k: jnp.asarray(v) for k, v in padded.items()})
