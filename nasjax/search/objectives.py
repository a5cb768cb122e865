"""Search objectives (accuracy vs size / cost) and the archive's Pareto front.

``"accuracy"`` is the fitness told to a searcher (maximised); ``"params"``
(:func:`nasjax.nn.active_param_count`) and ``"macs"``
(:func:`nasjax.nn.active_macs`) are known functions of the architecture
(minimised). Internally every objective is maximised: costs enter as
``-log10(cost)``, since sizes spread over orders of magnitude.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.graph.arch import Arch
from nasjax.graph.spec import bucket_indices, pad_to_bucket
from nasjax.nn import active_macs, active_param_count
from nasjax.search.base import SearchState
from nasjax.surrogate.pareto import pareto_rank

COSTS = {"params": active_param_count, "macs": active_macs}
"""Known cost objectives (minimised): name -> ``(single Arch) -> scalar``."""
OBJECTIVES: tuple[str, ...] = ("accuracy", *COSTS)
"""Every objective name; ``"accuracy"`` is the told fitness."""


def check_objectives(objectives: Sequence[str]) -> tuple[str, ...]:
    """Validate an objective tuple: ``"accuracy"`` first, then distinct costs.

    Raises:
        ValueError: Naming the problem.
    """
    obj = tuple(objectives)
    if not obj or obj[0] != "accuracy":
        raise ValueError(f"objectives must start with 'accuracy', got {obj}")
    unknown = [o for o in obj[1:] if o not in COSTS]
    if unknown:
        raise ValueError(f"unknown objectives {unknown}; known: {OBJECTIVES}")
    if len(set(obj)) != len(obj):
        raise ValueError(f"objectives has duplicates: {obj}")
    return obj


@functools.partial(jax.jit, static_argnames="names")
def _costs(archs: Arch, names: tuple[str, ...]) -> jax.Array:
    def one(a):
        return jnp.stack([COSTS[n](a).astype(jnp.float32) for n in names])

    return jax.vmap(one)(archs)


def cost_values(archs: Arch, names: Sequence[str]) -> np.ndarray:
    """Raw costs of a stacked population.

    Args:
        archs: Stacked ``Arch`` ``[P]``.
        names: Cost names from :data:`COSTS`.

    Returns:
        ``float64[P, len(names)]`` (parameter counts, MACs; ``>= 1``).
    """
    n = archs.batch_shape[0]
    if not names:
        return np.zeros((n, 0))
    # Pad to a power of two so a growing archive does not recompile.
    idx = bucket_indices(n, 8)
    padded = jax.tree.map(lambda v: np.asarray(v)[idx], archs)
    return np.asarray(_costs(padded, tuple(names)), np.float64)[:n]


def known_objectives(archs: Arch, names: Sequence[str]) -> jax.Array:
    """Maximised known objectives ``-log10(cost)``, ``float32[P, len(names)]``.

    Jittable; this is the ``known`` function of
    :class:`nasjax.surrogate.propose.Scalarisation`.
    """
    return -jnp.log10(jnp.maximum(_costs(archs, tuple(names)), 1.0))


def objective_matrix(
    archs: Arch, fitness: np.ndarray, objectives: Sequence[str]
) -> np.ndarray:
    """Maximised objective rows ``[accuracy, -log10(cost)...]``.

    Args:
        archs: Stacked ``Arch`` ``[P]``.
        fitness: ``float[P]`` told fitness (NaN = failed).
        objectives: Validated objective names.

    Returns:
        ``float64[P, K]``; rows of failed evaluations are NaN.
    """
    return _rows(fitness, cost_values(archs, objectives[1:]))


def _rows(fitness: np.ndarray, costs: np.ndarray) -> np.ndarray:
    fit = np.asarray(fitness, np.float64).reshape(-1, 1)
    y = np.concatenate([fit, -np.log10(np.maximum(costs, 1.0))], axis=1)
    return np.where(np.isfinite(fit), y, np.nan)


_rank_jit = jax.jit(pareto_rank)


def pareto_ranks(y: np.ndarray) -> np.ndarray:
    """:func:`nasjax.surrogate.pareto_rank` of ``float[P, K]`` rows, ``int[P]``.

    Rows are padded with NaN to a power of two, so a growing archive compiles
    once per size bucket.
    """
    y = np.asarray(y, np.float64)
    n = len(y)
    padded = pad_to_bucket(y, 8, dtype=np.float32)
    return np.asarray(_rank_jit(padded))[:n]


class ParetoFront(NamedTuple):
    """The non-dominated evaluations of an archive.

    Attributes:
        fingerprints: Fingerprint of each front member, by decreasing
            accuracy.
        values: ``float64[F, K]`` objective values in natural units
            (accuracy, parameter count, MACs), same order.
        objectives: Objective names (columns of ``values``).
        indices: ``int64[F]`` rows of the archive.
    """

    fingerprints: tuple[str, ...]
    values: np.ndarray
    objectives: tuple[str, ...]
    indices: np.ndarray


def pareto_front_of(
    state: SearchState, objectives: Sequence[str] = ("accuracy", "params")
) -> ParetoFront:
    """The current Pareto front of a searcher's archive (a pure function).

    Accuracy is maximised and the costs minimised; failed evaluations are
    never on the front. Exact duplicates in objective space are all kept.

    Args:
        state: Any registry searcher's state.
        objectives: ``"accuracy"`` then cost names from :data:`COSTS`.

    Returns:
        A :class:`ParetoFront` (empty when nothing succeeded yet).
    """
    obj = check_objectives(objectives)
    archive = state.archive
    k = len(obj)
    if archive.archs is None or not np.isfinite(archive.fitness).any():
        return ParetoFront((), np.zeros((0, k)), obj, np.zeros(0, np.int64))
    costs = cost_values(archive.archs, obj[1:])
    y = _rows(archive.fitness, costs)
    on = np.flatnonzero(pareto_ranks(y) == 0)
    on = on[np.argsort(-y[on, 0], kind="stable")]
    values = np.concatenate([archive.fitness[on, None], costs[on]], axis=1)
    return ParetoFront(tuple(archive.fingerprints[i] for i in on), values, obj, on)
