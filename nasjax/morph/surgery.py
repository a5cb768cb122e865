"""Node-slot surgery shared by morphs: insert or delete a node, keep order."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.graph.arch import Arch
from nasjax.graph.build import canonicalize
from nasjax.typing import Params


def _gather_nodes(arch: Arch, params: Params, src: jax.Array) -> tuple[Arch, Params]:
    moved = arch.replace(
        ops=arch.ops[src],
        adj=arch.adj[src][:, src],
        width=arch.width[src],
        kernel=arch.kernel[src],
        dilation=arch.dilation[src],
    )
    new_params = {
        **params,
        "nodes": jax.tree.map(lambda leaf: leaf[src], params["nodes"]),
        "edge_gate": params["edge_gate"][src][:, src],
    }
    return moved, new_params


def insert_slot(arch: Arch, params: Params, p: jax.Array) -> tuple[Arch, Params]:
    """Open an empty active slot at index ``p``, shifting nodes ``>= p`` up.

    The new node has no edges, width 0 and the displaced params of its old
    slot; callers fill it in. Needs ``n_active < max_nodes``.
    """
    k = jnp.arange(arch.spec.max_nodes)
    src = jnp.where(k < p, k, jnp.maximum(k - 1, 0))
    moved, new_params = _gather_nodes(arch, params, src)
    new_mask = k < arch.n_active + 1
    is_p = k == p
    adj = moved.adj & ~is_p[:, None] & ~is_p[None, :]
    moved = moved.replace(
        node_mask=new_mask, adj=adj, width=jnp.where(is_p, 0, moved.width)
    )
    return moved, new_params


def delete_slot(arch: Arch, params: Params, p: jax.Array) -> tuple[Arch, Params]:
    """Remove node ``p``, shifting nodes ``> p`` down; edges of ``p`` vanish."""
    n_max = arch.spec.max_nodes
    k = jnp.arange(n_max)
    src = jnp.where(k < p, k, jnp.minimum(k + 1, n_max - 1))
    cleared = arch.replace(adj=arch.adj & (k != p)[:, None] & (k != p)[None, :])
    moved, new_params = _gather_nodes(cleared, params, src)
    moved = moved.replace(node_mask=k < arch.n_active - 1)
    return canonicalize(moved), new_params


def set_node_params(params: Params, fresh_node: Params, p: jax.Array) -> Params:
    """Write one node's params (from ``nn.init_node``) into slot ``p``."""
    nodes = jax.tree.map(
        lambda old, new: old.at[p].set(new), params["nodes"], fresh_node
    )
    return {**params, "nodes": nodes}
