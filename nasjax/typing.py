"""Type aliases shared across nasjax."""

from __future__ import annotations

from typing import Any

import jax

Key = jax.Array
"""A JAX PRNG key (``jax.random.key``)."""

PyTree = Any
"""Any JAX pytree."""

Params = dict[str, Any]
"""Model parameters: a nested dict of arrays (flax convention)."""

Fitness = jax.Array
"""Per-member fitness, ``float32[P]``; NaN marks a failed member."""
