"""Op schedules: a population's (node, op) work as a flat list of small groups.

The ``"schedule"`` node loop of :func:`nasjax.nn.apply_population` runs the
network as ONE ``lax.scan`` over steps; step ``s`` applies op ``op[s]`` at
node ``node[s]`` to at most ``group`` members ``members[s]`` (a
``lax.switch`` over the vocabulary picks the op). Steps go node by node,
so every member's inputs are ready when its node runs. Each op is traced
and compiled once however many nodes use it, and only the members that use
an op at a node run it there (up to ``group - 1`` empty slots per (node,
op) pair): the compile time of the scanned node loop with about the work of
the unrolled one.

The schedule is computed inside ``jit`` from the (traced) architectures;
only its length and group size are static (:class:`ScheduleShape`), so one
compiled program serves every population whose schedule fits: a search
reuses it round after round. On the host, :func:`schedule_steps` counts a
population's need and :func:`round_steps` rounds it so that few lengths
recur; :func:`nasjax.nn.schedule_shape` turns op capacities into a shape.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.graph.arch import Arch

#: Members per schedule step by default. On a 2-core CPU one member per step
#: trains as fast as two and faster than four (fewer empty slots), see
#: ``benchmarks/README.md``; accelerators may prefer larger groups.
SCHEDULE_GROUP = 1


class ScheduleShape(NamedTuple):
    """Static size of an op schedule.

    Attributes:
        group: Members per step (the op's vmapped batch of members).
        n_steps: Steps in the schedule (at least the population's need,
            :func:`schedule_steps`; the rest are empty steps).
    """

    group: int
    n_steps: int


class OpSchedule(NamedTuple):
    """An op schedule (arrays, traced under ``jit``).

    Attributes:
        node: ``int32[S]`` node of each step (1..N-1).
        op: ``int32[S]`` op id of each step.
        members: ``int32[S, group]`` members of each step; ``P`` marks an
            empty slot.
    """

    node: jax.Array
    op: jax.Array
    members: jax.Array


def schedule_steps(counts: np.ndarray, group: int) -> int:
    """Steps needed for member counts ``int[N - 1, K]``
    (:func:`nasjax.nn.member_counts`): ``sum ceil(count / group)``."""
    if group < 1:
        raise ValueError(f"group must be >= 1, got {group}")
    return int((-(-np.asarray(counts) // group)).sum())


def round_steps(n_steps: int) -> int:
    """``n_steps`` rounded up so that few distinct lengths recur: to a
    multiple of the power of two at or below ``n_steps / 8``, and of at
    least 4 (at most 12.5% or 3 steps more)."""
    quantum = max(4, 1 << max((n_steps // 8).bit_length() - 1, 0))
    return max(-(-n_steps // quantum) * quantum, quantum)


def check_schedule(counts: np.ndarray, shape: ScheduleShape) -> None:
    """Raise ``ValueError`` if ``shape`` cannot hold member counts ``counts``."""
    need = schedule_steps(counts, shape.group)
    if need > shape.n_steps:
        raise ValueError(
            f"op schedule too short: the population needs {need} steps of "
            f"{shape.group} members, the schedule has {shape.n_steps}"
        )


def build_schedule(archs: Arch, shape: ScheduleShape) -> OpSchedule:
    """The op schedule of a population ``archs`` (``[P]``, may be traced).

    Pairs (node, op) go in node-major order; pair ``q`` with ``c`` members
    takes ``ceil(c / group)`` consecutive steps, its members in index order.
    Steps past the population's need are empty (all slots ``P``). Members
    that do not fit in ``shape.n_steps`` are silently dropped: check with
    :func:`check_schedule` on the host first (``apply_population`` does so
    whenever the architectures are concrete).
    """
    group, n_steps = shape
    p = archs.batch_shape[0]
    n_nodes, n_ops = archs.spec.max_nodes, archs.spec.n_ops
    ops = archs.ops[:, 1:]  # [P, N-1]
    active = archs.node_mask[:, 1:] > 0
    uses = (ops[..., None] == jnp.arange(n_ops)) & active[..., None]  # [P, N-1, K]
    rank = jnp.cumsum(uses, axis=0) - 1  # members before m using the same pair
    n_groups = (jnp.sum(uses, axis=0) + group - 1) // group  # [N-1, K]
    ends = jnp.cumsum(n_groups.reshape(-1))
    starts = ends - n_groups.reshape(-1)
    pair = jnp.arange(n_nodes - 1)[None, :] * n_ops + ops  # [P, N-1]
    r = jnp.take_along_axis(rank, ops[..., None], axis=-1)[..., 0]
    step = jnp.where(active, starts[pair] + r // group, n_steps)  # n_steps: drop
    member = jnp.broadcast_to(jnp.arange(p)[:, None], ops.shape)
    members = jnp.full((n_steps, group), p, jnp.int32)
    members = members.at[step, r % group].set(member.astype(jnp.int32), mode="drop")
    q = jnp.minimum(
        jnp.searchsorted(ends, jnp.arange(n_steps), side="right"),
        (n_nodes - 1) * n_ops - 1,
    )
    return OpSchedule(
        node=(q // n_ops + 1).astype(jnp.int32),
        op=(q % n_ops).astype(jnp.int32),
        members=members,
    )
