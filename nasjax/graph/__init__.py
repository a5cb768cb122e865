"""Architecture graphs: buckets (``ArchSpec``) and padded DAG pytrees (``Arch``)."""

from nasjax.graph.arch import ARCH_FIELDS, Arch
from nasjax.graph.build import canonicalize, chain, pad_to, random_arch, stack, unstack
from nasjax.graph.draw import draw_arch
from nasjax.graph.fingerprint import fingerprint
from nasjax.graph.space import SearchSpaceConfig
from nasjax.graph.spec import (
    DEFAULT_OPS,
    KNOWN_OPS,
    READOUTS,
    WIDENABLE_OPS,
    ArchSpec,
    bucket_indices,
    bucket_size,
    pad_rows,
    pad_to_bucket,
    repeat_rows,
)
from nasjax.graph.validate import validate
from nasjax.graph.zoo import SEED_NAMES, ZOO, Unexpressible

__all__ = [
    "ARCH_FIELDS",
    "DEFAULT_OPS",
    "KNOWN_OPS",
    "READOUTS",
    "SEED_NAMES",
    "WIDENABLE_OPS",
    "ZOO",
    "Arch",
    "ArchSpec",
    "SearchSpaceConfig",
    "Unexpressible",
    "bucket_indices",
    "bucket_size",
    "canonicalize",
    "chain",
    "draw_arch",
    "fingerprint",
    "pad_rows",
    "pad_to",
    "pad_to_bucket",
    "random_arch",
    "repeat_rows",
    "stack",
    "unstack",
    "validate",
]
