"""Readouts: the output node's ``[batch, T, W]`` sequence to ``[batch, W]`` features.

``Arch.readout`` indexes :data:`~nasjax.graph.READOUTS`:

* ``last`` (0): the last time step, ``final[:, -1]``.
* ``mean`` (1): the mean over the ``T`` steps.
* ``window`` (2): a learned weighting of every step, per channel:
  ``z[b, w] = sum_t params["readout"][t, w] * final[b, t, w]``. Followed by
  the linear head (``[W, C]``) the logits are a linear function of all
  ``T * W`` features of the output node: for two classes any linear function
  (the head's column difference and the time weights multiply into one free
  ``[T, W]`` coefficient), for ``C`` classes one of rank ``W`` at most. So
  stem + ``identity`` + ``window`` readout is a linear model over the whole
  window (``nasjax.graph.zoo.linear_window``).

The time weights are one ``float32[T, W]`` leaf of every member's params
(bucket shapes stay static, ``T * W`` floats). They start at the last-step
readout (1 at step ``T - 1``, 0 elsewhere), so a ``window`` arch begins as
its ``last`` twin and learns how to use the earlier steps; ``last`` and
``mean`` archs ignore them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.graph.spec import READOUTS

WINDOW = READOUTS.index("window")
"""``Arch.readout`` index of the whole-window readout."""


def init_time_weights(window: int, width: int) -> jax.Array:
    """Initial time weights ``float32[window, width]``: the last-step readout."""
    return jnp.zeros((window, width), jnp.float32).at[-1].set(1.0)


def read_out(readout: jax.Array, weights: jax.Array, final: jax.Array) -> jax.Array:
    """The readout of one member's output sequence.

    Args:
        readout: ``int32[]`` index into :data:`~nasjax.graph.READOUTS`.
        weights: ``float32[T, W]`` time weights (``params["readout"]``).
        final: ``float32[batch, T, W]`` output node sequence.

    Returns:
        ``float32[batch, W]``.
    """
    last, mean = final[:, -1], jnp.mean(final, axis=1)
    window = jnp.einsum("btw,tw->bw", final, weights)
    return jnp.where(readout == 0, last, jnp.where(readout == 1, mean, window))


def read_out_static(readout: int, weights: jax.Array, final: jax.Array) -> jax.Array:
    """:func:`read_out` for a concrete ``readout`` (only that readout is traced)."""
    if readout == 0:
        return final[:, -1]
    if readout == 1:
        return jnp.mean(final, axis=1)
    return jnp.einsum("btw,tw->bw", final, weights)


def read_out_population(
    readout: jax.Array, weights: jax.Array, final: jax.Array
) -> jax.Array:
    """:func:`read_out` of every member of a population.

    Args:
        readout: ``int32[P]``.
        weights: ``float32[P, T, W]``.
        final: ``float32[P, batch, T, W]``.

    Returns:
        ``float32[P, batch, W]``.
    """
    last, mean = final[:, :, -1], jnp.mean(final, axis=2)
    window = jnp.einsum("pbtw,ptw->pbw", final, weights)
    r = readout[:, None, None]
    return jnp.where(r == 0, last, jnp.where(r == 1, mean, window))
