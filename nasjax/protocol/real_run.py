"""``run_real``: the protocol block by block with the real evaluator.

Per block, on the host: the committees of last block's proposals are drawn
(from the beacon derived from the previous block's hash when a ledger is
written), their evaluating validators and this block's proposers' candidates
are trained in one ``train_population`` call
(:meth:`~nasjax.protocol.real.RealEvaluator.evaluate`); under the paired
rule each evaluating validator also trains the task's incumbent on the same
chain-drawn blocks with the same member key (a second call, members in the
same order), and the pure core
:func:`~nasjax.protocol.step.step` (jitted) applies the block with those
proposals and scores. The ledger gets every transaction of the block.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.protocol.agents import evaluators
from nasjax.protocol.chain import ChainRecorder
from nasjax.protocol.config import ProtocolConfig
from nasjax.protocol.economics import finalize
from nasjax.protocol.real import (
    Candidate,
    candidates,
    make_real_evaluator,
    proposal_batch,
)
from nasjax.protocol.sortition import beacon_from_hash
from nasjax.protocol.state import init_state, make_params
from nasjax.protocol.step import committees, jit_step, proposers
from nasjax.protocol.types import BlockInputs, Params, State
from nasjax.protocol.x64 import x64


@dataclasses.dataclass
class RealRun:
    """What :func:`run_real` produced.

    Attributes:
        initial: Genesis state.
        final: Final state.
        metrics: Per-block metric columns (host arrays, ``BlockMetrics``).
        models: Fingerprint per proposal id that reached the chain.
        train_seconds: Wall time inside ``train_population``.
        evaluations: Architectures trained (validators and proposers).
    """

    initial: State
    final: State
    metrics: dict[str, np.ndarray]
    models: dict[int, str]
    train_seconds: float
    evaluations: int


def run_real(
    cfg: ProtocolConfig,
    recorder: Callable[[State, Callable[[int], dict[str, Any]]], ChainRecorder]
    | None = None,
    on_block: Callable[[int, dict[str, np.ndarray]], None] | None = None,
) -> RealRun:
    """Run the protocol block by block with the real evaluator.

    Args:
        cfg: Configuration (``cfg.evaluator`` is not read; one task only).
        recorder: ``(genesis state, candidate descriptor fn) -> ChainRecorder``
            to write the ledger; each block's beacon is then derived from
            the previous block's hash.
        on_block: Called with ``(block, metrics row)`` after each block.

    Returns:
        The :class:`RealRun`.
    """
    if cfg.consensus.n_tasks != 1:
        raise ValueError("the real evaluator runs one task (consensus.n_tasks=1)")
    ev = make_real_evaluator(cfg)
    root = jax.random.key(cfg.seed)
    genesis = ev.genesis()
    beacon0 = np.asarray(
        jax.random.key_data(jax.random.fold_in(root, 0x6E5E)), np.uint32
    )
    pub0, _, true0 = ev.evaluate(beacon0, [genesis.arch])
    initial = init_state(cfg, float(pub0[0]), float(true0[0]))
    params = make_params(cfg)
    archs: dict[int, Candidate] = {0: genesis}
    seen = {genesis.fingerprint}
    rec = recorder(initial, lambda pid: archs[pid].descriptor()) if recorder else None
    state = initial
    rows: list[dict[str, np.ndarray]] = []
    n_slots, size = cfg.consensus.proposals_per_block, cfg.consensus.committee_size
    paired = cfg.consensus.rule == "paired"
    for t in range(cfg.n_blocks):
        key = jax.random.fold_in(jax.random.fold_in(root, 1), t)
        beacon = (
            beacon_from_hash(rec.head_hash)
            if rec
            else np.asarray(state.beacon, np.uint32)
        )
        seats = np.asarray(committees(params, state, beacon))
        runs = np.asarray(_evaluators(state, seats)) & first_seats(seats)
        committed = jax.tree.map(np.asarray, state.committed)
        pairs = [(j, int(seats[j, c])) for j, c in zip(*np.nonzero(runs), strict=True)]
        val_archs = [archs[int(committed.pid[j])].arch for j, _ in pairs]
        who, ok = (np.asarray(x) for x in proposers(params, state, key))
        types = np.asarray(state.types)
        parent = archs[int(np.asarray(state.best_id)[0])].arch
        options = [
            candidates(
                ev, jax.random.fold_in(key, 100 + j), parent, int(types[who[j]]), seen
            )
            if ok[j]
            else []
            for j in range(n_slots)
        ]
        flat = [c.arch for opts in options for c in opts]
        public, chain_scores, oracle = ev.evaluate(beacon, val_archs + flat)
        scores = np.full((n_slots, size), np.nan)
        for (j, v), s in zip(pairs, chain_scores[: len(pairs)], strict=True):
            scores[j, seats[j] == v] = 0.0 if np.isnan(s) else s
        incumbent = None
        if paired and pairs:
            # The incumbent each vote compares with: the task's best once
            # this block's finalisation has run (as ``step`` will see it).
            best = np.asarray(_best_after_finalize(params, state))
            tasks = np.asarray(committed.task)
            inc_archs = [archs[int(best[tasks[j]])].arch for j, _ in pairs]
            # Same beacon, same member order: candidate i and its incumbent
            # train with the same key and minibatch order on the same
            # chain-drawn blocks (paired, common random numbers).
            _, inc_scores, _ = ev.evaluate(beacon, inc_archs)
            incumbent = np.full((n_slots, size), np.nan)
            for (j, v), s in zip(pairs, inc_scores, strict=True):
                incumbent[j, seats[j] == v] = 0.0 if np.isnan(s) else s
        cuts = np.cumsum([0] + [len(o) for o in options]) + len(pairs)
        bar = float(np.asarray(state.best_score)[0]) + cfg.consensus.min_improvement
        batch, chosen = proposal_batch(
            types,
            who,
            ok,
            options,
            [public[a:b] for a, b in itertools.pairwise(cuts)],
            [oracle[a:b] for a, b in itertools.pairwise(cuts)],
            bar,
            cfg.agents.lie_margin,
        )
        inputs = BlockInputs(key, beacon, batch, scores, incumbent)
        state, out = jit_step(params, state, inputs)
        new = jax.tree.map(np.asarray, state.committed)
        for j, cand in enumerate(chosen):
            if cand is not None and new.valid[j]:
                archs[int(new.pid[j])] = cand
                seen.add(cand.fingerprint)
        row = {k: np.asarray(v) for k, v in out.metrics._asdict().items()}
        rows.append(row)
        if rec is not None:
            assert out.events is not None
            rec.block(t, jax.tree.map(np.asarray, out.events), row)
        if on_block is not None:
            on_block(t, row)
    metrics = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    return RealRun(
        initial=initial,
        final=state,
        metrics=metrics,
        models={pid: c.fingerprint for pid, c in archs.items()},
        train_seconds=ev.seconds,
        evaluations=ev.evaluations,
    )


@x64
@jax.jit
def _best_after_finalize(params: Params, state: State) -> jax.Array:
    """``int64[T]`` each task's best once the block's ``finalize`` has run."""
    return finalize(params, state)[0].best_id


@x64
@jax.jit
def _evaluators(state: State, seats: np.ndarray) -> jax.Array:
    return evaluators(state, state.committed, jnp.asarray(seats, jnp.int32))


def first_seats(seats: np.ndarray) -> np.ndarray:
    """``bool[P, C]`` first seat of each validator per committee (host)."""
    out = np.zeros(seats.shape, bool)
    for j, row in enumerate(seats):
        _, first = np.unique(row, return_index=True)
        out[j, first] = True
    return out
