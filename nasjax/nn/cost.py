"""Analytic size and cost of an architecture (active part only)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.graph.arch import Arch
from nasjax.graph.spec import READOUTS

_WINDOW = READOUTS.index("window")


def input_widths(arch: Arch) -> jax.Array:
    """``int32[N]``: the widest predecessor of each node (0 for none)."""
    contrib = jnp.where(arch.adj, arch.width[..., :, None], 0)
    return jnp.max(contrib, axis=-2).astype(jnp.int32)


def _per_op_params(
    name: str, d_in: jax.Array, d: jax.Array, kernel: jax.Array
) -> jax.Array:
    if name in ("dense_gelu", "dense_tanh"):
        return d_in * d + d
    if name == "conv":
        return kernel * d_in * d + d
    if name == "lstm":
        return 4 * (d_in * d + d * d + d)
    if name == "gru":
        return 3 * (d_in * d + d * d) + 3 * d
    if name == "attention":
        return 3 * (d_in * d + d) + d * d + d
    if name == "layernorm":
        return 2 * d
    return jnp.zeros_like(d)


def _per_op_macs(name: str, d_in, d, kernel, t: int):
    if name in ("dense_gelu", "dense_tanh"):
        return t * d_in * d
    if name == "conv":
        return t * kernel * d_in * d
    if name == "lstm":
        return t * 4 * (d_in * d + d * d)
    if name == "gru":
        return t * 3 * (d_in * d + d * d)
    if name == "attention":
        return t * (3 * d_in * d + d * d) + 2 * t * t * d
    if name == "layernorm":
        return t * 4 * d
    return jnp.zeros_like(d)


def _node_table(arch: Arch, per_op) -> jax.Array:
    spec = arch.spec
    d_in = input_widths(arch)
    d = arch.width
    values = jnp.stack(
        [per_op(name, d_in, d, arch.kernel) for name in spec.ops], axis=-1
    )
    chosen = jnp.take_along_axis(values, arch.ops[..., None], axis=-1)[..., 0]
    hidden = arch.node_mask & (jnp.arange(spec.max_nodes) > 0)
    return jnp.where(hidden, chosen, 0)


def _output_width(arch: Arch) -> jax.Array:
    """``int32[*batch]``: active channels of the output node."""
    last = jnp.arange(arch.spec.max_nodes) == arch.n_active[..., None] - 1
    return jnp.sum(jnp.where(last, arch.width, 0), axis=-1)


def _window_readout(arch: Arch) -> jax.Array:
    """Time weights ``T * out_width`` of a ``window`` readout (0 otherwise):
    its parameters, and its multiply-accumulates per example."""
    used = arch.readout == _WINDOW
    return jnp.where(used, arch.spec.window * _output_width(arch), 0)


def active_param_count(arch: Arch) -> jax.Array:
    """Trainable parameters of the active network (single arch), ``int32[]``.

    Stem, active nodes, used edge gates, the head and, for the ``window``
    readout, its ``T x out_width`` time weights.
    """
    spec = arch.spec
    nodes = jnp.sum(_node_table(arch, _per_op_params))
    stem = spec.n_features * arch.width[0] + arch.width[0]
    out_w = _output_width(arch)
    head = out_w * spec.n_classes + spec.n_classes
    gates = jnp.sum(arch.adj)
    readout = _window_readout(arch)
    return (nodes + stem + head + gates + readout).astype(jnp.int32)


def active_macs(arch: Arch) -> jax.Array:
    """Multiply-accumulates of one forward pass per example (active part):
    stem, active nodes and the ``window`` readout's ``T x out_width``."""
    spec = arch.spec
    t = spec.window
    nodes = jnp.sum(_node_table(arch, lambda n, a, b, k: _per_op_macs(n, a, b, k, t)))
    stem = t * spec.n_features * arch.width[0]
    return (nodes + stem + _window_readout(arch)).astype(jnp.float32)
