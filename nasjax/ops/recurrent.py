"""LSTM and GRU ops: ``flax.linen.RNN`` over time with width-masked units."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.ops.base import (
    NodeConfig,
    Op,
    OpParams,
    band_mask,
    channel_mask,
    fan_scale,
    init_params,
    run,
)


def _scale_leaf(path: tuple, leaf: jax.Array, in_scale, hid_scale) -> jax.Array:
    gate = str(getattr(path[-2], "key", path[-2]))
    is_kernel = str(getattr(path[-1], "key", path[-1])) == "kernel"
    if not is_kernel:
        return leaf
    return leaf * (hid_scale if gate.startswith("h") else in_scale)


def make_recurrent(name: str, width: int) -> Op:
    """An ``lstm`` (``OptimizedLSTMCell``) or ``gru`` (``GRUCell``) op.

    Units at or above ``width`` get all their weights and biases masked to
    zero, so their state stays exactly zero and never feeds active units.
    """
    cell = nn.OptimizedLSTMCell(width) if name == "lstm" else nn.GRUCell(width)
    module = nn.RNN(cell)

    def init(key, in_width, node_width) -> OpParams:
        params = init_params(module, key, jnp.zeros((1, 1, width)))
        in_s, hid_s = fan_scale(width, in_width), fan_scale(width, node_width)
        return jax.tree_util.tree_map_with_path(
            lambda p, x: _scale_leaf(p, x, in_s, hid_s), params
        )

    def apply(params: OpParams, x: jax.Array, cfg: NodeConfig) -> jax.Array:
        keep = channel_mask(width, cfg.width)
        masked = jax.tree.map(lambda p: p * keep, params)
        return run(module, masked, x)

    def zero_new_units(params: OpParams, lo, hi) -> OpParams:
        keep = 1.0 - band_mask(width, lo, hi)
        return jax.tree.map(lambda p: p * keep, params)

    return Op(name, init, apply, zero_new_units)
