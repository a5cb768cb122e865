"""Seeding a search with the architectures a person would try first.

:func:`seed_archs` builds the named architectures of :data:`nasjax.graph.ZOO`
(the linear models and the hand-designed LSTM, Transformer and TCN) in a
bucket, skipping those it cannot express (with the reason, logged).
:func:`with_seeds` wraps any :class:`~nasjax.search.base.Searcher` so that
its first asks hand out the seeds, with fresh weights, before its own
proposals; morph-based searchers then grow children from them like from any
archive member, and every searcher's ``tell`` records them like its own
proposals.

Which seeds are still to come is not stored anywhere: a seed is due while
its fingerprint is neither in the archive nor pending. So the wrapper is a
pure function of the :class:`~nasjax.search.base.SearchState`, a checkpoint
of that state resumes with exactly the seeds still queued, and no seed is
proposed twice (nor one equal to an arch already evaluated). A seed member's
``Proposal.morph_names`` entry is ``("seed:NAME",)`` (the ``morphs`` column of
``results.parquet``; its parent is ``""``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import jax
import numpy as np

from nasjax.graph.arch import Arch
from nasjax.graph.build import stack
from nasjax.graph.spec import ArchSpec, bucket_indices
from nasjax.graph.zoo import SEED_NAMES, ZOO, Unexpressible
from nasjax.nn.fold_params import as_fold_params
from nasjax.search.base import (
    Proposal,
    Searcher,
    SearchState,
    excluded,
    init_population,
    merge,
    take,
)
from nasjax.typing import Key, Params

logger = logging.getLogger("nasjax.search")

SEED_PREFIX = "seed:"
"""Prefix of a seed's ``morph_names`` entry: ``("seed:linear",)``."""


def check_seed_names(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` as a tuple, if every one is a key of :data:`~nasjax.graph.ZOO`.

    Raises:
        ValueError: Naming the unknown seeds and the known ones.
    """
    names = tuple(names)
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        raise ValueError(f"unknown seeds {unknown}; known seeds are {list(ZOO)}")
    return names


def seed_archs(
    spec: ArchSpec, names: Iterable[str] = SEED_NAMES
) -> tuple[dict[str, Arch], dict[str, str]]:
    """The named seed architectures of bucket ``spec``.

    Args:
        spec: The searched bucket.
        names: Keys of :data:`~nasjax.graph.ZOO`, in seeding order.

    Returns:
        ``(archs, skipped)``: the seeds the bucket can express, by name (in
        ``names`` order), and the reason for each one it cannot (logged at
        INFO on ``nasjax.search``).

    Raises:
        ValueError: For an unknown name.
    """
    archs: dict[str, Arch] = {}
    skipped: dict[str, str] = {}
    for name in check_seed_names(names):
        try:
            archs[name] = ZOO[name](spec)
        except Unexpressible as err:
            skipped[name] = str(err)
            logger.info("seed %s skipped: %s", name, err)
    return archs, skipped


def _fresh_params(key: Key, archs: Arch) -> Params:
    """Fresh ``nn.init`` params of each member, compiled at a padded size."""
    n = archs.batch_shape[0]
    idx = bucket_indices(n, 8)
    params = init_population(jax.random.split(key, len(idx)), take(archs, idx))
    return take(params, np.arange(n))


def with_seeds(searcher: Searcher, seeds: Mapping[str, Arch]) -> Searcher:
    """``searcher`` whose first asks hand out ``seeds`` before its own proposals.

    ``ask(key, state, n)`` takes the first ``n`` seeds not yet evaluated or
    pending (fresh weights, the same on every fold) and, if fewer than ``n``
    remain, asks ``searcher`` for the rest with the seeds counted as pending
    (so it never proposes them, and a GP conditions on them). Seeds that do
    not fit in one ask come in the next ones. Once every seed is out the
    wrapper is ``searcher`` itself. ``init`` and ``tell`` are ``searcher``'s.

    Args:
        searcher: Any searcher of the bucket of the seeds.
        seeds: Seed archs by name (e.g. the first result of
            :func:`seed_archs`), in the order they are handed out.

    Returns:
        The seeded searcher.

    Raises:
        ValueError: If a seed is not a single arch.
    """
    if not seeds:
        return searcher
    names = tuple(seeds)
    archs = tuple(seeds[n] for n in names)
    for name, a in zip(names, archs, strict=True):
        if a.batch_shape:
            raise ValueError(f"seed {name} must be a single arch, got {a.batch_shape}")
    fps = tuple(a.fingerprint() for a in archs)

    def due(state: SearchState) -> list[int]:
        seen = excluded(state)
        out = []
        for i, fp in enumerate(fps):
            if fp not in seen:
                seen.add(fp)
                out.append(i)
        return out

    def ask(key: Key, state: SearchState, n: int) -> tuple[Proposal, SearchState]:
        todo = due(state)[:n]
        if not todo:
            return searcher.ask(key, state, n)
        k_seed, k_rest = jax.random.split(key)
        chosen = stack([archs[i] for i in todo])
        prop = Proposal(
            chosen,
            as_fold_params(_fresh_params(k_seed, chosen), chosen.spec),
            ("",) * len(todo),
            tuple((SEED_PREFIX + names[i],) for i in todo),
            tuple(fps[i] for i in todo),
        )
        logger.info("seeding: %s", ", ".join(names[i] for i in todo))
        if len(todo) < n:
            pending = prop if state.pending is None else merge(state.pending, prop)
            rest, state = searcher.ask(
                k_rest, state._replace(pending=pending), n - len(todo)
            )
            prop = merge(prop, rest)
        return prop, state._replace(pending=prop)

    return Searcher(searcher.init, ask, searcher.tell)


def seeded(
    searcher: Searcher, spec: ArchSpec, names: Iterable[str] = SEED_NAMES
) -> Searcher:
    """:func:`with_seeds` of the seeds of ``names`` that ``spec`` can express.

    Logs (INFO, ``nasjax.search``) the seeds used and the reason for each
    skipped one.

    Raises:
        ValueError: For an unknown name.
    """
    archs, _ = seed_archs(spec, names)
    if archs:
        logger.info("seeds: %s", ", ".join(archs))
    return with_seeds(searcher, archs)
