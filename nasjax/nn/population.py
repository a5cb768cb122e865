"""Population-major forward pass with per-op dispatch (mixture-of-experts style).

``jax.vmap(nn.apply)`` over a population turns every node's ``lax.switch``
into "run every op for every member, then select": with the full vocabulary
that wastes most of the compute (see ``benchmarks/bench_morph.py``).
:func:`apply_population` instead runs, at each node, each op only on the
members that use it: their indices are gathered into a static-capacity slot
(``capacities[i][k]`` members for op ``k`` at node ``i``), the op runs
vmapped on that slot, and the results are scattered back. Capacities come
from the concrete population on the host: :func:`node_capacities`, exactly
each node's members (the unrolled node loop), or :func:`op_capacities`, one
power of two per op for every node alike, so that few distinct shapes recur
(the scanned node loop).

The node loop is written out in Python by default (``node_loop="unroll"``):
node ``i`` reads only its ``i`` possible predecessors, and nothing carries a
``[P, N, batch, T, W]`` accumulator from node to node. A training step is
2.3-4.6x faster than with the ``lax.scan`` over nodes (``"scan"``) on a
2-core CPU, for 1.8-3.1x the compile time (``benchmarks/README.md``).
``node_loop="schedule"`` (:mod:`nasjax.nn.schedule`,
:mod:`nasjax.nn.schedule_loop`) compiles each op once and still runs each op
only for its members: a training step 1.3-1.4x slower than unrolled, 2-3.5x
faster to compile, and one program serves many populations.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.graph.arch import Arch
from nasjax.graph.spec import bucket_size
from nasjax.nn.readout import read_out_population
from nasjax.nn.schedule import (
    SCHEDULE_GROUP,
    ScheduleShape,
    check_schedule,
    schedule_steps,
)
from nasjax.nn.schedule_loop import scheduled_nodes
from nasjax.ops.base import NodeConfig, channel_mask, run
from nasjax.ops.registry import ops_for
from nasjax.typing import Params


def _is_concrete(x: jax.Array) -> bool:
    try:
        np.asarray(x)
    except jax.errors.TracerArrayConversionError:
        return False
    return True


Capacities = tuple[int, ...] | tuple[tuple[int, ...], ...]
"""Static op capacities: one per op (every node alike) or one row per node."""


def _check_population(archs: Arch, caller: str) -> None:
    if len(archs.batch_shape) != 1:
        raise ValueError(f"{caller} needs a population [P], got {archs.batch_shape}")


def member_counts(archs: Arch) -> np.ndarray:
    """Members of a concrete population ``archs`` (``[P]``) using each op at
    each node: ``int[N - 1, K]`` (nodes 1..N-1; inactive nodes count for none).
    """
    _check_population(archs, "member_counts")
    a = archs.to_numpy()
    ops, mask = a["ops"][:, 1:], a["node_mask"][:, 1:].astype(bool)
    n_ops = archs.spec.n_ops
    return ((ops[:, :, None] == np.arange(n_ops)) & mask[:, :, None]).sum(axis=0)


def capacities_from_counts(
    counts: np.ndarray, n_members: int, per_node: bool
) -> Capacities:
    """Static capacities from member counts ``int[N - 1, K]``.

    ``per_node=True``: exactly the counts, one row per node. ``False``: one
    capacity per op, the most members using it at any one node rounded up to
    a power of two (at most ``n_members``), so few distinct shapes recur.
    """
    counts = np.asarray(counts)
    if per_node:
        return tuple(tuple(int(c) for c in row) for row in counts)
    most = counts.max(axis=0, initial=0)
    return tuple(0 if c == 0 else min(bucket_size(int(c)), n_members) for c in most)


def op_capacities(archs: Arch) -> tuple[int, ...]:
    """Static per-op capacities for a concrete population ``archs`` (``[P]``).

    Capacity of op ``k`` = the most members using ``k`` at any one node,
    rounded up to a power of two (at most ``P``); 0 if no member uses it.
    The same capacity then serves every node (what the ``"scan"`` node loop
    needs: one traced node body).

    Returns:
        One capacity per op of ``archs.spec.ops``.
    """
    _check_population(archs, "op_capacities")
    caps = capacities_from_counts(member_counts(archs), archs.batch_shape[0], False)
    return caps  # type: ignore[return-value]


def node_capacities(archs: Arch) -> tuple[tuple[int, ...], ...]:
    """Static per-node, per-op capacities for a concrete population.

    Row ``i - 1`` holds node ``i``'s capacities: exactly the members using
    each op there. With the unrolled node loop each node then dispatches
    only its own members: for 32 random members of an 8-node bucket 40% of
    the op slots of :func:`op_capacities` (whose power-of-two maximum over
    nodes every node would get), and ops no member uses at a node are not
    traced there. Exact counts mean a new population usually compiles anew;
    :func:`op_capacities` suits programs that should be reused.

    Returns:
        ``max_nodes - 1`` rows of one capacity per op of ``archs.spec.ops``.
    """
    _check_population(archs, "node_capacities")
    caps = capacities_from_counts(member_counts(archs), archs.batch_shape[0], True)
    return caps  # type: ignore[return-value]


def _is_per_op(capacities: Capacities) -> bool:
    return all(isinstance(c, int | np.integer) for c in capacities)


def per_node_capacities(
    capacities: Capacities, max_nodes: int, n_ops: int
) -> tuple[tuple[int, ...], ...]:
    """``capacities`` as one row per node (1..N-1); per-op ones are repeated.

    Raises:
        ValueError: If the shape does not fit ``max_nodes`` and ``n_ops``.
    """
    if _is_per_op(capacities):
        rows = (tuple(int(c) for c in capacities),) * (max_nodes - 1)  # type: ignore[arg-type]
    else:
        rows = tuple(tuple(int(c) for c in row) for row in capacities)  # type: ignore[union-attr]
    if len(rows) != max_nodes - 1 or any(len(r) != n_ops for r in rows):
        raise ValueError(
            f"capacities must hold {n_ops} ints (one per op) or {max_nodes - 1} "
            f"rows of {n_ops} (one per node 1..{max_nodes - 1}), got {capacities}"
        )
    return rows


def shared_capacities(capacities: Capacities) -> tuple[int, ...]:
    """One capacity per op serving every node: the maximum over the nodes."""
    if _is_per_op(capacities):
        return tuple(int(c) for c in capacities)  # type: ignore[arg-type]
    return tuple(max(col) for col in zip(*capacities, strict=True))  # type: ignore[misc]


def check_capacities(archs: Arch, capacities: Capacities) -> None:
    """Raise ``ValueError`` if ``capacities`` (per op or per node) cannot hold
    the population."""
    spec = archs.spec
    rows = per_node_capacities(capacities, spec.max_nodes, spec.n_ops)
    short = [
        f"node {i + 1} {name}: needs {int(n)}, has {c}"
        for i, (need, have) in enumerate(zip(member_counts(archs), rows, strict=True))
        for name, n, c in zip(spec.ops, need, have, strict=True)
        if c < n
    ]
    if short:
        raise ValueError("op capacities too small: " + "; ".join(short))


def schedule_shape(
    capacities: Capacities | ScheduleShape,
    max_nodes: int,
    n_ops: int,
    group: int = SCHEDULE_GROUP,
) -> ScheduleShape:
    """The op schedule (``node_loop="schedule"``) that ``capacities`` bound.

    A :class:`~nasjax.nn.schedule.ScheduleShape` is returned as it is.
    Capacities (per node or per op) hold at least each (node, op) pair's
    members, so ``sum ceil(capacity / group)`` steps suffice: exact for
    :func:`node_capacities`, an upper bound for :func:`op_capacities`.
    """
    if isinstance(capacities, ScheduleShape):
        return capacities
    rows = per_node_capacities(capacities, max_nodes, n_ops)
    return ScheduleShape(group, max(schedule_steps(np.asarray(rows), group), 1))


def _dispatch(op, capacity, use, inp, node_params, cfg):
    """Run ``op`` on the members flagged in ``use`` (at most ``capacity``)."""
    p = use.shape[0]
    if capacity == p:
        out = jax.vmap(op.apply)(node_params, inp, cfg)
        return jnp.where(use[:, None, None, None], out, 0.0)
    idx = jnp.argsort(~use, stable=True)[:capacity]
    valid = use[idx]
    sub_params = jax.tree.map(lambda leaf: leaf[idx], node_params)
    sub_cfg = NodeConfig(*(field[idx] for field in cfg))
    out = jax.vmap(op.apply)(sub_params, inp[idx], sub_cfg)
    out = jnp.where(valid[:, None, None, None], out, 0.0)
    return jnp.zeros_like(inp).at[idx].add(out)


NODE_LOOPS = ("unroll", "scan", "schedule")


def check_node_loop(node_loop: str) -> None:
    """Raise ``ValueError`` unless ``node_loop`` is one of :data:`NODE_LOOPS`."""
    if node_loop not in NODE_LOOPS:
        raise ValueError(f"node_loop must be one of {NODE_LOOPS}, got {node_loop!r}")


def _node_output(ops, capacities, inp, node, width_mask):
    """One node of every member: ``float32[P, batch, T, W]``.

    ``node = (op_ids, width, kernel, dilation, node_params, active)``, each
    with a leading population axis.
    """
    op_ids, width, kernel, dilation, node_params, active = node
    cfg = NodeConfig(width, kernel, dilation)
    y = jnp.zeros_like(inp)
    for k, op in enumerate(ops):
        if capacities[k] == 0:
            continue
        use = (op_ids == k) & (active > 0)
        y = y + _dispatch(op, capacities[k], use, inp, node_params[op.name], cfg)
    return y * width_mask(width)[:, None, None, :] * active[:, None, None, None]


def embed_population(
    archs: Arch,
    params: Params,
    x: jax.Array,
    capacities: Capacities | ScheduleShape,
    node_loop: str = "unroll",
) -> jax.Array:
    """Population-major :func:`nasjax.nn.embed`: ``float32[P, batch, W]``.

    Args:
        archs: Stacked population ``[P]`` of one bucket.
        params: Stacked params ``[P, ...]``.
        x: ``float32[P, batch, window, F]`` (one batch per member) or
            ``float32[batch, window, F]`` (shared).
        capacities: Static, from :func:`node_capacities` (one row per node)
            or :func:`op_capacities` (one per op, every node alike) of these
            archs or larger; with ``node_loop="schedule"`` also a
            :class:`~nasjax.nn.schedule.ScheduleShape` (see
            :func:`schedule_shape`).
        node_loop: ``"unroll"`` (default) writes the node loop out in Python:
            node ``i`` sums only its ``i`` possible predecessors, dispatches
            with its own row of capacities, and XLA schedules across nodes.
            ``"scan"`` runs the nodes in ``lax.scan``
            over an ``[P, N, batch, T, W]`` edge accumulator: one traced
            copy of the node body (about half the compile time) but the
            accumulator is rewritten at every node (on a 2-core CPU the
            training step is 2.3-4.6x slower; ``benchmarks/README.md``);
            every node gets the per-op maximum of ``capacities``.
            ``"schedule"`` runs one ``lax.scan`` over an op schedule
            (:mod:`nasjax.nn.schedule`): each step applies one op, picked
            by ``lax.switch``, to a small group of members at one node
            (with a hand-written VJP, :mod:`nasjax.nn.schedule_loop`).
            Each op is compiled once (2-3.5x faster to compile than
            ``"unroll"``), only the members using an op run it, and one
            program serves every population whose schedule fits its
            length; on a 2-core CPU a training step is 1.3-1.4x slower
            than unrolled and 2.1-2.4x faster than ``"scan"``.
    """
    check_node_loop(node_loop)
    spec = archs.spec
    rows = ()
    if node_loop == "schedule":
        shape = schedule_shape(capacities, spec.max_nodes, spec.n_ops)
        if _is_concrete(archs.ops):  # under jit the caller sized it
            check_schedule(member_counts(archs), shape)
    else:
        rows = per_node_capacities(capacities, spec.max_nodes, spec.n_ops)  # type: ignore[arg-type]
    w, n = spec.max_width, spec.max_nodes
    p = archs.batch_shape[0]
    if x.ndim == 3:
        x = jnp.broadcast_to(x, (p, *x.shape))
    if x.shape[0] != p or x.shape[2:] != (spec.window, spec.n_features):
        raise ValueError(
            f"x must be float32[{p}, batch, {spec.window}, {spec.n_features}] or "
            f"float32[batch, {spec.window}, {spec.n_features}], got {tuple(x.shape)}"
        )
    ops = ops_for(spec)
    x = x.astype(jnp.float32)
    mask_f = archs.node_mask.astype(jnp.float32)
    coeff = archs.adj * params["edge_gate"] * mask_f[:, :, None] * mask_f[:, None, :]
    out_idx = archs.n_active - 1
    wmask = jax.vmap(lambda width: channel_mask(w, width))

    stem = jax.vmap(lambda prm, xb: run(nn.Dense(w), prm, xb))
    h0 = stem(params["stem"], x) * wmask(archs.width[:, 0])[:, None, None, :]

    def node_fields(a):  # [P, N, ...] -> [N, P, ...]
        return jnp.moveaxis(a, 1, 0)

    per_node = (
        node_fields(archs.ops),
        node_fields(archs.width),
        node_fields(archs.kernel),
        node_fields(archs.dilation),
        jax.tree.map(node_fields, params["nodes"]),
        node_fields(mask_f),
    )

    def is_output(i, y):
        return jnp.where((i == out_idx)[:, None, None, None], y, 0.0)

    if node_loop == "unroll":
        outs, final = [h0], jnp.zeros_like(h0)
        for i in range(1, n):
            inp = sum(coeff[:, j, i, None, None, None] * outs[j] for j in range(i))
            node = jax.tree.map(lambda a, i=i: a[i], per_node)
            y = _node_output(ops, rows[i - 1], inp, node, wmask)
            outs.append(y)
            final = final + is_output(i, y)
    elif node_loop == "schedule":
        final = scheduled_nodes(ops, archs, params["nodes"], coeff, h0, wmask, shape)
    else:
        shared = shared_capacities(rows)
        acc = coeff[:, 0].reshape(p, n, 1, 1, 1) * h0[:, None]

        def body(carry, node):
            acc, final = carry
            i, row, fields = node
            y = _node_output(ops, shared, acc[:, i], fields, wmask)
            acc = acc + row[:, :, None, None, None] * y[:, None]
            return (acc, final + is_output(i, y)), None

        xs = (
            jnp.arange(1, n),
            node_fields(coeff)[1:],
            jax.tree.map(lambda a: a[1:], per_node),
        )
        (_, final), _ = jax.lax.scan(body, (acc, jnp.zeros_like(h0)), xs)
    return read_out_population(archs.readout, params["readout"], final)


def apply_population(
    archs: Arch,
    params: Params,
    x: jax.Array,
    capacities: Capacities | ScheduleShape | None = None,
    node_loop: str = "unroll",
) -> jax.Array:
    """Logits of every member: equal to ``jax.vmap(nn.apply)`` (to float
    rounding), computing each node's op only for the members that use it.

    Args:
        archs: Stacked population ``[P]``.
        params: Stacked params.
        x: ``float32[P, batch, window, F]`` or shared ``float32[batch, window, F]``.
        capacities: Static capacities, per node (:func:`node_capacities`)
            or per op (:func:`op_capacities`); :func:`node_capacities` of
            ``archs`` when omitted (then ``archs`` must be concrete, i.e.
            outside ``jit``). Under ``jit`` pass them as a static argument.
        node_loop: ``"unroll"``, ``"scan"`` or ``"schedule"`` (see
            :func:`embed_population`).

    Returns:
        ``float32[P, batch, n_classes]``.
    """
    if capacities is None:
        if isinstance(archs.ops, jax.Array) and not _is_concrete(archs.ops):
            raise ValueError(
                "apply_population under jit needs static capacities: compute "
                "nasjax.nn.node_capacities(archs) outside jit and pass them"
            )
        capacities = node_capacities(archs)
    h = embed_population(archs, params, x, capacities, node_loop)
    head = jax.vmap(lambda prm, hb: run(nn.Dense(archs.spec.n_classes), prm, hb))
    return head(params["head"], h)
