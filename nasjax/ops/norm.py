"""Width-aware layer normalisation and the identity op."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.ops.base import NodeConfig, Op, OpParams, channel_mask, init_params, run


class MaskedLayerNorm(nn.Module):
    """Layer norm over the first ``width`` channels only (the rest are padding).

    Attributes:
        features: Bucket channels.
        epsilon: Variance floor.
    """

    features: int
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, width: jax.Array) -> jax.Array:
        """Args: ``x: float32[..., features]``; returns the same shape."""
        scale = self.param("scale", nn.initializers.ones_init(), (self.features,))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        m = channel_mask(self.features, width, x.dtype)
        n = jnp.maximum(width, 1).astype(x.dtype)
        mean = jnp.sum(x * m, axis=-1, keepdims=True) / n
        centred = (x - mean) * m
        var = jnp.sum(centred**2, axis=-1, keepdims=True) / n
        return centred * jax.lax.rsqrt(var + self.epsilon) * scale + bias


def make_layernorm(width: int) -> Op:
    """The ``layernorm`` op (not widenable: its statistics depend on the width)."""
    module = MaskedLayerNorm(width)

    def init(key, in_width, node_width) -> OpParams:
        del in_width, node_width
        return init_params(module, key, jnp.zeros((1, width)), jnp.int32(width))

    def apply(params: OpParams, x: jax.Array, cfg: NodeConfig) -> jax.Array:
        return run(module, params, x, cfg.width)

    return Op("layernorm", init, apply, None)


def make_identity() -> Op:
    """The ``identity`` op: passes its (summed) input through, cut to its width."""

    def init(key, in_width, node_width) -> OpParams:
        del key, in_width, node_width
        return {}

    def apply(params: OpParams, x: jax.Array, cfg: NodeConfig) -> jax.Array:
        del params, cfg
        return x

    return Op("identity", init, apply, None)
