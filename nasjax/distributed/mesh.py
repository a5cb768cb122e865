"""The population mesh, feeding it from host data and gathering it back.

One 1-D mesh ``("pop",)`` spans every device of every process
(``jax.devices()`` lists them process by process, so each process owns a
contiguous block of the population). Inputs are host-identical on every
process (same searcher, same keys): :func:`to_global` builds a global
``jax.Array`` by handing each *addressable* device its slice of the host
copy (``jax.make_array_from_callback``); :func:`blockwise` runs a
population function per device block (``jax.shard_map``, no communication);
:func:`gather_population` returns a sharded result to every process as full
host arrays in one all-gather. With one process these reduce to
``device_put`` / ``np.asarray``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, Sharding
from jax.sharding import PartitionSpec as P

from nasjax.typing import PyTree

POP_AXIS = "pop"
"""Name of the population mesh axis."""


def is_main_process() -> bool:
    """True on process 0 (the one that writes results, checkpoints, plots)."""
    return jax.process_index() == 0


def population_devices(shard: bool = True) -> list[Any]:
    """Devices a population is trained on.

    Args:
        shard: All devices of all processes (True), or this process's first
            local device only (False: every process trains the whole
            population by itself).
    """
    return list(jax.devices()) if shard else list(jax.local_devices()[:1])


def population_mesh(devices: Sequence[Any] | None = None, axis: str = POP_AXIS) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process)."""
    devs = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devs), (axis,))


def population_sharding(mesh: Mesh) -> NamedSharding:
    """Axis 0 split over the mesh's (only) axis."""
    return NamedSharding(mesh, P(mesh.axis_names[0]))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of the mesh."""
    return NamedSharding(mesh, P())


def padded_size(n: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is ``>= max(n, 1)``."""
    return max(multiple, -(-n // multiple) * multiple)


def padding_order(n: int, size: int) -> np.ndarray:
    """Member indices ``int64[size]``: ``0..n-1``, then repeats of member 0.

    Padding members train like real ones (a copy of member 0) and are
    dropped afterwards, so no member's result depends on the padding.
    """
    order = np.arange(size)
    return np.where(order < n, order, 0)


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _global_leaf(x: Any, sharding: Sharding) -> jax.Array:
    if isinstance(x, jax.Array) and x.sharding == sharding:
        return x  # already laid out (e.g. data replicated once by the caller)
    if _is_key(x):
        data = _global_leaf(jax.random.key_data(x), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def blockwise(
    fn: Callable[..., Any], mesh: Mesh, sharded: Sequence[bool]
) -> Callable[..., Any]:
    """``fn`` run by every device on its own block of the population axis.

    A ``jax.shard_map`` over the mesh's axis: argument ``i`` is split on axis
    0 when ``sharded[i]`` (else every device gets all of it), and every output
    is split on axis 0. Inside ``fn`` the population is the device's block
    only, so population-wide operations (sorting members by op, gathering
    them into op slots) stay on the device: no communication per training
    step, whatever ``fn`` does across members.

    Args:
        fn: Function of population-major arguments (leaves ``[P, ...]``).
        mesh: 1-D population mesh (:func:`population_mesh`).
        sharded: Per positional argument, whether it has the population axis.

    Returns:
        The wrapped function (call it under ``jax.jit``).
    """
    axis = mesh.axis_names[0]
    in_specs = tuple(P(axis) if s else P() for s in sharded)
    # No collectives inside and every output is split: nothing to check about
    # replication (and the check rejects scans whose carry starts replicated,
    # e.g. flax's RNN cells).
    return jax.shard_map(
        fn, mesh=mesh, in_specs=in_specs, out_specs=P(axis), check_vma=False
    )


def to_global(tree: PyTree, sharding: Sharding) -> PyTree:
    """Host-identical arrays -> global ``jax.Array`` s laid out by ``sharding``.

    Every process must call it with the same values (it is not checked):
    each process only copies the slices its own devices hold. Leaves that
    already have ``sharding`` are returned as they are, so data laid out once
    can be passed again for free. With one process this is
    ``jax.device_put`` (no host round trip).

    Args:
        tree: Pytree of arrays (numpy, jax, typed PRNG keys) with global
            shapes; for a population sharding, axis 0 must be a multiple of
            the device count.
        sharding: Target sharding (e.g. :func:`population_sharding`).

    Returns:
        The same tree of global arrays.
    """
    if jax.process_count() == 1:
        return jax.tree.map(lambda x: jax.device_put(x, sharding), tree)
    return jax.tree.map(lambda x: _global_leaf(x, sharding), tree)


def shard_population(tree: PyTree, mesh: Mesh) -> PyTree:
    """:func:`to_global` with axis 0 split over ``mesh`` (leaves ``[P, ...]``)."""
    return to_global(tree, population_sharding(mesh))


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """:func:`to_global` with a full copy on every device of ``mesh``."""
    return to_global(tree, replicated_sharding(mesh))


def _identity(tree: PyTree) -> PyTree:
    return tree


def _spans_processes(x: Any) -> bool:
    return isinstance(x, jax.Array) and not x.is_fully_addressable


def gather(tree: PyTree) -> PyTree:
    """Global (possibly sharded over processes) arrays -> full host arrays.

    A collective when any leaf spans several processes: every process must
    call it, in the same order. All such leaves are replicated by ONE jitted
    identity (one all-gather program, not one per leaf), then copied from
    this process's first device. Fully addressable leaves are just copied to
    the host.

    Args:
        tree: Pytree of ``jax.Array`` (or numpy) leaves, not PRNG keys.

    Returns:
        The same tree of ``np.ndarray`` with the global shapes, identical on
        every process.
    """
    leaves, treedef = jax.tree.flatten(tree)
    out: list[Any] = [None] * len(leaves)
    named: list[int] = []
    for i, x in enumerate(leaves):
        if not _spans_processes(x):
            out[i] = np.asarray(x)
        elif isinstance(x.sharding, NamedSharding):
            named.append(i)
        else:
            out[i] = np.asarray(multihost_utils.process_allgather(x, tiled=True))
    if named:
        wide = tuple(leaves[i] for i in named)
        targets = tuple(NamedSharding(x.sharding.mesh, P()) for x in wide)
        full = jax.jit(_identity, out_shardings=targets)(wide)
        for i, x in zip(named, full, strict=True):
            out[i] = np.asarray(x.addressable_data(0))
    return jax.tree.unflatten(treedef, out)


def _pack_rows(tree: PyTree) -> jax.Array:
    """Leaves ``[P, ...]`` -> ``uint8[P, bytes]``: every leaf's bytes per member."""
    cols = []
    for x in jax.tree.leaves(tree):
        b = x.astype(jnp.uint8) if x.dtype == jnp.bool_ else x
        if b.dtype != jnp.uint8:
            b = jax.lax.bitcast_convert_type(b, jnp.uint8)
        cols.append(b.reshape(x.shape[0], -1))
    return jnp.concatenate(cols, axis=1)


def gather_population(tree: PyTree) -> PyTree:
    """:func:`gather` for a tree whose leaves are all ``[P, ...]`` population
    arrays, in ONE all-gather: every member's bytes of every leaf are packed
    into a ``uint8[P, bytes]`` row on its device, gathered, and unpacked on
    the host (exact for every dtype). One collective instead of one per
    leaf matters across hosts, where each collective costs a network round
    trip.

    Args:
        tree: Pytree of ``jax.Array`` leaves with the same leading size P
            (not PRNG keys).

    Returns:
        The same tree of ``np.ndarray``, identical on every process.
    """
    leaves, treedef = jax.tree.flatten(tree)
    if not leaves or not any(_spans_processes(x) for x in leaves):
        return gather(tree)
    sharding = leaves[0].sharding
    if not isinstance(sharding, NamedSharding):
        return gather(tree)
    target = NamedSharding(sharding.mesh, P())
    packed = jax.jit(_pack_rows, out_shardings=target)(leaves)
    rows = np.asarray(packed.addressable_data(0))
    out, offset = [], 0
    for x in leaves:
        itemsize = 1 if x.dtype == np.bool_ else np.dtype(x.dtype).itemsize
        width = itemsize * int(np.prod(x.shape[1:], dtype=np.int64))
        raw = np.ascontiguousarray(rows[:, offset : offset + width])
        offset += width
        if x.dtype == np.bool_:
            out.append(raw.astype(bool).reshape(x.shape))
        else:
            out.append(raw.view(np.dtype(x.dtype)).reshape(x.shape))
    return jax.tree.unflatten(treedef, out)


def allgather_host(x: np.ndarray) -> np.ndarray:
    """Stack a host array of every process: ``[process_count, *x.shape]``.

    Bit-exact for any dtype (the bytes travel as ``uint8``, so float64 /
    int64 survive JAX's default 32-bit mode). A collective: every process
    must call it with the same shape and dtype.
    """
    x = np.ascontiguousarray(x)
    raw = x.reshape(-1).view(np.uint8)
    out = np.asarray(multihost_utils.process_allgather(raw), np.uint8)
    return out.reshape(-1, raw.size).view(x.dtype).reshape(-1, *x.shape)


def agree(value: float, reduce: Callable[[np.ndarray], Any] = np.min) -> Any:
    """One number every process agrees on: ``reduce`` over all processes' values.

    A collective with more than one process (every process must call it);
    with one process ``value`` itself. Use it for host-dependent choices
    (e.g. a memory budget) that must be equal everywhere.
    """
    if jax.process_count() == 1:
        return value
    return reduce(allgather_host(np.asarray(value, np.float64)))


def process_budget(budget: int) -> int:
    """A per-process memory budget -> the budget of every process together.

    ``min`` over processes (hosts may differ) times the process count, so
    every process plans the same population chunks.
    """
    n = jax.process_count()
    return budget if n == 1 else int(agree(float(budget), np.min)) * n
