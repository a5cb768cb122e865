"""Causal dilated 1-D convolution (a TCN block) with run-time taps and dilation."""

from __future__ import annotations

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


def _shift(x: jax.Array, steps: int) -> jax.Array:
    """``x`` delayed by ``steps`` along time (axis -2), zero-filled at the start."""
    if steps == 0:
        return x
    n = x.shape[-2]
    if steps >= n:
        return jnp.zeros_like(x)
    pad = [(0, 0)] * x.ndim
    pad[-2] = (steps, 0)
    return jnp.pad(x, pad)[..., :n, :]


class CausalDilatedConv(nn.Module):
    """Causal convolution whose number of taps and dilation are run-time values.

    ``y[t] = b + sum_{k < kernel} x[t - k * dilation] @ W[k]`` with zero
    padding before the series start, so ``y[t]`` depends only on ``x[<= t]``.
    Taps are static shifts selected by the run-time dilation, so one compiled
    model serves every (kernel, dilation) pair of the bucket.

    Attributes:
        features: Output channels (bucket width).
        max_kernel: Capacity of taps.
        dilations: The dilations ``dilation`` may take (static).
    """

    features: int
    max_kernel: int
    dilations: tuple[int, ...] = (1, 2, 4, 8)

    @nn.compact
    def __call__(
        self, x: jax.Array, kernel: jax.Array, dilation: jax.Array
    ) -> jax.Array:
        """Args: ``x: float32[B, T, C]``; returns ``float32[B, T, features]``."""
        n_in = x.shape[-1]
        w = self.param(
            "kernel",
            nn.initializers.variance_scaling(
                1.0, "fan_in", "truncated_normal", in_axis=(0, 1)
            ),
            (self.max_kernel, n_in, self.features),
        )
        b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        taps = [_shift(x, 0)]
        for k in range(1, self.max_kernel):
            # One static shift per allowed dilation, then a select: on CPU this
            # is much cheaper than a gather with a (vmapped) dynamic offset.
            shifted = jnp.zeros_like(x)
            for d in self.dilations:
                shifted = jnp.where(dilation == d, _shift(x, k * d), shifted)
            taps.append(shifted * (k < kernel).astype(x.dtype))
        stacked = jnp.concatenate(taps, axis=-1)
        return stacked @ w.reshape(-1, self.features) + b


def make_conv(width: int, max_kernel: int, dilations: tuple[int, ...]) -> Op:
    """The ``conv`` op: causal dilated convolution followed by GELU."""
    module = CausalDilatedConv(width, max_kernel, tuple(dilations))

    def init(key, in_width, node_width) -> OpParams:
        del node_width
        dummy = jnp.zeros((1, 1, width))
        params = init_params(module, key, dummy, jnp.int32(1), jnp.int32(1))
        return {**params, "kernel": params["kernel"] * fan_scale(width, in_width)}

    def apply(params: OpParams, x: jax.Array, cfg: NodeConfig) -> jax.Array:
        y = run(module, params, x, cfg.kernel, cfg.dilation)
        return nn.gelu(y)

    def zero_new_units(params: OpParams, lo, hi) -> OpParams:
        keep = 1.0 - band_mask(width, lo, hi)
        return jax.tree.map(lambda p: p * keep, params)

    return Op("conv", init, apply, zero_new_units)
