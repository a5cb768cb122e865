import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.ops import NodeConfig, make_op
from tests.helpers import small_spec

SPEC = small_spec(window=10)


@pytest.mark.parametrize("name", ["conv", "lstm", "gru", "attention", "dense_gelu"])
def test_op_output_at_t_ignores_the_future(name):
    op = make_op(name, SPEC)
    params = op.init(jax.random.key(0), jnp.int32(16), jnp.int32(16))
    x = jax.random.normal(jax.random.key(1), (2, 10, 16))
    cfg = NodeConfig(jnp.int32(16), jnp.int32(3), jnp.int32(2))
    y = op.apply(params, x, cfg)
    y_future = op.apply(params, x.at[:, 6:].set(50.0), cfg)
    np.testing.assert_allclose(y[:, :6], y_future[:, :6], rtol=1e-5, atol=1e-5)
    assert not np.allclose(y[:, 6:], y_future[:, 6:])


def test_conv_respects_kernel_and_dilation():
    op = make_op("conv", SPEC)
    params = op.init(jax.random.key(0), jnp.int32(16), jnp.int32(16))
    x = jnp.zeros((1, 10, 16)).at[0, 2].set(1.0)  # an impulse at t = 2
    cfg = NodeConfig(jnp.int32(16), jnp.int32(2), jnp.int32(4))
    y = op.apply(params, x, cfg)
    baseline = op.apply(params, jnp.zeros_like(x), cfg)
    changed = np.flatnonzero(np.abs(np.asarray(y - baseline)).sum(-1)[0] > 1e-6)
    assert changed.tolist() == [2, 6]  # taps at lags 0 and 1 * dilation


def test_unknown_op_name():
    with pytest.raises(ValueError, match="unknown op"):
        make_op("resnet", SPEC)
