"""The op protocol and channel-mask helpers shared by every op.

Every op works on the bucket's full channel count ``W`` and is told at run
time how many of its output channels are active (``width``). Channels at or
above ``width`` must come out exactly zero, and inactive channels of the input
(which are zero) must not influence anything: that is what makes results
independent of the bucket's padding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nasjax.typing import Key

OpParams = dict[str, Any]


class NodeConfig(NamedTuple):
    """Per-node run-time settings (scalars, traced under jit/vmap).

    Attributes:
        width: ``int32[]`` active output channels.
        kernel: ``int32[]`` conv taps.
        dilation: ``int32[]`` conv dilation.
    """

    width: jax.Array
    kernel: jax.Array
    dilation: jax.Array


class Op(NamedTuple):
    """One entry of the op vocabulary, bound to a bucket.

    Attributes:
        name: Op name.
        init: ``(key, in_width, width) -> params`` at bucket shapes, scaled so
            the active block has the fan-in of ``in_width`` / ``width``
            channels rather than of the padded ``W``.
        apply: ``(params, x, cfg) -> y`` with ``x, y: float32[B, T, W]``; ``y``
            need not be masked (the model masks it).
        zero_new_units: ``(params, lo, hi) -> params`` zeroing the weights
            *into* units ``lo <= u < hi`` (and whatever else is needed) so
            widening a node from ``lo`` to ``hi`` channels preserves the
            node's function exactly; ``None`` if the op cannot be widened.
    """

    name: str
    init: Callable[[Key, jax.Array, jax.Array], OpParams]
    apply: Callable[[OpParams, jax.Array, NodeConfig], jax.Array]
    zero_new_units: Callable[[OpParams, jax.Array, jax.Array], OpParams] | None


def init_params(module: Any, key: Key, *args: Any) -> OpParams:
    """``module.init(key, *args)["params"]`` as a plain dict."""
    return dict(module.init(key, *args)["params"])


def run(module: Any, params: OpParams, *args: Any, **kwargs: Any) -> jax.Array:
    """``module.apply({"params": params}, *args)`` typed as an array."""
    return module.apply({"params": params}, *args, **kwargs)


def channel_mask(n_channels: int, width: jax.Array, dtype=jnp.float32) -> jax.Array:
    """``float[n_channels]``: 1 for channels ``< width``, else 0."""
    return (jnp.arange(n_channels) < width).astype(dtype)


def band_mask(n_channels: int, lo: jax.Array, hi: jax.Array) -> jax.Array:
    """``float32[n_channels]``: 1 for channels in ``[lo, hi)``."""
    c = jnp.arange(n_channels)
    return ((c >= lo) & (c < hi)).astype(jnp.float32)


def fan_scale(padded: int, active: jax.Array) -> jax.Array:
    """Factor turning a fan-in-``padded`` init into a fan-in-``active`` one."""
    return jnp.sqrt(padded / jnp.maximum(active, 1).astype(jnp.float32))


def zero_last_axis(leaf: jax.Array, keep: jax.Array) -> jax.Array:
    """Multiply ``leaf`` by ``keep`` broadcast along its last axis."""
    return leaf * keep.astype(leaf.dtype)
