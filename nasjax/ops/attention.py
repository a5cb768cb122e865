"""Causal temporal self-attention: ``flax.linen.MultiHeadDotProductAttention``."""

from __future__ import annotations

import functools

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


def alibi_bias(n_steps: int, n_heads: int) -> jax.Array:
    """``float32[n_heads, n_steps, n_steps]`` linear recency bias (ALiBi).

    Head ``h`` penalises attending ``d`` steps back by ``d * 2**-(h % 8 + 1)``.
    The slope depends on the head index only, never on the number of heads,
    so a head behaves the same in every bucket; and the bias leaves
    zero-initialised (widened) channels silent.
    """
    pos = jnp.arange(n_steps)
    distance = jnp.maximum(pos[:, None] - pos[None, :], 0).astype(jnp.float32)
    slopes = 2.0 ** -(jnp.arange(n_heads) % 8 + 1.0)
    return -slopes[:, None, None] * distance[None]


def make_attention(width: int, head_dim: int) -> Op:
    """The ``attention`` op: causal multi-head self-attention over time.

    Heads have a fixed ``head_dim``; channel ``c`` belongs to head
    ``c // head_dim``. Query/key/value channels at or above the node width are
    masked. Position enters through an ALiBi recency bias on the scores
    (:func:`alibi_bias`), which, unlike an additive input encoding, keeps
    widening function-preserving and results independent of padding.
    """
    n_heads = width // head_dim
    module = nn.MultiHeadDotProductAttention(
        num_heads=n_heads, qkv_features=width, out_features=width, deterministic=True
    )

    def biased_module(n_steps: int) -> nn.MultiHeadDotProductAttention:
        bias = alibi_bias(n_steps, n_heads)
        return module.clone(
            attention_fn=functools.partial(nn.dot_product_attention, bias=bias)
        )

    def init(key, in_width, node_width) -> OpParams:
        x = jnp.zeros((1, 1, width))
        params = init_params(module, key, x, x)
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
        causal = nn.make_causal_mask(jnp.ones(x.shape[:-1], jnp.int32))
        return run(biased_module(x.shape[-2]), masked, x, x, mask=causal)

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
