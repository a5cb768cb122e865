"""Memory guard: estimate a member's bytes before compiling, plan chunks."""

from __future__ import annotations

import functools
import math
import os

import jax
import numpy as np

from nasjax.graph.build import random_arch
from nasjax.graph.spec import ArchSpec
from nasjax.nn.model import init
from nasjax.train.config import TrainConfig

#: Copies of the parameters a training member holds: params, best params,
#: gradients, updates and adamw's two moments.
PARAM_COPIES = 6
#: Activation tensors of shape ``[B, T, W]`` kept per node for the backward
#: pass, per op of the vocabulary (a vmapped ``lax.switch`` runs every op).
ACTIVATION_FACTOR = 3


@functools.lru_cache(maxsize=64)
def param_bytes(spec: ArchSpec) -> int:
    """Bytes of one member's parameters at bucket shapes (``jax.eval_shape``;
    cached per spec: tracing ``init`` takes a quarter of a second)."""

    def shapes(key):
        return init(key, random_arch(key, spec))

    tree = jax.eval_shape(shapes, jax.random.key(0))
    return int(
        sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(tree))
    )


def member_bytes(spec: ArchSpec, cfg: TrainConfig) -> int:
    """Estimated peak bytes of training ONE member on ONE fold.

    ``PARAM_COPIES`` x parameter bytes, plus activations of the training step
    (``batch x window x max_width x max_nodes x n_ops x ACTIVATION_FACTOR``
    float32, plus attention scores ``batch x heads x window^2`` per node) and
    of an evaluation chunk (``eval_batch_size x window x max_width x
    max_nodes``). A heuristic upper-bound-ish estimate, not an exact figure.
    """
    b, t, w, n = cfg.batch_size, spec.window, spec.max_width, spec.max_nodes
    act = b * t * w * n * spec.n_ops * ACTIVATION_FACTOR
    if "attention" in spec.ops:
        act += b * (w // spec.head_dim) * t * t * n * ACTIVATION_FACTOR
    act += cfg.eval_batch_size * t * w * n * 2
    return PARAM_COPIES * param_bytes(spec) + 4 * act


def default_budget() -> int:
    """Half of the first device's memory limit, or of the host RAM on CPU."""
    dev = jax.local_devices()[0]
    try:
        stats = dev.memory_stats()
    except Exception:
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"]) // 2 * jax.local_device_count()
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(pages) // 2


def plan_chunk(
    spec: ArchSpec,
    cfg: TrainConfig,
    n_members: int,
    n_folds_parallel: int,
    n_devices: int = 1,
    budget: int | None = None,
) -> int:
    """Largest population chunk (a multiple of ``n_devices``) within budget.

    Args:
        spec: The bucket.
        cfg: Training configuration.
        n_members: Population size P.
        n_folds_parallel: Folds trained at once per member (K when vmapped,
            1 when scanned).
        n_devices: Devices the population is sharded over.
        budget: Bytes available (default :func:`default_budget`).

    Returns:
        Chunk size in ``[n_devices, padded P]``.

    Raises:
        MemoryError: If even ``n_devices`` members (one per device) exceed the
            budget, with the estimate in the message.
    """
    budget = default_budget() if budget is None else budget
    per = member_bytes(spec, cfg) * n_folds_parallel
    padded = -(-n_members // n_devices) * n_devices
    fit = int(np.floor(budget / max(per, 1)))
    chunk = (min(fit, padded) // n_devices) * n_devices
    if chunk < n_devices:
        raise MemoryError(
            f"memory guard: one member of bucket (max_nodes={spec.max_nodes}, "
            f"max_width={spec.max_width}, window={spec.window}) needs about "
            f"{per / 2**20:.1f} MiB ({n_folds_parallel} fold(s) in parallel, "
            f"batch_size={cfg.batch_size}); {n_devices} device(s) x that exceeds "
            f"the budget of {budget / 2**20:.1f} MiB. Lower batch_size, scan the "
            "folds (fold_axis='scan'), use a smaller bucket or raise "
            "TrainConfig.memory_budget_bytes."
        )
    return chunk
