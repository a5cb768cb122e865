"""Orbax save / restore of device-resident, population-sharded pytrees.

:class:`nasjax.app.checkpoint.SearchCheckpointer` stores the host-side search
state (numpy arrays, identical on every process). Population params that
live on the global mesh (``[P, ...]`` split over the devices of every
process) are saved here instead, without gathering them: every process
writes the shards it holds into one OCDBT checkpoint, and restoring with
target shardings hands each process only its shards again. Both functions
are collectives: every process must call them with the same path, which must
be on a filesystem all processes see.
"""

from __future__ import annotations

import logging
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from nasjax.typing import PyTree


def _quiet_absl() -> None:
    absl = logging.getLogger("absl")
    if absl.level == logging.NOTSET:
        absl.setLevel(logging.WARNING)


def abstract_like(tree: PyTree) -> PyTree:
    """``jax.ShapeDtypeStruct`` s with the shapes, dtypes and shardings of ``tree``."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree
    )


def save_sharded(path: str | Path, tree: PyTree) -> None:
    """Write a pytree of (possibly process-spanning) ``jax.Array`` s to ``path``.

    Blocks until the checkpoint is committed on every process.

    Args:
        path: New directory (absolute or relative; must not exist yet).
        tree: Pytree of ``jax.Array`` leaves (no PRNG key arrays: store
            ``jax.random.key_data``).
    """
    _quiet_absl()
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(Path(path).absolute(), tree)
        ckptr.wait_until_finished()


def restore_sharded(path: str | Path, target: PyTree) -> PyTree:
    """Read a checkpoint of :func:`save_sharded` onto ``target``'s layout.

    Args:
        path: The checkpoint directory.
        target: Pytree of ``jax.ShapeDtypeStruct`` with shardings (e.g.
            :func:`abstract_like` of a live tree) or of arrays to imitate.
            The sharding may differ from the one saved (resharding on load).

    Returns:
        The tree of global ``jax.Array`` s, each process holding its shards.
    """
    _quiet_absl()
    abstract = jax.tree.map(
        lambda x: (
            x
            if isinstance(x, jax.ShapeDtypeStruct)
            else jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
        ),
        target,
    )
    with ocp.StandardCheckpointer() as ckptr:
        return ckptr.restore(Path(path).absolute(), abstract)
