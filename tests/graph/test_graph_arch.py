import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasjax.graph import (
    Arch,
    ArchSpec,
    chain,
    pad_to,
    random_arch,
    stack,
    unstack,
    validate,
)
from tests.helpers import small_spec

seeds = st.integers(0, 2**31 - 1)


def test_spec_is_hashable_and_static(spec):
    assert hash(spec) == hash(small_spec())
    arch = random_arch(jax.random.key(0), spec)
    leaves = jax.tree.leaves(arch)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    assert len(leaves) == 7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_nodes": 6}, "power of two"),
        ({"max_width": 24}, "power of two"),
        ({"ops": ("dense_gelu", "nope")}, "unknown ops"),
        ({"max_width": 4}, "multiple of head_dim"),
        ({"n_features": 0}, "n_features"),
    ],
)
def test_bad_spec_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ArchSpec(**{"n_features": 3, "window": 8, **kwargs})


@settings(max_examples=30, deadline=None)
@given(seeds)
def test_random_arch_is_valid(spec, seed):
    validate(random_arch(jax.random.key(seed), spec))


def test_random_arch_jit_and_vmap(spec):
    keys = jax.random.split(jax.random.key(1), 5)
    pop = jax.jit(jax.vmap(random_arch, in_axes=(0, None)), static_argnums=1)(
        keys, spec
    )
    assert pop.batch_shape == (5,)
    validate(pop)
    for k, member in zip(keys, unstack(pop), strict=True):
        single = random_arch(k, spec)
        assert member.to_json() == single.to_json()


@settings(max_examples=30, deadline=None)
@given(seeds)
def test_json_round_trip(spec, seed):
    arch = random_arch(jax.random.key(seed), spec)
    back = Arch.from_json(arch.to_json())
    assert back.spec == arch.spec
    for a, b in zip(jax.tree.leaves(arch), jax.tree.leaves(back), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert back.to_json() == arch.to_json()


def test_from_json_rejects_garbage():
    with pytest.raises(ValueError, match="not a serialised"):
        Arch.from_json('{"spec": {}}')


def test_chain_builds_sequential_stack(spec):
    arch = chain(spec, ["lstm", "dense_gelu"], [16, 8], readout="mean")
    a = arch.to_numpy()
    assert a["node_mask"].sum() == 3
    assert a["adj"][0, 1] and a["adj"][1, 2] and a["adj"].sum() == 2
    assert [spec.ops[i] for i in a["ops"][1:3]] == ["lstm", "dense_gelu"]
    assert a["width"][:3].tolist() == [16, 16, 8]


def test_chain_rejects_too_many_nodes(spec):
    with pytest.raises(ValueError, match="max_nodes"):
        chain(spec, ["identity"] * 8, [8] * 8)


def test_stack_unstack_round_trip(spec):
    archs = [random_arch(jax.random.key(i), spec) for i in range(3)]
    pop = stack(archs)
    assert pop.batch_shape == (3,)
    assert [a.to_json() for a in unstack(pop)] == [a.to_json() for a in archs]


def test_stack_refuses_mixed_buckets(spec):
    a = random_arch(jax.random.key(0), spec)
    b = random_arch(jax.random.key(0), spec.grown(max_width=32))
    with pytest.raises(ValueError, match="different buckets"):
        stack([a, b])


@settings(max_examples=20, deadline=None)
@given(seeds)
def test_fingerprint_ignores_padding(spec, seed):
    arch = random_arch(jax.random.key(seed), spec)
    big = pad_to(arch, spec.grown(max_nodes=16, max_width=64))
    validate(big)
    assert big.fingerprint() == arch.fingerprint()


def test_fingerprint_ignores_inactive_garbage_and_vocab_order(spec):
    arch = chain(spec, ["conv", "gru"], [8, 8])
    dirty = arch.replace(width=arch.width.at[5].set(3), ops=arch.ops.at[6].set(2))
    assert dirty.fingerprint() == arch.fingerprint()
    reordered = small_spec(ops=tuple(reversed(spec.ops)))
    assert pad_to(arch, reordered).fingerprint() == arch.fingerprint()


def test_fingerprint_ignores_order_of_parallel_nodes(spec):
    # 0 -> {1, 2} -> 3 with the two parallel nodes listed in either order.
    base = chain(spec, ["gru", "lstm", "dense_gelu"], [8, 8, 8], skips=[(0, 2), (1, 3)])
    adj = np.array(base.adj)
    adj[1, 2] = False
    a = base.replace(adj=jnp.asarray(adj))
    ops = np.array(a.ops)
    ops[[1, 2]] = ops[[2, 1]]
    b = a.replace(ops=jnp.asarray(ops))
    validate(a)
    validate(b)
    assert a.fingerprint() == b.fingerprint()


def test_fingerprint_sees_every_part(spec):
    arch = chain(spec, ["conv", "dense_gelu"], [8, 8])
    variants = [
        arch.replace(width=arch.width.at[1].set(16)),
        arch.replace(ops=arch.ops.at[2].set(spec.op_id("dense_tanh"))),
        arch.replace(kernel=arch.kernel.at[1].set(2)),
        arch.replace(dilation=arch.dilation.at[1].set(2)),
        arch.replace(adj=arch.adj.at[0, 2].set(True)),
        arch.replace(readout=jnp.int32(1)),
    ]
    prints = {v.fingerprint() for v in variants} | {arch.fingerprint()}
    assert len(prints) == len(variants) + 1
