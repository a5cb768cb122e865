"""How a population is trained: a :class:`TrainPlan` and its strategies.

A *strategy* supplies the population forward pass
``(archs[P], params[P], x f32[P, B, T, F]) -> logits f32[P, B, C]`` and the
static shapes it is compiled for; the one training loop
(:mod:`nasjax.train.trainer`) does the rest. The strategies:

* :class:`ScheduledOps`: one ``lax.scan`` over an op schedule (each op
  compiled once; a program serves every population whose schedule fits).
* :class:`DispatchedOps`: the node loop unrolled (``"unroll"``, the fastest
  step, longest compile) or scanned (``"scan"``), each op running only on
  the members that use it.
* :class:`VmappedSwitch`: ``vmap`` of the per-member :func:`nasjax.nn.apply`
  (every node's ``lax.switch`` runs every op for every member): the test
  oracle.
* :class:`Auto` (default): :class:`DispatchedOps` ``("unroll")`` for long
  runs and single members, else :class:`ScheduledOps`
  (:func:`choose_node_loop`).

Every strategy computes the same result to float rounding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable

import jax
import numpy as np

from nasjax.graph.arch import Arch
from nasjax.nn.model import apply
from nasjax.nn.population import (
    Capacities,
    apply_population,
    capacities_from_counts,
    member_counts,
    per_node_capacities,
    schedule_shape,
    shared_capacities,
)
from nasjax.nn.schedule import (
    SCHEDULE_GROUP,
    ScheduleShape,
    round_steps,
    schedule_steps,
)
from nasjax.train.trainer import PopulationForward
from nasjax.typing import PyTree

FOLD_AXIS_MODES: tuple[str, ...] = ("vmap", "scan")
#: Node loops of :class:`DispatchedOps`.
DISPATCH_NODE_LOOPS: tuple[str, ...] = ("unroll", "scan")
#: :class:`Auto` unrolls the node loop from this many member-fold training
#: steps on, and runs the op schedule below. Measured on a 2-core CPU
#: (bucket N=8 / W=32, all 8 ops, one fold): unrolling compiles 10-21 s
#: longer than the schedule and saves 1.5-2.4 ms per member-fold step, so it
#: pays from ~4,000 (P = 8), ~7,900 (P = 32) and ~13,800 (P = 64)
#: member-fold steps on; a search also reuses one schedule program across
#: rounds, where the unrolled loop compiles each round's capacities anew
#: (``benchmarks/README.md``).
UNROLL_MIN_MEMBER_STEPS = 8000


def choose_node_loop(n_members: int, n_folds: int, n_steps: int) -> str:
    """``"unroll"`` when ``n_members * n_folds * n_steps`` is large enough to
    repay the longer compile (:data:`UNROLL_MIN_MEMBER_STEPS`) or for a single
    member (its unrolled program, one op per node, compiles fast), else
    ``"schedule"`` (each op compiled once; see
    :func:`nasjax.nn.embed_population`)."""
    work = n_members * n_folds * n_steps
    if n_members == 1 or work >= UNROLL_MIN_MEMBER_STEPS:
        return "unroll"
    return "schedule"


def plain_capacities(capacities: Capacities) -> Capacities:
    """Capacities (per op or per node) as nested tuples of Python ints."""
    return tuple(
        int(c) if isinstance(c, int | np.integer) else tuple(int(x) for x in c)
        for c in capacities
    )  # type: ignore[return-value]


def _take(tree: PyTree, idx: np.ndarray) -> PyTree:
    return jax.tree.map(lambda x: x[idx], tree)


@dataclasses.dataclass(frozen=True)
class MemberLayout:
    """Where the members of a run go.

    Attributes:
        order: ``int[n_chunks * chunk]`` the members of the chunks one after
            another (padding members, copies of member 0, at the end).
        block: Members per device per chunk.
        n_devices: Devices the chunk is split over.
    """

    order: np.ndarray
    block: int
    n_devices: int


@dataclasses.dataclass(frozen=True)
class VmappedSwitch:
    """``vmap`` of the per-member network: every op runs for every member.

    The simplest forward pass and the oracle the others are tested against;
    no static shapes (one program per bucket and population size).
    """

    def resolve(self, n_members: int, n_folds: int, n_steps: int) -> VmappedSwitch:
        """Itself (a concrete strategy)."""
        return self

    def static_shape(
        self, archs: Arch, layout: MemberLayout, floor: Capacities | None
    ) -> None:
        """None: the forward pass has no population-dependent shapes."""
        return None

    def forward(self, shape: None) -> PopulationForward:
        """``jax.vmap(nasjax.nn.apply)``."""
        return jax.vmap(apply)


@dataclasses.dataclass(frozen=True)
class DispatchedOps:
    """Population-major forward pass: each op runs on its members only.

    Attributes:
        node_loop: ``"unroll"`` (nodes written out, each with its own exact
            per-node capacities: fastest step, about 2.5x the compile time)
            or ``"scan"`` (nodes in ``lax.scan`` with per-op power-of-two
            capacities; see :func:`nasjax.nn.embed_population`).
    """

    node_loop: str = "unroll"

    def __post_init__(self):
        if self.node_loop not in DISPATCH_NODE_LOOPS:
            raise ValueError(
                f"DispatchedOps.node_loop must be one of {DISPATCH_NODE_LOOPS}, "
                f"got {self.node_loop!r} (the op schedule is ScheduledOps())"
            )

    def resolve(self, n_members: int, n_folds: int, n_steps: int) -> DispatchedOps:
        """Itself (a concrete strategy)."""
        return self

    def static_shape(
        self, archs: Arch, layout: MemberLayout, floor: Capacities | None
    ) -> Capacities:
        """Op capacities enough for the real members of every device block.

        Chunks are split into device blocks of ``layout.block`` consecutive
        members (padding only at the end, behind the real members, so a
        block's real members always get the op slots first). The counts are
        the most over the blocks (with one device: the whole population's);
        ``"unroll"`` gets exact per-node capacities, ``"scan"`` per-op powers
        of two (:func:`nasjax.nn.population.capacities_from_counts`).
        ``floor`` (per op or per node) raises every capacity to at least its
        entry; all are at most ``layout.block``.

        Raises:
            ValueError: If ``floor`` does not fit the bucket.
        """
        per_node = self.node_loop == "unroll"
        spec = archs.spec
        n = archs.batch_shape[0]
        block = layout.block
        step = block if layout.n_devices > 1 else n
        counts = np.max(
            [
                member_counts(_take(archs, np.arange(i, min(i + step, n))))
                for i in range(0, n, step)
            ],
            axis=0,
        )
        caps = np.asarray(capacities_from_counts(counts, block, per_node))
        if floor is not None:
            try:
                rows = np.asarray(
                    per_node_capacities(floor, spec.max_nodes, spec.n_ops)
                )
            except ValueError as e:
                raise ValueError(f"min_capacities: {e}") from None
            caps = np.maximum(caps, rows if per_node else rows.max(axis=0))
        caps = np.minimum(caps, block)
        if per_node:
            return tuple(tuple(int(c) for c in row) for row in caps)
        return tuple(int(c) for c in caps)

    def canonical_shape(self, shape: Capacities) -> Hashable:
        """``shape`` as plain ints (a cache key); ``"scan"`` reduces per-node
        capacities to their per-op maximum (the one node body every node
        shares)."""
        if self.node_loop == "scan":
            return shared_capacities(shape)
        return plain_capacities(shape)

    def forward(self, shape: Capacities) -> PopulationForward:
        """:func:`nasjax.nn.apply_population` with these capacities."""
        node_loop = self.node_loop

        def forward(archs, params, x):
            return apply_population(archs, params, x, shape, node_loop)

        return forward


@dataclasses.dataclass(frozen=True)
class ScheduledOps:
    """One ``lax.scan`` over an op schedule (:mod:`nasjax.nn.schedule`).

    Each op is compiled once, only the members using an op run it, and the
    schedule's length is rounded so that later populations of similar size
    reuse the compiled program.
    """

    def resolve(self, n_members: int, n_folds: int, n_steps: int) -> ScheduledOps:
        """Itself (a concrete strategy)."""
        return self

    def static_shape(
        self, archs: Arch, layout: MemberLayout, floor: Capacities | None
    ) -> ScheduleShape:
        """An op schedule long enough for every device block of every chunk.

        Padding members are scheduled like the others. The length is rounded
        up (:func:`nasjax.nn.schedule.round_steps`); ``floor`` (capacities
        per op or per node) raises it to the schedule those capacities bound.

        Raises:
            ValueError: If ``floor`` does not fit the bucket.
        """
        spec = archs.spec
        order, block = layout.order, layout.block
        need = max(
            schedule_steps(
                member_counts(_take(archs, order[i : i + block])), SCHEDULE_GROUP
            )
            for i in range(0, len(order), block)
        )
        if floor is not None:
            try:
                least = schedule_shape(floor, spec.max_nodes, spec.n_ops).n_steps
            except ValueError as e:
                raise ValueError(f"min_capacities: {e}") from None
            need = max(need, least)
        return ScheduleShape(SCHEDULE_GROUP, round_steps(need))

    def canonical_shape(self, shape: ScheduleShape | Capacities) -> Hashable:
        """``shape`` with plain ints (a cache key); capacities (per op or per
        node) stand for the schedule they bound
        (:func:`nasjax.nn.schedule_shape`)."""
        if isinstance(shape, ScheduleShape):
            return ScheduleShape(*(int(c) for c in shape))
        return plain_capacities(shape)

    def forward(self, shape: ScheduleShape | Capacities) -> PopulationForward:
        """:func:`nasjax.nn.apply_population` over this op schedule."""

        def forward(archs, params, x):
            return apply_population(archs, params, x, shape, "schedule")

        return forward


ConcreteStrategy = VmappedSwitch | DispatchedOps | ScheduledOps


@dataclasses.dataclass(frozen=True)
class Auto:
    """``DispatchedOps("unroll")`` or ``ScheduledOps()`` by the run's size
    (:func:`choose_node_loop` of the members, folds and ``cfg.n_steps``)."""

    def resolve(self, n_members: int, n_folds: int, n_steps: int) -> ConcreteStrategy:
        """The concrete strategy for a run of this size."""
        if choose_node_loop(n_members, n_folds, n_steps) == "unroll":
            return DispatchedOps("unroll")
        return ScheduledOps()


Strategy = Auto | ConcreteStrategy
STRATEGIES: tuple[type, ...] = (Auto, DispatchedOps, ScheduledOps, VmappedSwitch)


@dataclasses.dataclass(frozen=True)
class TrainPlan:
    """How :func:`~nasjax.train.train_population` runs a population.

    None of it changes the result beyond float rounding.

    Attributes:
        strategy: The population forward pass: :class:`Auto` (default),
            :class:`ScheduledOps`, :class:`DispatchedOps` or
            :class:`VmappedSwitch`.
        fold_axis: ``"vmap"`` (folds in parallel) or ``"scan"`` (sequential,
            K times less activation memory).
        chunk_size: Members trained at once (default: the memory guard's
            plan from ``TrainConfig.memory_budget_bytes``).
        min_capacities: With an op strategy, a floor on the static
            capacities: one per op of the bucket (every node alike) or one
            row of those per node 1..N-1 (with :class:`ScheduledOps`: on the
            schedule length they bound). A search passes the elementwise
            max of its earlier rounds' capacities so that the op mix of a
            new round rarely changes the compiled shapes.
        shard: Shard the population axis over every device of every process
            (with one process: all local devices). False: each process
            trains the whole population on its first device.
    """

    strategy: Strategy = dataclasses.field(default_factory=Auto)
    fold_axis: str = "vmap"
    chunk_size: int | None = None
    min_capacities: Capacities | None = None
    shard: bool = True

    def __post_init__(self):
        if not isinstance(self.strategy, STRATEGIES):
            names = ", ".join(f"{s.__name__}()" for s in STRATEGIES)
            raise ValueError(
                f"TrainPlan.strategy must be one of {names}, got {self.strategy!r}"
            )
        if self.fold_axis not in FOLD_AXIS_MODES:
            raise ValueError(
                f"TrainPlan.fold_axis must be one of {FOLD_AXIS_MODES}, "
                f"got {self.fold_axis!r}"
            )
        if self.chunk_size is not None and (
            isinstance(self.chunk_size, bool)
            or not isinstance(self.chunk_size, int | np.integer)
            or self.chunk_size < 1
        ):
            raise ValueError(
                f"TrainPlan.chunk_size must be a positive int or None, "
                f"got {self.chunk_size!r}"
            )
        if self.min_capacities is not None and isinstance(self.strategy, VmappedSwitch):
            raise ValueError(
                "TrainPlan.min_capacities applies to op strategies only "
                "(VmappedSwitch has no capacities)"
            )
