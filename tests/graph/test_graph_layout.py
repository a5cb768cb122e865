"""``ARCH_FIELDS``, the population helpers' home and the bucket-padding helpers."""

import dataclasses

import jax
import numpy as np
import pytest

import nasjax.graph.build as build
from nasjax.graph import (
    ARCH_FIELDS,
    Arch,
    bucket_indices,
    bucket_size,
    pad_rows,
    pad_to_bucket,
    random_arch,
    repeat_rows,
    stack,
    unstack,
)
from nasjax.graph.arch import stack as arch_stack
from nasjax.graph.arch import unstack as arch_unstack
from nasjax.search.base import FIELDS


def test_arch_fields_are_the_array_leaves_in_order(spec):
    expected = ("ops", "adj", "node_mask", "width", "kernel", "dilation", "readout")
    assert expected == ARCH_FIELDS
    assert FIELDS == ARCH_FIELDS
    names = [f.name for f in dataclasses.fields(Arch)]
    assert names == [*expected, "spec"]
    arch = random_arch(jax.random.key(0), spec)
    assert len(jax.tree.leaves(arch)) == len(ARCH_FIELDS)
    assert tuple(arch.to_numpy()) == ARCH_FIELDS


def test_stack_and_unstack_are_reexported_by_build(spec):
    assert build.stack is arch_stack is stack
    assert build.unstack is arch_unstack is unstack
    archs = [random_arch(jax.random.key(i), spec) for i in range(3)]
    back = unstack(stack(archs))
    assert [a.fingerprint() for a in back] == [a.fingerprint() for a in archs]


@pytest.mark.parametrize("n", [0, 1, 3, 8, 9, 20])
@pytest.mark.parametrize("minimum", [1, 8])
def test_bucket_indices_match_np_resize(n, minimum):
    old = np.resize(np.arange(n), bucket_size(n, minimum))
    new = bucket_indices(n, minimum)
    assert new.dtype == old.dtype and np.array_equal(new, old)


@pytest.mark.parametrize("n", [0, 1, 3, 5])
def test_repeat_rows_matches_np_resize(n):
    keys = np.arange(2 * n, dtype=np.uint32).reshape(n, 2)
    old = np.resize(keys, (bucket_size(n, 8), 2))
    new = repeat_rows(keys, bucket_size(n, 8))
    assert new.dtype == old.dtype and np.array_equal(new, old)
    flags = np.arange(n) % 2 == 0
    for size in (1, 4, 7):
        assert np.array_equal(repeat_rows(flags, size), np.resize(flags, size))
        assert repeat_rows(flags, size).dtype == np.bool_


@pytest.mark.parametrize("n", [0, 1, 5, 8, 13])
def test_pad_to_bucket_matches_nan_fill(n):
    y = np.random.default_rng(n).normal(size=(n, 3))
    old = np.full((bucket_size(n, 8), 3), np.nan, np.float32)
    old[:n] = y
    new = pad_to_bucket(y, 8, dtype=np.float32)
    assert new.dtype == np.float32
    np.testing.assert_array_equal(new, old)
    same = pad_to_bucket(y, 8)
    assert same.dtype == np.float64 and np.array_equal(same[:n], y)
    assert np.isnan(same[n:]).all()


def test_pad_rows_zero_fill_and_size_check():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    out = pad_rows(x, 8, fill=0.0, dtype=np.float64)
    old = np.zeros((8, 2))
    old[:3] = x
    assert out.dtype == np.float64 and np.array_equal(out, old)
    y = pad_rows(np.ones(3), 4, fill=0.0)
    assert np.array_equal(y, [1.0, 1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="smaller than the 3 rows"):
        pad_rows(x, 2)
