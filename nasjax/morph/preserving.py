"""Function-preserving morphs (network morphism / Net2Net / ReZero-style).

Each child computes exactly the parent's function before training:

* ``widen``: new units get zero incoming weights, so they output exactly zero
  (every widenable op maps 0 to 0) yet receive gradient.
* ``deepen``: a new node is inserted after ``t``, fed by ``t``; its edges to
  ``t``'s consumers carry a learnable gate initialised to 0 (zero-init
  residual), so it adds nothing until trained.
* ``add_skip``: a new edge ``i -> j`` with gate 0.
* ``add_branch``: a new node parallel to ``t`` (same inputs and consumers),
  with zero gates on its outputs.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from nasjax.graph.arch import Arch
from nasjax.graph.spec import WIDENABLE_OPS
from nasjax.morph.base import MorphOutput, choose, finish
from nasjax.morph.surgery import insert_slot, set_node_params
from nasjax.nn.model import init_node
from nasjax.ops.base import band_mask
from nasjax.ops.registry import ops_for
from nasjax.typing import Key, Params


def _hidden_active(arch: Arch) -> jax.Array:
    return arch.node_mask & (jnp.arange(arch.spec.max_nodes) > 0)


def widen(key: Key, arch: Arch, params: Params) -> MorphOutput:
    """Grow one node's width. ``args = (node, old_width, new_width)``."""
    spec = arch.spec
    w_max = spec.max_width
    widenable_ids = jnp.asarray([name in WIDENABLE_OPS for name in spec.ops])
    is_input = jnp.arange(spec.max_nodes) == 0
    can_op = is_input | widenable_ids[arch.ops]
    has_kind = arch.node_mask & can_op
    eligible = has_kind & (arch.width < w_max)
    k_node, k_width = jax.random.split(key)
    i, ok = choose(k_node, eligible)
    old_w = arch.width[i]
    candidates = spec.width_step * jnp.arange(1, w_max // spec.width_step + 1)
    new_w, ok_w = choose(k_width, (candidates > old_w) & (candidates <= w_max))
    new_w = jnp.where(ok_w, candidates[new_w], w_max).astype(jnp.int32)
    child = arch.replace(width=arch.width.at[i].set(new_w))

    keep = 1.0 - band_mask(w_max, old_w, new_w)
    at_input = i == 0
    stem = jax.tree.map(lambda p: jnp.where(at_input, p * keep, p), params["stem"])
    nodes = dict(params["nodes"])
    for op in ops_for(spec):
        if op.zero_new_units is None:
            continue
        node_p = jax.tree.map(lambda leaf: leaf[i], nodes[op.name])
        zeroed = op.zero_new_units(node_p, old_w, new_w)
        nodes[op.name] = jax.tree.map(
            lambda leaf, z: leaf.at[i].set(z), nodes[op.name], zeroed
        )
    child_params = {**params, "stem": stem, "nodes": nodes}
    grow = jnp.any(has_kind) & ~jnp.any(eligible)
    return finish(arch, params, child, child_params, ok, grow, [i, old_w, new_w])


def _new_node(key: Key, arch: Arch, p: jax.Array, width: jax.Array) -> Arch:
    spec = arch.spec
    k_op, k_k, k_d = jax.random.split(key, 3)
    op = jax.random.randint(k_op, (), 0, spec.n_ops)
    kernel = jax.random.randint(k_k, (), 1, spec.max_kernel + 1)
    dilation = jax.random.choice(k_d, jnp.asarray(spec.dilations))
    return arch.replace(
        ops=arch.ops.at[p].set(op),
        width=arch.width.at[p].set(width),
        kernel=arch.kernel.at[p].set(kernel),
        dilation=arch.dilation.at[p].set(dilation),
    )


def _insert_gated(
    key: Key,
    arch: Arch,
    params: Params,
    t: jax.Array,
    preds: Callable[[Arch], jax.Array],
    succs: Callable[[Arch], jax.Array],
) -> tuple[Arch, Params, jax.Array]:
    """Insert a node at ``t + 1`` with the given (post-shift) preds and succs;
    its outgoing edges get gate 0 so the function is unchanged."""
    k_node, k_init = jax.random.split(key)
    p = t + 1
    child, child_params = insert_slot(arch, params, p)
    pred_mask = preds(child)
    succ_mask = succs(child)
    col = jnp.arange(arch.spec.max_nodes) == p
    adj = child.adj | (pred_mask[:, None] & col[None, :])
    adj = adj | (col[:, None] & succ_mask[None, :])
    child = _new_node(k_node, child.replace(adj=adj), p, arch.width[t])
    gate = child_params["edge_gate"]
    gate = jnp.where(col[:, None] & succ_mask[None, :], 0.0, gate)
    gate = jnp.where(pred_mask[:, None] & col[None, :], 1.0, gate)
    child_params = set_node_params(
        {**child_params, "edge_gate": gate}, init_node(k_init, child, p), p
    )
    return child, child_params, child.ops[p]


def deepen(key: Key, arch: Arch, params: Params) -> MorphOutput:
    """Insert a zero-gated residual node after ``t``. ``args = (t, t + 1, op)``."""
    n_max = arch.spec.max_nodes
    idx = jnp.arange(n_max)
    room = arch.n_active < n_max
    eligible = arch.node_mask & (idx < arch.n_active - 1)
    k_t, k_new = jax.random.split(key)
    t, ok = choose(k_t, eligible & room)
    child, child_params, op = _insert_gated(
        k_new,
        arch,
        params,
        t,
        preds=lambda c: idx == t,
        succs=lambda c: c.adj[t],
    )
    return finish(arch, params, child, child_params, ok, ~room, [t, t + 1, op])


def add_branch(key: Key, arch: Arch, params: Params) -> MorphOutput:
    """Add a zero-gated node parallel to hidden node ``t``.

    ``args = (t, t + 1, op)``.
    """
    n_max = arch.spec.max_nodes
    idx = jnp.arange(n_max)
    room = arch.n_active < n_max
    eligible = _hidden_active(arch) & (idx < arch.n_active - 1)
    k_t, k_new = jax.random.split(key)
    t, ok = choose(k_t, eligible & room)
    child, child_params, op = _insert_gated(
        k_new,
        arch,
        params,
        t,
        preds=lambda c: c.adj[:, t],
        succs=lambda c: c.adj[t],
    )
    grow = ~room & jnp.any(eligible)
    return finish(arch, params, child, child_params, ok, grow, [t, t + 1, op])


def add_skip(key: Key, arch: Arch, params: Params) -> MorphOutput:
    """Add a zero-gated edge ``i -> j``. ``args = (i, j, 0)``."""
    n_max = arch.spec.max_nodes
    idx = jnp.arange(n_max)
    both = arch.node_mask[:, None] & arch.node_mask[None, :]
    eligible = both & (idx[:, None] < idx[None, :]) & ~arch.adj
    flat, ok = choose(key, eligible)
    i, j = flat // n_max, flat % n_max
    child = arch.replace(adj=arch.adj.at[i, j].set(True))
    gate = params["edge_gate"].at[i, j].set(0.0)
    child_params = {**params, "edge_gate": gate}
    return finish(arch, params, child, child_params, ok, jnp.bool_(False), [i, j, 0])
