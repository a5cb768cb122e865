"""The morph protocol: pure ``(key, arch, params) -> (arch, params)`` maps."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp

from nasjax.graph.arch import Arch
from nasjax.typing import Key, Params, PyTree


class MorphOutput(NamedTuple):
    """What a morph did.

    Attributes:
        arch: The child (the parent itself when not applied).
        params: The child's parameters (inherited from the parent).
        applied: ``bool[]`` whether the morph changed anything.
        grow: ``bool[]`` not applied because the bucket is full: move the
            parent to a larger bucket (``nasjax.graph.pad_to``) and retry.
        args: ``int32[3]`` what was done, morph-specific (see each morph's
            docstring), for lineage records.
    """

    arch: Arch
    params: Params
    applied: jax.Array
    grow: jax.Array
    args: jax.Array


class MorphFn(Protocol):
    """A morph's implementation (the ``fn`` of a :class:`Morph`).

    Pure and jittable: ``random_morph`` switches between them with
    ``lax.switch`` and ``morph_chain`` scans them, under ``vmap``.
    """

    def __call__(self, key: Key, arch: Arch, params: Params, /) -> MorphOutput:
        """Edit ``arch`` and carry ``params`` over to the child.

        Args:
            key: PRNG key choosing where and how to edit.
            arch: A single parent ``Arch`` (fields ``[N]``, ``adj [N, N]``;
                leading batch axes only under ``vmap``).
            params: The parent's parameters of the same bucket (one copy,
                no fold axis).

        Returns:
            A :class:`MorphOutput`: the child and its params with the same
            shapes as the parent's (the bucket is fixed), ``applied`` and
            ``grow`` ``bool[]``, ``args`` ``int32[3]``.
        """
        ...


@dataclasses.dataclass(frozen=True)
class Morph:
    """A named morph. Calling it returns ``(arch, params)``; :meth:`apply`
    also returns whether it applied.

    Attributes:
        name: Registry name.
        preserving: Whether the child computes the same function as the parent
            (before training) whenever the morph applies.
        fn: The implementation returning a :class:`MorphOutput`.
    """

    name: str
    preserving: bool
    fn: MorphFn

    def __call__(self, key: Key, arch: Arch, params: Params) -> tuple[Arch, Params]:
        out = self.fn(key, arch, params)
        return out.arch, out.params

    def apply(self, key: Key, arch: Arch, params: Params) -> MorphOutput:
        """Run the morph and report whether it applied."""
        return self.fn(key, arch, params)


def choose(key: Key, eligible: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Uniformly pick a flat index where ``eligible`` is True.

    Returns:
        ``(index int32[], any bool[])``; the index is 0 when nothing is eligible.
    """
    flat = eligible.reshape(-1)
    ok = jnp.any(flat)
    logits = jnp.where(flat, 0.0, -jnp.inf)
    logits = jnp.where(ok, logits, 0.0)
    return jax.random.categorical(key, logits).astype(jnp.int32), ok


def choose_other(key: Key, current: jax.Array, n: int) -> jax.Array:
    """A value in ``[0, n)`` different from ``current`` (needs ``n >= 2``)."""
    r = jax.random.randint(key, (), 0, max(n - 1, 1))
    return jnp.where(r >= current, r + 1, r).astype(jnp.int32)


def select(pred: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    """Leafwise ``where(pred, on_true, on_false)`` over equal-structured pytrees."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def finish(
    parent: Arch,
    parent_params: Params,
    child: Arch,
    child_params: Params,
    applied: jax.Array,
    grow: jax.Array,
    args: list,
) -> MorphOutput:
    """Return the child if ``applied`` else the parent, unchanged."""
    return MorphOutput(
        arch=select(applied, child, parent),
        params=select(applied, child_params, parent_params),
        applied=applied,
        grow=grow & ~applied,
        args=jnp.stack([jnp.asarray(a, jnp.int32) for a in args]),
    )
