"""The op-schedule node loop (``node_loop="schedule"``) and its hand-written VJP.

:func:`scheduled_nodes` runs nodes 1..N-1 of a whole population as ONE
``lax.scan`` over the steps of an op schedule (:mod:`nasjax.nn.schedule`):
step ``s`` applies op ``op[s]`` (a ``lax.switch``) at node ``node[s]`` to
its group of members. The scan carries every member's node INPUTS,
``acc[m, j]`` (row ``N``: the network's output): a step reads its members'
input rows and adds its outputs, weighted by their out-edges, to the rows
of the nodes they feed.

The loop has a custom VJP, because autodiff of the scan costs far more
than the arithmetic on a CPU (a training step at P = 32 took 1.8x the
unrolled loop's time; ``benchmarks/README.md``):

* **Nothing is saved per step.** A node's input row is complete when the
  node runs, and no later step adds to it (edges go forward), so the final
  ``acc`` holds every step's input; the backward pass reads it from there.
  Autodiff would stack every step's input as a residual.
* **One switch per backward step** reruns the step's op and differentiates
  it. Autodiff of a switch runs one switch for the forward and another for
  the VJP, passing the union of every branch's residuals between them.
* **Every update of the carried buffers is in place.** The forward pass is
  software-pipelined (a step first adds the previous step's outputs, then
  reads its own input: a read before the write cost two whole-buffer copies
  per step); rows are added by ``dynamic_update_slice`` (a scatter adds a
  bounds check, evaluated as a select over the rows); the edge-weighted
  spread and its transpose are plain dots (autodiff of the broadcast
  multiply gave a slow reduce, or a transposed copy of the rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from nasjax.graph.arch import Arch
from nasjax.nn.schedule import ScheduleShape, build_schedule
from nasjax.ops.base import NodeConfig, Op


def scheduled_nodes(
    ops: Sequence[Op],
    archs: Arch,
    node_params: dict,
    coeff: jax.Array,
    h0: jax.Array,
    width_mask: Callable[[jax.Array], jax.Array],
    shape: ScheduleShape,
) -> jax.Array:
    """Nodes 1..N-1 of every member of ``archs`` by an op schedule.

    Args:
        ops: The bucket's ops (``nasjax.ops.registry.ops_for``).
        archs: Population ``[P]``, may be traced.
        node_params: Per-op node params, leaves ``[P, N, ...]``.
        coeff: ``float32[P, N, N]`` edge weights (adjacency x gates x masks).
        h0: ``float32[P, batch, T, W]`` the stem's output (node 0).
        width_mask: ``int[g] -> float32[g, W]`` channel masks of widths.
        shape: Static size of the schedule, long enough for ``archs``.

    Returns:
        ``float32[P, batch, T, W]`` the output node's output of every member.
    """
    p, n = archs.batch_shape[0], archs.spec.max_nodes
    g = shape.group
    sched = build_schedule(archs, shape)
    # Empty slots read and write spare member rows p..p+g-1 (no edges), one
    # per slot, so that the rows of a step are distinct.
    m = jnp.where(sched.members < p, sched.members, p + jnp.arange(g))  # [S, g]
    i = sched.node[:, None]
    is_out = jax.nn.one_hot(archs.n_active - 1, n, dtype=coeff.dtype)  # [P, N]
    fan_out = jnp.concatenate([coeff, is_out[:, :, None]], axis=2)  # [P, N, N + 1]
    fan_out = jnp.pad(fan_out, ((0, g), (0, 0), (0, 0)))  # spare members: none
    mc = jnp.minimum(m, p - 1)
    # Everything a step reads of the params and the graph, gathered before
    # the loop (leaves [S, g, ...]): its gradient leaves the loop per step
    # and is scattered back once, outside.
    steps = (
        sched.node,
        sched.op,
        m,
        fan_out[m, i],  # [S, g, N + 1]
        NodeConfig(archs.width[mc, i], archs.kernel[mc, i], archs.dilation[mc, i]),
        {op.name: jax.tree.map(lambda a: a[mc, i], node_params[op.name]) for op in ops},
    )
    loop = _node_loop(ops, width_mask, p)
    h0 = jnp.pad(h0, ((0, g),) + ((0, 0),) * 3)
    acc = loop(_spread(fan_out[:, 0], h0), steps)  # acc[m, j]: input of node j
    return acc[:p, n]


def _node_loop(ops, width_mask, n_members):
    """``loop(acc, steps) -> acc``: the schedule's scan, with its VJP."""

    def masked(op):
        def apply(prm, inp, cfg):
            y = jax.vmap(op.apply)(prm[op.name], inp, cfg)
            return y * width_mask(cfg.width)[:, None, None, :]

        return apply

    def differentiated(op):
        def apply(prm, inp, cfg, d_y):
            y, vjp = jax.vjp(lambda q, x: masked(op)(q, x, cfg), prm, inp)
            return (y, *vjp(d_y))

        return apply

    forward = [masked(op) for op in ops]
    backward = [differentiated(op) for op in ops]

    def forward_step(carry, step):
        # Software-pipelined: add the PREVIOUS step's outputs, then read.
        acc, pending = carry
        acc = _add_outputs(acc, *pending)
        node, k, members, edges, cfg, prm = step
        y = jax.lax.switch(k, forward, prm, _rows(acc, members, node), cfg)
        return (acc, (members, edges, y)), None

    @jax.custom_vjp
    def loop(acc, steps):
        g = steps[2].shape[1]  # members [S, g]
        nothing = (  # the spare rows, no edges, no output
            n_members + jnp.arange(g),
            jnp.zeros((g, acc.shape[1]), acc.dtype),
            jnp.zeros((g, *acc.shape[2:]), acc.dtype),
        )
        (acc, last), _ = jax.lax.scan(forward_step, (acc, nothing), steps)
        return _add_outputs(acc, *last)

    def loop_fwd(acc, steps):
        acc = loop(acc, steps)
        return acc, (acc, steps)  # the final acc holds every step's input

    def loop_bwd(res, d_acc):
        acc, steps = res

        def backward_step(d_acc, step):
            # d_acc: the cotangent of acc right after this step.
            node, k, members, edges, cfg, prm = step
            d_rows = _rows(d_acc, members)  # [g, N + 1, B, T, W]
            d_y = _spread_bwd_y(edges, d_rows)
            inp = _rows(acc, members, node)
            y, d_prm, d_inp = jax.lax.switch(k, backward, prm, inp, cfg, d_y)
            d_acc = d_acc.at[members, node].add(
                d_inp, mode="promise_in_bounds", unique_indices=True
            )
            return d_acc, (_spread_bwd_edges(d_rows, y), d_prm)

        d_acc, (d_edges, d_prm) = jax.lax.scan(
            backward_step, d_acc, steps, reverse=True
        )
        return d_acc, (None, None, None, d_edges, None, d_prm)

    loop.defvjp(loop_fwd, loop_bwd)
    return loop


def _rows(acc, members, *node):
    """``acc[members]`` (or ``acc[members, node]``) for distinct in-bounds
    ``members``."""
    return acc.at[(members, *node)].get(mode="promise_in_bounds", unique_indices=True)


def _add_outputs(acc, members, edges, y):
    """``acc[members] += edges (x) y``: outputs ``y`` (``[g, B, T, W]``) of
    distinct in-bounds ``members`` added, weighted by their out-edges
    ``edges`` (``[g, N + 1]``), to the rows they feed. One in-place
    ``dynamic_update_slice`` per slot."""
    for slot in range(members.shape[0]):
        start = (members[slot],) + (0,) * (acc.ndim - 1)
        rows = jax.lax.dynamic_slice(acc, start, (1, *acc.shape[1:]))
        rows = rows + _spread(edges[slot, None], y[slot, None])
        acc = jax.lax.dynamic_update_slice(acc, rows, start)
    return acc


@jax.custom_vjp
def _spread(edges, y):
    """``out[g, j] = edges[g, j] * y[g]``: outputs ``float32[g, B, T, W]``
    spread over ``J`` weighted edges, ``float32[g, J, B, T, W]``."""
    return edges[:, :, None, None, None] * y[:, None]


def _spread_bwd_y(edges, d_out):
    g, j = edges.shape
    flat = d_out.reshape(g, j, -1)  # [g, J, X]: a dot without a transposed copy
    return jnp.einsum("gj,gjx->gx", edges, flat).reshape(g, *d_out.shape[2:])


def _spread_bwd_edges(d_out, y):
    g, j = d_out.shape[:2]
    return jnp.einsum("gjx,gx->gj", d_out.reshape(g, j, -1), y.reshape(g, -1))


def _spread_fwd(edges, y):
    return _spread(edges, y), (edges, y)


def _spread_bwd(res, d_out):
    edges, y = res
    return _spread_bwd_edges(d_out, y), _spread_bwd_y(edges, d_out)


_spread.defvjp(_spread_fwd, _spread_bwd)
