"""Op vocabulary: op name -> :class:`~nasjax.ops.base.Op` for a bucket."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp

from nasjax.graph.spec import KNOWN_OPS, ArchSpec
from nasjax.ops.attention import make_attention
from nasjax.ops.base import Op
from nasjax.ops.conv import make_conv
from nasjax.ops.dense import make_dense
from nasjax.ops.norm import make_identity, make_layernorm
from nasjax.ops.recurrent import make_recurrent


def make_op(name: str, spec: ArchSpec) -> Op:
    """Build op ``name`` for the bucket ``spec``.

    Raises:
        ValueError: For an unknown op name.
    """
    w = spec.max_width
    factories = {
        "dense_gelu": lambda: make_dense("dense_gelu", w, nn.gelu),
        "dense_tanh": lambda: make_dense("dense_tanh", w, jnp.tanh),
        "conv": lambda: make_conv(w, spec.max_kernel, spec.dilations),
        "lstm": lambda: make_recurrent("lstm", w),
        "gru": lambda: make_recurrent("gru", w),
        "attention": lambda: make_attention(w, spec.head_dim),
        "layernorm": lambda: make_layernorm(w),
        "identity": make_identity,
    }
    if name not in factories:
        raise ValueError(f"unknown op {name!r}; known ops: {list(KNOWN_OPS)}")
    return factories[name]()


@functools.lru_cache(maxsize=64)
def ops_for(spec: ArchSpec) -> tuple[Op, ...]:
    """The bucket's ops in the order of ``spec.ops`` (cached per spec)."""
    return tuple(make_op(name, spec) for name in spec.ops)
