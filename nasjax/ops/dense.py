"""Dense op: a per-time-step ``flax.linen.Dense`` plus an activation."""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.ops.base import (
    NodeConfig,
    Op,
    OpParams,
    band_mask,
    fan_scale,
    init_params,
    run,
)


def make_dense(
    name: str, width: int, activation: Callable[[jax.Array], jax.Array]
) -> Op:
    """A dense op on ``width`` bucket channels.

    The activation must satisfy ``activation(0) == 0`` with a non-zero slope
    at 0 (GELU, tanh), so a widened unit with zero incoming weights outputs
    exactly zero yet still receives gradient.
    """
    module = nn.Dense(width)

    def init(key, in_width, node_width) -> OpParams:
        del node_width
        params = init_params(module, key, jnp.zeros((1, width)))
        return {**params, "kernel": params["kernel"] * fan_scale(width, in_width)}

    def apply(params: OpParams, x: jax.Array, cfg: NodeConfig) -> jax.Array:
        del cfg
        return activation(run(module, params, x))

    def zero_new_units(params: OpParams, lo, hi) -> OpParams:
        keep = 1.0 - band_mask(width, lo, hi)
        return jax.tree.map(lambda p: p * keep, params)

    return Op(name, init, apply, zero_new_units)
