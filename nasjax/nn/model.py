"""The masked DAG model: ``init(key, arch) -> params``, ``apply(arch, params, x)``.

One compiled function serves every architecture of a bucket: nodes run in
index order inside ``lax.scan``, each through ``lax.switch`` over the op
vocabulary; channel and node masks cut every node to its active width. The
input of node ``j`` is ``sum_i adj[i, j] * edge_gate[i, j] * out_i``: edge gates
are learnable scalars that start at 1, and at 0 on edges added by
function-preserving morphs.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.graph.arch import Arch
from nasjax.nn.cost import active_param_count, input_widths
from nasjax.nn.readout import init_time_weights, read_out
from nasjax.ops.base import NodeConfig, channel_mask, fan_scale, init_params, run
from nasjax.ops.registry import ops_for
from nasjax.typing import Key, Params


def init_nodes(key: Key, arch: Arch) -> Params:
    """Fresh parameters of every op at every node, ``{op: leaves[N, ...]}``."""
    spec = arch.spec
    in_w = input_widths(arch)
    keys = jax.random.split(key, spec.n_ops)
    nodes = {}
    for k_op, op in zip(keys, ops_for(spec), strict=True):
        node_keys = jax.random.split(k_op, spec.max_nodes)
        nodes[op.name] = jax.vmap(op.init)(node_keys, in_w, arch.width)
    return nodes


def init_node(key: Key, arch: Arch, node: jax.Array) -> Params:
    """Fresh parameters of every op at one node, ``{op: leaves[...]}``.

    Equal to slot ``node`` of :func:`init_nodes` with the same key, at a
    ``1 / N`` of its cost.
    """
    spec = arch.spec
    in_w = input_widths(arch)[node]
    keys = jax.random.split(key, spec.n_ops)
    fresh = {}
    for k_op, op in zip(keys, ops_for(spec), strict=True):
        node_key = jax.random.split(k_op, spec.max_nodes)[node]
        fresh[op.name] = op.init(node_key, in_w, arch.width[node])
    return fresh


def init(key: Key, arch: Arch) -> Params:
    """Initialise parameters for a single ``arch`` at its bucket's shapes.

    Shapes depend only on ``arch.spec``; initial scales use the arch's active
    widths as fan-ins. Vmap over ``(key, arch)`` for a population.

    Returns:
        ``{"stem": {kernel f32[F, W], bias f32[W]}, "nodes": {op: ...[N, ...]},
        "edge_gate": f32[N, N], "head": {kernel f32[W, C], bias f32[C]},
        "readout": f32[T, W]}`` (the time weights of the ``window``
        readout, :mod:`nasjax.nn.readout`).
    """
    spec = arch.spec
    w = spec.max_width
    k_stem, k_nodes, k_head = jax.random.split(key, 3)
    stem = init_params(nn.Dense(w), k_stem, jnp.zeros((1, spec.n_features)))
    head = init_params(nn.Dense(spec.n_classes), k_head, jnp.zeros((1, w)))
    out_width = jnp.max(
        jnp.where(arch.node_mask, arch.width, 0)
        * (jnp.arange(spec.max_nodes) == arch.n_active - 1)
    )
    head = {**head, "kernel": head["kernel"] * fan_scale(w, out_width)}
    return {
        "stem": stem,
        "nodes": init_nodes(k_nodes, arch),
        "edge_gate": jnp.ones((spec.max_nodes, spec.max_nodes), jnp.float32),
        "head": head,
        "readout": init_time_weights(spec.window, w),
    }


def check_input(arch: Arch, x: jax.Array, caller: str = "apply") -> None:
    """Raise ``ValueError`` unless ``arch`` is single and ``x`` is
    ``float32[batch, window, n_features]`` of its bucket."""
    spec = arch.spec
    if x.ndim != 3 or x.shape[1:] != (spec.window, spec.n_features):
        raise ValueError(
            f"{caller}: x must be float32[batch, window={spec.window}, "
            f"n_features={spec.n_features}], got shape {tuple(x.shape)}"
        )
    if arch.batch_shape:
        raise ValueError(
            f"{caller} takes a single arch, got batch shape {arch.batch_shape}; "
            "use jax.vmap(nasjax.nn.apply) for a population"
        )


def embed(arch: Arch, params: Params, x: jax.Array) -> jax.Array:
    """Run the DAG and read it out over time: ``float32[batch, W]`` features."""
    check_input(arch, x)
    spec = arch.spec
    w, n = spec.max_width, spec.max_nodes
    ops = ops_for(spec)
    x = x.astype(jnp.float32)
    mask_f = arch.node_mask.astype(jnp.float32)
    coeff = arch.adj * params["edge_gate"] * mask_f[:, None] * mask_f[None, :]
    out_idx = arch.n_active - 1

    h0 = run(nn.Dense(w), params["stem"], x)
    h0 = h0 * channel_mask(w, arch.width[0])
    acc = coeff[0].reshape(n, 1, 1, 1) * h0[None]

    branches = [(lambda p, h, cfg, op=op: op.apply(p[op.name], h, cfg)) for op in ops]

    def body(carry, node):
        acc, final = carry
        i, op_id, width, kernel, dilation, node_params, row, active = node
        cfg = NodeConfig(width, kernel, dilation)
        y = jax.lax.switch(op_id, branches, node_params, acc[i], cfg)
        y = y * channel_mask(w, width) * active
        acc = acc + row[:, None, None, None] * y[None]
        final = final + jnp.where(i == out_idx, y, 0.0)
        return (acc, final), None

    sl = slice(1, n)
    xs = (
        jnp.arange(1, n),
        arch.ops[sl],
        arch.width[sl],
        arch.kernel[sl],
        arch.dilation[sl],
        jax.tree.map(lambda p: p[sl], params["nodes"]),
        coeff[sl],
        mask_f[sl],
    )
    (_, final), _ = jax.lax.scan(body, (acc, jnp.zeros_like(h0)), xs)
    return read_out(arch.readout, params["readout"], final)


def apply(arch: Arch, params: Params, x: jax.Array) -> jax.Array:
    """Logits of a single ``arch`` on a batch of windows.

    Args:
        arch: A single (unbatched) architecture.
        params: From :func:`init` (bucket shapes).
        x: ``float32[batch, window, n_features]``.

    Returns:
        ``float32[batch, n_classes]`` logits.
    """
    h = embed(arch, params, x)
    return run(nn.Dense(arch.spec.n_classes), params["head"], h)


def pad_params(params: Params, arch: Arch, new_arch: Arch) -> Params:
    """Zero-pad ``params`` of ``arch`` to the bucket of ``new_arch``.

    ``new_arch`` must be ``nasjax.graph.pad_to(arch, spec)``; with the same op
    vocabulary order, ``apply(new_arch, pad_params(...), x)`` equals
    ``apply(arch, params, x)``.
    """
    if tuple(arch.spec.ops) != tuple(new_arch.spec.ops):
        raise ValueError("pad_params: op vocabularies differ; use the same ops order")
    target = jax.eval_shape(init, jax.random.key(0), new_arch)

    def pad(leaf, shape_dtype):
        widths = [
            (0, t - s) for s, t in zip(leaf.shape, shape_dtype.shape, strict=True)
        ]
        if any(p < 0 for _, p in widths):
            raise ValueError(
                f"pad_params: cannot shrink {leaf.shape} to {shape_dtype.shape}"
            )
        return jnp.pad(leaf, widths)

    padded = jax.tree.map(pad, params, target)
    gate = padded["edge_gate"]
    n_old = arch.spec.max_nodes
    # Edge gates of new (inactive) slots start at 1 like a fresh init.
    fresh = jnp.ones_like(gate).at[:n_old, :n_old].set(params["edge_gate"])
    return {**padded, "edge_gate": fresh}


def count_params(arch: Arch) -> jax.Array:
    """Approximate number of *active* trainable parameters, ``int32[]``.

    Counts the stem, the active op of each active node at its active widths,
    the used edge gates and the head; padding is not counted.
    """
    return active_param_count(arch)
