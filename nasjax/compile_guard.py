"""Keep a long process under the kernel's limit on memory mappings.

Every program XLA compiles for the CPU keeps its machine code in memory
mappings of its own, and JAX keeps every compiled program for reuse. A
search compiles new programs as long as shapes keep changing (each round's
population, the surrogate's padded archive, a new dataset), and measured
on a 2-core Linux VM one search of 8 rounds held ~31,000 mappings. Linux
caps a process at ``vm.max_map_count`` (65,530 by default); past it, XLA's
compiler fails to allocate ("LLVM compilation error: Cannot allocate
memory") and the process dies with a segmentation fault.

:func:`relieve` drops JAX's compiled programs (``jax.clear_caches``) when the
process holds more than a fraction of that limit: later calls recompile
what they need (seconds), instead of the run crashing. It reads
``/proc``; elsewhere it does nothing.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import jax

logger = logging.getLogger("nasjax.run")

MAPS = Path("/proc/self/maps")
LIMIT = Path("/proc/sys/vm/max_map_count")


def map_usage() -> tuple[int, int] | None:
    """``(mappings held, kernel limit)`` of this process, or None where
    ``/proc`` does not tell (not Linux)."""
    try:
        with MAPS.open("rb") as f:
            held = sum(1 for _ in f)
        limit = int(LIMIT.read_text().strip())
    except (OSError, ValueError):
        return None
    return held, limit


def drop_compiled() -> None:
    """Drop every compiled program JAX holds (and collect what they kept
    alive); later calls recompile what they need."""
    jax.clear_caches()
    gc.collect()


def relieve(fraction: float = 0.5) -> bool:
    """Drop JAX's compiled programs if this process holds more than
    ``fraction`` of the kernel's memory-mapping limit.

    Args:
        fraction: Share of ``vm.max_map_count`` above which the caches are
            dropped (0 < fraction <= 1).

    Returns:
        Whether the caches were dropped.

    Raises:
        ValueError: On a fraction outside ``(0, 1]``.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    usage = map_usage()
    if usage is None or usage[0] <= fraction * usage[1]:
        return False
    held, limit = usage
    drop_compiled()
    after = map_usage()
    logger.info(
        "compiled programs dropped: the process held %d of the kernel's %d memory "
        "mappings (now %s); later steps recompile what they need",
        held,
        limit,
        "?" if after is None else after[0],
    )
    return True
