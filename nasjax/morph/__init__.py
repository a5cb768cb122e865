"""Morphs: pure ``(key, arch, params) -> (arch, params)`` architecture edits."""

from nasjax.morph.base import Morph, MorphFn, MorphOutput
from nasjax.morph.lineage import MorphStep, arch_lineage, extend, record
from nasjax.morph.registry import MORPHS, PRESERVING, morph_chain, random_morph

__all__ = [
    "MORPHS",
    "PRESERVING",
    "Morph",
    "MorphFn",
    "MorphOutput",
    "MorphStep",
    "arch_lineage",
    "extend",
    "morph_chain",
    "random_morph",
    "record",
]
