"""Per-fold parameter copies: layout detection, broadcasting, stacking."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax import nn
from nasjax.graph import random_arch, stack
from nasjax.nn.fold_params import (
    as_fold_params,
    broadcast_folds,
    concat_members,
    fold_axis_size,
    stack_members,
)
from tests.helpers import small_spec

SPEC = small_spec(window=4, max_nodes=4, max_width=8, ops=("dense_gelu",))


def params_of(n, seed=0):
    # Archs one by one, eagerly: two population sizes here, and the jitted
    # random_members would compile random_arch once per size.
    keys = jax.random.split(jax.random.key(seed), n)
    archs = stack([random_arch(k, SPEC) for k in keys])
    return jax.vmap(nn.init)(keys, archs)


def test_layout_detection_and_broadcast():
    p = params_of(3)
    assert fold_axis_size(p, SPEC) is None
    f = as_fold_params(p, SPEC)
    assert fold_axis_size(f, SPEC) == 1
    assert as_fold_params(f, SPEC) is f
    b = broadcast_folds(f, 4)
    assert fold_axis_size(b, SPEC) == 4
    for leaf, orig in zip(jax.tree.leaves(b), jax.tree.leaves(p), strict=True):
        np.testing.assert_array_equal(leaf[:, 3], orig)
    with pytest.raises(ValueError, match="4 fold copies, the data has 2 folds"):
        broadcast_folds(b, 2)


def test_bad_layout_is_refused_clearly():
    p = params_of(2)
    two_extra = jax.tree.map(lambda v: v[:, None, None], p)
    with pytest.raises(ValueError, match="match neither"):
        fold_axis_size(two_extra, SPEC)
    with pytest.raises(ValueError, match="leaves"):
        fold_axis_size({"stem": p["stem"]}, SPEC)


def test_stack_and_concat_broadcast_single_copies():
    p = as_fold_params(params_of(2), SPEC)  # [2, 1, ...]
    q = broadcast_folds(as_fold_params(params_of(2, 1), SPEC), 3)  # [2, 3, ...]
    host = jax.tree.map(np.asarray, p)
    one = jax.tree.map(lambda v: v[0], host)  # [1, ...] numpy
    three = jax.tree.map(lambda v: np.asarray(v[0]), q)  # [3, ...]
    s = stack_members([one, jax.tree.map(jnp.asarray, three)])
    assert fold_axis_size(s, SPEC) == 3
    assert all(isinstance(v, np.ndarray) for v in jax.tree.leaves(s))
    for leaf, orig in zip(jax.tree.leaves(s), jax.tree.leaves(one), strict=True):
        np.testing.assert_array_equal(leaf[0, 2], orig[0])
    c = concat_members(p, q)
    assert fold_axis_size(c, SPEC) == 3
    assert jax.tree.leaves(c)[0].shape[0] == 4
    for leaf, orig in zip(jax.tree.leaves(c), jax.tree.leaves(p), strict=True):
        np.testing.assert_array_equal(leaf[:2, 2], jnp.asarray(orig)[:, 0])
