"""``nasjax.compile_guard``: compiled programs are dropped before a process
runs out of memory mappings."""

import jax
import jax.numpy as jnp
import pytest

from nasjax.compile_guard import map_usage, relieve

pytestmark = pytest.mark.skipif(map_usage() is None, reason="needs Linux /proc")


def test_usage_reads_this_process():
    usage = map_usage()
    assert usage is not None
    held, limit = usage
    assert 0 < held < limit


def test_relieve_drops_compiled_programs_only_above_the_fraction():
    f = jax.jit(lambda x: jnp.sin(x) * 2)
    f(jnp.ones(3))
    assert f._cache_size() == 1  # type: ignore[attr-defined]
    assert not relieve(1.0)  # a test process is far below the limit
    assert f._cache_size() == 1  # type: ignore[attr-defined]
    assert relieve(1e-9)  # any process holds more than that
    assert f._cache_size() == 0  # type: ignore[attr-defined]
    f(jnp.ones(3))  # and recompiles on demand
    assert f._cache_size() == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("fraction", [0.0, -1.0, 1.5])
def test_bad_fraction(fraction):
    with pytest.raises(ValueError, match="fraction"):
        relieve(fraction)
