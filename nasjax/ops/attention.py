"""Causal temporal self-attention: ``flax.linen.MultiHeadDotProductAttention``."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.ops.base import NodeConfig, Op, OpParams, band_mask, channel_mask, fan_scale


def sinusoidal_positions(
    n_steps: int, n_channels: int, period_dim: int = 64
) -> jax.Array:
    """``float32[n_steps, n_channels]`` sinusoidal encodings.

    Frequencies depend on ``period_dim`` only (not on ``n_channels``), so a
    channel's encoding is the same in every bucket.
    """
    pos = jnp.arange(n_steps, dtype=jnp.float32)[:, None]
    c = jnp.arange(n_channels)
    freq = 1.0 / (10000.0 ** ((2 * (c // 2)) / period_dim))
    angle = pos * freq[None, :]
    return jnp.where(c % 2 == 0, jnp.sin(angle), jnp.cos(angle))


def make_attention(width: int, head_dim: int) -> Op:
    """The ``attention`` op: causal multi-head self-attention over time.

    Heads have a fixed ``head_dim``; channel ``c`` belongs to head
    ``c // head_dim``. Query/key/value channels at or above the node width are
    masked, and a sinusoidal position encoding (masked to the node width) is
    added to the input.
    """
    n_heads = width // head_dim
    module = nn.MultiHeadDotProductAttention(
        num_heads=n_heads, qkv_features=width, out_features=width, deterministic=True
    )

    def init(key, in_width, node_width) -> OpParams:
        x = jnp.zeros((1, 1, width))
        params = module.init(key, x, x)["params"]
        s_in, s_hid = fan_scale(width, in_width), fan_scale(width, node_width)
        out = {k: dict(v) for k, v in params.items()}
        for k in ("query", "key", "value"):
            out[k]["kernel"] = out[k]["kernel"] * s_in
        out["out"]["kernel"] = out["out"]["kernel"] * s_hid
        return out

    def apply(params: OpParams, x: jax.Array, cfg: NodeConfig) -> jax.Array:
        keep = channel_mask(width, cfg.width).reshape(n_heads, head_dim)
        masked = dict(params)
        for k in ("query", "key", "value"):
            masked[k] = jax.tree.map(lambda p: p * keep, params[k])
        pos = sinusoidal_positions(x.shape[-2], width) * channel_mask(width, cfg.width)
        h = x + pos
        causal = nn.make_causal_mask(jnp.ones(x.shape[:-1], jnp.int32))
        return module.apply({"params": masked}, h, h, mask=causal)

    def zero_new_units(params: OpParams, lo, hi) -> OpParams:
        new = band_mask(width, lo, hi)
        keep_heads = (1.0 - new).reshape(n_heads, head_dim)
        out = {k: dict(v) for k, v in params.items()}
        # New key channels are zero: scores are unchanged while new queries
        # (kept random) give them gradient.
        out["key"] = jax.tree.map(lambda p: p * keep_heads, params["key"])
        # New value channels stay random but reach no output: the output
        # projection's rows for them and its columns for new outputs are zero.
        kernel = params["out"]["kernel"] * keep_heads[:, :, None]
        out["out"] = {
            "kernel": kernel * (1.0 - new),
            "bias": params["out"]["bias"] * (1.0 - new),
        }
        return out

    return Op("attention", init, apply, zero_new_units)
