"""Structural morphs: valid children that do *not* preserve the function."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.graph.arch import Arch
from nasjax.morph.base import MorphOutput, choose, choose_other, finish
from nasjax.morph.surgery import delete_slot
from nasjax.typing import Key, Params


def _hidden_active(arch: Arch) -> jax.Array:
    return arch.node_mask & (jnp.arange(arch.spec.max_nodes) > 0)


def swap_op(key: Key, arch: Arch, params: Params) -> MorphOutput:
    """Replace a hidden node's op (its params for the new op are used as they
    are). ``args = (node, old_op, new_op)``."""
    n_ops = arch.spec.n_ops
    k_i, k_op = jax.random.split(key)
    i, ok = choose(k_i, _hidden_active(arch))
    ok = ok & (n_ops >= 2)
    old = arch.ops[i]
    new = choose_other(k_op, old, n_ops)
    child = arch.replace(ops=arch.ops.at[i].set(new))
    return finish(arch, params, child, params, ok, jnp.bool_(False), [i, old, new])


def remove_node(key: Key, arch: Arch, params: Params) -> MorphOutput:
    """Delete a hidden, non-output node, wiring its inputs to its consumers.
    ``args = (node, 0, 0)``."""
    idx = jnp.arange(arch.spec.max_nodes)
    eligible = _hidden_active(arch) & (idx < arch.n_active - 1)
    k, ok = choose(key, eligible)
    bridge = arch.adj[:, k][:, None] & arch.adj[k][None, :]
    new_edges = bridge & ~arch.adj
    gate = jnp.where(new_edges, 1.0, params["edge_gate"])
    bridged = arch.replace(adj=arch.adj | bridge)
    child, child_params = delete_slot(bridged, {**params, "edge_gate": gate}, k)
    return finish(arch, params, child, child_params, ok, jnp.bool_(False), [k, 0, 0])


def _conv_nodes(arch: Arch) -> jax.Array:
    spec = arch.spec
    if "conv" not in spec.ops:
        return jnp.zeros(spec.max_nodes, bool)
    return _hidden_active(arch) & (arch.ops == spec.op_id("conv"))


def change_kernel(key: Key, arch: Arch, params: Params) -> MorphOutput:
    """Change a conv node's number of taps. ``args = (node, old, new)``."""
    n_kernels = arch.spec.max_kernel
    k_i, k_v = jax.random.split(key)
    i, ok = choose(k_i, _conv_nodes(arch))
    ok = ok & (n_kernels >= 2)
    old = arch.kernel[i]
    new = choose_other(k_v, old - 1, n_kernels) + 1
    child = arch.replace(kernel=arch.kernel.at[i].set(new))
    return finish(arch, params, child, params, ok, jnp.bool_(False), [i, old, new])


def change_dilation(key: Key, arch: Arch, params: Params) -> MorphOutput:
    """Change a conv node's dilation. ``args = (node, old, new)``."""
    dilations = jnp.asarray(arch.spec.dilations)
    n_d = len(arch.spec.dilations)
    k_i, k_v = jax.random.split(key)
    i, ok = choose(k_i, _conv_nodes(arch))
    ok = ok & (n_d >= 2)
    old = arch.dilation[i]
    old_pos = jnp.argmax(dilations == old)
    new = dilations[choose_other(k_v, old_pos, n_d)]
    child = arch.replace(dilation=arch.dilation.at[i].set(new))
    return finish(arch, params, child, params, ok, jnp.bool_(False), [i, old, new])
