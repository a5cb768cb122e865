"""Shared fixtures. ``nasjax`` is imported first so its XLA settings apply."""

import jax
import pytest

import nasjax  # noqa: F401  (must precede jax initialisation)
from nasjax.graph import ArchSpec


@pytest.fixture(scope="session")
def spec() -> ArchSpec:
    """A small bucket that keeps compiles fast."""
    return ArchSpec(n_features=3, window=8, max_nodes=8, max_width=16)


@pytest.fixture(scope="session")
def x(spec) -> jax.Array:
    """A batch of inputs ``float32[4, window, F]``."""
    return jax.random.normal(jax.random.key(42), (4, spec.window, spec.n_features))
