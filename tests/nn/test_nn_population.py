import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nasjax.nn as nnx
from nasjax.graph import chain, stack
from tests.helpers import random_inputs, random_members

vmapped = jax.jit(jax.vmap(nnx.apply, in_axes=(0, 0, None)))
dispatched = jax.jit(nnx.apply_population, static_argnums=(3, 4))
# The op schedule ("schedule") is held equal to the unrolled loop in
# test_schedule.py; here the two capacity-based loops.
NODE_LOOPS = pytest.mark.parametrize(
    "node_loop",
    # The unrolled loop compiles slowest; schedule == unroll is held fast in
    # test_schedule.py.
    [pytest.param("unroll", marks=pytest.mark.slow), "scan"],
)


@NODE_LOOPS
def test_dispatch_equals_vmapped_switch(spec, x, node_loop):
    spec = dataclasses.replace(spec, max_nodes=4)  # a 4-node bucket compiles fast
    archs, params = random_members(spec, 8, 0)
    caps = nnx.op_capacities(archs)
    np.testing.assert_allclose(
        dispatched(archs, params, x, caps, node_loop),
        vmapped(archs, params, x),
        atol=2e-5,
    )


@NODE_LOOPS
def test_per_member_batches_and_gradients_match(spec, node_loop):
    ops = ("dense_gelu", "conv", "gru", "attention", "identity")
    spec = dataclasses.replace(spec, max_nodes=4, ops=ops)  # compiles fast
    archs, params = random_members(spec, 6, 1)
    caps = nnx.op_capacities(archs)
    xs = random_inputs(spec, (6, 4), seed=2)

    def loss_dispatch(p):
        return jnp.sum(nnx.apply_population(archs, p, xs, caps, node_loop) ** 2)

    def loss_vmap(p):
        return jnp.sum(jax.vmap(nnx.apply)(archs, p, xs) ** 2)

    g1 = jax.jit(jax.grad(loss_dispatch))(params)
    g2 = jax.jit(jax.grad(loss_vmap))(params)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_capacities_count_members_per_node(spec):
    a = chain(spec, ["lstm", "lstm"], [8, 8])
    b = chain(spec, ["lstm", "gru"], [8, 8])
    c = chain(spec, ["conv", "gru"], [8, 8])
    caps = dict(zip(spec.ops, nnx.op_capacities(stack([a, b, c])), strict=True))
    assert caps["lstm"] == 2  # two members use lstm at node 1
    assert caps["gru"] == 2
    assert caps["conv"] == 1
    assert caps["attention"] == 0


def test_node_capacities_are_exact_member_counts_per_node(spec):
    a = chain(spec, ["lstm", "lstm"], [8, 8])
    b = chain(spec, ["lstm", "gru"], [8, 8])
    c = chain(spec, ["conv", "gru"], [8, 8])
    rows = nnx.node_capacities(stack([a, b, c]))
    assert len(rows) == spec.max_nodes - 1
    node = [dict(zip(spec.ops, row, strict=True)) for row in rows]
    assert (node[0]["lstm"], node[0]["conv"], node[0]["gru"]) == (2, 1, 0)
    assert (node[1]["lstm"], node[1]["gru"], node[1]["conv"]) == (1, 2, 0)
    assert all(sum(row) == 0 for row in rows[2:])  # inactive nodes: no slots
    # The per-op capacities are the power-of-two maximum over the nodes.
    assert nnx.op_capacities(stack([a, b, c]))[spec.ops.index("gru")] == 2


# Unrolled with per-node capacities against scanned with per-op ones is also
# held equal in tests/train (test_node_scan_and_schedule_equal_node_unroll).
@pytest.mark.parametrize(
    "node_loop", [pytest.param("unroll", marks=pytest.mark.slow), "scan"]
)
def test_per_node_and_per_op_capacities_give_the_same_logits(spec, x, node_loop):
    spec = dataclasses.replace(spec, max_nodes=4)
    archs, params = random_members(spec, 8, 8)
    per_node = dispatched(archs, params, x, nnx.node_capacities(archs), node_loop)
    per_op = dispatched(archs, params, x, nnx.op_capacities(archs), node_loop)
    np.testing.assert_allclose(per_node, per_op, atol=1e-6)
    np.testing.assert_allclose(
        nnx.apply_population(archs, params, x, node_loop=node_loop), per_op, atol=1e-6
    )


def test_badly_shaped_capacities_are_refused(spec, x):
    archs, params = random_members(spec, 8, 9)
    rows = nnx.node_capacities(archs)
    with pytest.raises(ValueError, match="capacities must hold"):
        nnx.apply_population(archs, params, x, rows[:-1])
    with pytest.raises(ValueError, match="capacities must hold"):
        nnx.apply_population(archs, params, x, (4,))


def test_too_small_capacities_are_refused(spec):
    archs, _ = random_members(spec, 8, 3)
    caps = nnx.op_capacities(archs)
    nnx.check_capacities(archs, caps)
    small = tuple(max(c // 2, 0) for c in caps)
    with pytest.raises(ValueError, match="capacities too small"):
        nnx.check_capacities(archs, small)
    rows = [list(r) for r in nnx.node_capacities(archs)]
    nnx.check_capacities(archs, tuple(map(tuple, rows)))
    i, k = np.argwhere(np.asarray(rows) > 0)[0]
    rows[i][k] -= 1
    with pytest.raises(ValueError, match=f"node {i + 1} {spec.ops[k]}: needs"):
        nnx.check_capacities(archs, tuple(map(tuple, rows)))


def test_unknown_node_loop_is_refused(spec, x):
    archs, params = random_members(spec, 8, 7)
    with pytest.raises(ValueError, match="node_loop must be one of"):
        nnx.apply_population(archs, params, x, node_loop="while")


def test_capacities_required_under_jit(spec, x):
    archs, params = random_members(spec, 8, 4)
    with pytest.raises(ValueError, match="static capacities"):
        jax.jit(nnx.apply_population)(archs, params, x)


def test_one_compile_per_capacity_signature(spec, x):
    traces = []

    def counted(archs, params, xb, caps):
        traces.append(caps)
        return nnx.apply_population(archs, params, xb, caps)

    f = jax.jit(counted, static_argnums=3)
    caps = tuple(8 for _ in spec.ops)  # generous: fits any population of 8
    for seed in (5, 6):
        archs, params = random_members(spec, 8, seed)
        f(archs, params, x, caps)
    assert len(traces) == 1
