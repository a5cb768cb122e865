"""Op schedules: coverage, order, padding, equality with the unrolled loop."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nasjax.nn as nnx
from nasjax.nn.schedule import (
    ScheduleShape,
    build_schedule,
    check_schedule,
    round_steps,
    schedule_steps,
)
from tests.helpers import random_inputs, random_members


@pytest.fixture(scope="module")
def population(spec):
    """Eight members of the shared bucket (built once for the module)."""
    return random_members(spec, 8, 0)


run = jax.jit(nnx.apply_population, static_argnums=(3, 4))


@pytest.mark.parametrize("group", [1, 3])
def test_schedule_runs_every_active_node_once_in_node_order(population, group):
    archs, _ = population
    counts = nnx.member_counts(archs)
    need = schedule_steps(counts, group)
    shape = ScheduleShape(group, need + 2)  # two empty steps at the end
    sched = jax.tree.map(np.asarray, build_schedule(archs, shape))
    a = archs.to_numpy()
    seen = []
    for s in range(shape.n_steps):
        members = sched.members[s][sched.members[s] < 8]
        assert len(members) > 0 or s >= need  # only trailing steps are empty
        for m in members:
            assert a["node_mask"][m, sched.node[s]]
            assert a["ops"][m, sched.node[s]] == sched.op[s]
            seen.append((int(m), int(sched.node[s])))
    active = [(m, i) for m, i in zip(*np.nonzero(a["node_mask"][:, 1:]), strict=True)]
    assert sorted(seen) == sorted((int(m), int(i) + 1) for m, i in active)
    assert (np.diff(sched.node[:need]) >= 0).all()  # predecessors run first


def test_too_short_schedule_is_refused(population):
    archs, _ = population
    counts = nnx.member_counts(archs)
    need = schedule_steps(counts, 2)
    check_schedule(counts, ScheduleShape(2, need))
    with pytest.raises(ValueError, match=f"needs {need} steps of 2 members"):
        check_schedule(counts, ScheduleShape(2, need - 1))
    with pytest.raises(ValueError, match="group must be >= 1"):
        schedule_steps(counts, 0)


def test_apply_population_refuses_a_too_short_schedule(population, x):
    archs, params = population
    need = schedule_steps(nnx.member_counts(archs), 1)
    with pytest.raises(ValueError, match="op schedule too short"):
        nnx.apply_population(archs, params, x, ScheduleShape(1, need - 1), "schedule")


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000))
def test_round_steps_is_a_small_overshoot(n):
    r = round_steps(n)
    assert n <= r <= max(n * 1.125, n + 3)
    assert round_steps(r) == r


def test_capacities_bound_the_schedule(spec, population):
    archs, _ = population
    exact = nnx.node_capacities(archs)
    n, k = spec.max_nodes, spec.n_ops
    counts = nnx.member_counts(archs)
    assert nnx.schedule_shape(exact, n, k).n_steps == schedule_steps(counts, 1)
    loose = nnx.schedule_shape(nnx.op_capacities(archs), n, k)
    assert loose.n_steps >= schedule_steps(counts, 1)
    shape = ScheduleShape(2, 99)
    assert nnx.schedule_shape(shape, n, k) is shape


def test_schedule_equals_unroll_whatever_its_length_and_group(spec, x):
    archs, params = random_members(spec, 8, 3)
    unroll = nnx.apply_population(archs, params, x, node_loop="unroll")
    need = schedule_steps(nnx.member_counts(archs), 1)
    run = jax.jit(nnx.apply_population, static_argnums=(3, 4))
    for shape in (
        ScheduleShape(1, need),
        ScheduleShape(1, need + 5),
        ScheduleShape(3, need),
    ):
        np.testing.assert_allclose(
            run(archs, params, x, shape, "schedule"), unroll, atol=1e-5
        )


def test_schedule_gradients_equal_unroll(spec):
    # The schedule's backward pass is written by hand (one switch per step
    # reruns and differentiates the op): every op of the vocabulary, the
    # edge gates and the inputs must get autodiff's gradients of the
    # unrolled loop, one member per step or several.
    spec = dataclasses.replace(spec, max_nodes=4)
    archs, params = random_members(spec, 6, 4)
    xs = random_inputs(spec, (6, 4), seed=5)
    caps = nnx.node_capacities(archs)
    ops, active = np.asarray(archs.ops)[:, 1:], np.asarray(archs.node_mask)[:, 1:]
    assert {spec.ops[k] for k in ops[active > 0]} == set(spec.ops)  # every op

    def loss(p, x, shape, loop):
        return jnp.sum(jnp.sin(nnx.apply_population(archs, p, x, shape, loop)))

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=(2, 3))
    expected = jax.tree.leaves(grad(params, xs, caps, "unroll"))
    for group in (1, 3):
        shape = nnx.schedule_shape(caps, spec.max_nodes, spec.n_ops, group)
        got = jax.tree.leaves(grad(params, xs, shape, "schedule"))
        for a, b in zip(expected, got, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_nan_member_does_not_leak_through_the_schedule(population, x):
    archs, params = population
    spec = archs.spec
    caps = nnx.node_capacities(archs)
    shape = nnx.schedule_shape(caps, spec.max_nodes, spec.n_ops)
    bad = jax.tree.map(lambda a: a, params)
    bad["stem"]["kernel"] = bad["stem"]["kernel"].at[2].set(jnp.nan)
    out = run(archs, bad, x, shape, "schedule")
    clean = run(archs, params, x, shape, "schedule")
    assert np.isnan(out[2]).all()
    keep = np.array([0, 1, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(np.asarray(out)[keep], np.asarray(clean)[keep])


def test_nan_last_member_does_not_leak_into_gradients(population, x):
    # Empty steps borrow the LAST member's params (and write spare rows):
    # a NaN there must stay in that member's outputs and gradients.
    archs, params = population
    need = schedule_steps(nnx.member_counts(archs), 1)
    shape = ScheduleShape(1, need + 5)  # five empty steps
    bad = jax.tree.map(lambda a: a, params)
    bad["stem"]["kernel"] = bad["stem"]["kernel"].at[7].set(jnp.nan)
    bad["nodes"] = jax.tree.map(lambda a: a.at[7].set(jnp.nan), bad["nodes"])

    def per_member_loss(p):
        out = nnx.apply_population(archs, p, x, shape, "schedule")
        return jnp.sum(out**2, axis=(1, 2))  # [P]

    grad = jax.jit(jax.grad(lambda p: jnp.sum(per_member_loss(p)[:7])))
    clean, dirty = grad(params), grad(bad)
    for a, b in zip(jax.tree.leaves(clean), jax.tree.leaves(dirty), strict=True):
        np.testing.assert_allclose(np.asarray(a)[:7], np.asarray(b)[:7], rtol=1e-6)
