"""Morph registry and random morph chains."""

from __future__ import annotations

from collections.abc import Sequence

import jax

from nasjax.graph.arch import Arch
from nasjax.morph import preserving, structural
from nasjax.morph.base import Morph, MorphOutput
from nasjax.typing import Key, Params

MORPHS: dict[str, Morph] = {
    "widen": Morph("widen", True, preserving.widen),
    "deepen": Morph("deepen", True, preserving.deepen),
    "add_skip": Morph("add_skip", True, preserving.add_skip),
    "add_branch": Morph("add_branch", True, preserving.add_branch),
    "swap_op": Morph("swap_op", False, structural.swap_op),
    "remove_node": Morph("remove_node", False, structural.remove_node),
    "change_kernel": Morph("change_kernel", False, structural.change_kernel),
    "change_dilation": Morph("change_dilation", False, structural.change_dilation),
}
"""Every morph by name."""

PRESERVING: frozenset[str] = frozenset(m.name for m in MORPHS.values() if m.preserving)
"""Names of the function-preserving morphs."""


def _resolve(names: Sequence[str] | None) -> tuple[str, ...]:
    names = tuple(MORPHS) if names is None else tuple(names)
    unknown = [n for n in names if n not in MORPHS]
    if unknown or not names:
        raise ValueError(f"unknown morphs {unknown}; known morphs: {list(MORPHS)}")
    return names


def random_morph(
    key: Key, arch: Arch, params: Params, names: Sequence[str] | None = None
) -> tuple[MorphOutput, jax.Array]:
    """Apply one morph drawn uniformly from ``names`` (jittable, vmappable).

    Returns:
        ``(output, morph_index)`` where ``morph_index`` indexes ``names``.
    """
    names = _resolve(names)
    k_pick, k_apply = jax.random.split(key)
    which = jax.random.randint(k_pick, (), 0, len(names))
    branches = [MORPHS[n].fn for n in names]
    out = jax.lax.switch(which, branches, k_apply, arch, params)
    return out, which


def morph_chain(
    key: Key,
    arch: Arch,
    params: Params,
    length: int,
    names: Sequence[str] | None = None,
) -> tuple[Arch, Params, jax.Array, jax.Array]:
    """Apply ``length`` random morphs in sequence (``lax.scan``).

    Returns:
        ``(arch, params, morph_ids int32[length], applied bool[length])``.
    """
    names = _resolve(names)

    def step(carry, k):
        a, p = carry
        out, which = random_morph(k, a, p, names)
        return (out.arch, out.params), (which, out.applied)

    (arch, params), (ids, applied) = jax.lax.scan(
        step, (arch, params), jax.random.split(key, length)
    )
    return arch, params, ids, applied
