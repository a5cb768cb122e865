"""The pure state transition ``step`` and the ``lax.scan`` driver ``simulate``.

One block, in order:

1. Committees for the proposals committed last block are drawn from the
   block's beacon and the bonded stake at the start of the block; so is the
   block producer.
2. The votes committed last block are revealed: those proposals are tallied
   and settled (:func:`nasjax.protocol.economics.finalize`).
3. The proposals committed last block are revealed; their committees
   evaluate (surrogate, or ``inputs.scores`` from the real evaluator) and
   commit votes. Under the paired rule every evaluating seat scores the
   candidate and the task's incumbent on the same chain-drawn blocks
   (surrogate: :func:`~nasjax.protocol.agents.surrogate_paired_scores`;
   real: ``inputs.incumbent_scores``).
4. Stake-weighted proposer slots: new proposals are committed, deposits and
   fees escrowed.
5. Bonding churn (release, restake, unbond); the beacon moves on.

``step(params, state, inputs) -> (state, BlockOutput)`` is pure and
jittable: the numeric parameters are an explicit argument (so sweeps can
``vmap`` over them) and the block's metrics (and ledger events) are a second
output, the shape ``lax.scan`` wants::

    body = lambda s, k: step(params, s, BlockInputs(k), record_events=False)
    final, outputs = jax.lax.scan(body, state, jax.random.split(key, n_blocks))

which is what :func:`simulate` compiles. The randomness beacon: with the
real evaluator each block's beacon is derived from the previous block's hash
(``inputs.beacon``); in surrogate scans the state carries an in-graph hash
chain (``fold_in`` of the previous beacon with a digest of the block), so
committees are deterministic given the seed and the chain, and unknown when a
proposal is committed.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nasjax.protocol.agents import (
    cast_votes,
    first_seat,
    surrogate_paired_scores,
    surrogate_proposals,
    surrogate_scores,
)
from nasjax.protocol.economics import charge_evaluations, churn, finalize, submit
from nasjax.protocol.metrics import gini, nakamoto, stake_by_type
from nasjax.protocol.sortition import (
    beacon_data,
    beacon_key,
    draw_committees,
    draw_producer,
    select_proposers,
)
from nasjax.protocol.state import expected_supply, supply
from nasjax.protocol.types import (
    BlockEvents,
    BlockInputs,
    BlockMetrics,
    BlockOutput,
    Params,
    State,
)
from nasjax.protocol.x64 import x64


class BlockKeys(NamedTuple):
    """The agents' private keys of one block, split from ``inputs.key``."""

    vote: jax.Array
    evaluate: jax.Array
    select: jax.Array
    propose: jax.Array
    churn: jax.Array


def block_keys(key: jax.Array) -> BlockKeys:
    """Split a block key into its named parts."""
    return BlockKeys(*jax.random.split(key, 5))


def eligible(params: Params, state: State) -> tuple[jax.Array, jax.Array]:
    """``(validators bool[N], proposers bool[N])`` able to take part."""
    bonded = state.bonded >= jnp.maximum(params.min_bond, 1)
    can_pay = state.balance >= params.deposit + params.fee
    return bonded, bonded & can_pay


@x64
@jax.jit
def committees(
    params: Params, state: State, beacon: jax.Array | None = None
) -> jax.Array:
    """``int32[P, C]`` committees of the proposals ``state.committed`` holds.

    Args:
        params: Core parameters.
        state: State at the start of the block.
        beacon: The block's beacon (default ``state.beacon``).
    """
    beacon = state.beacon if beacon is None else beacon
    validators, _ = eligible(params, state)
    size = state.committed.seats.shape[1]
    return draw_committees(
        beacon, state.bonded, validators, state.committed.proposer, size
    )


@x64
@jax.jit
def proposers(
    params: Params, state: State, key: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(proposer int32[P], ok bool[P])``: this block's proposer lottery.

    ``key`` is the block key (``BlockInputs.key``); the real-evaluator driver
    calls this before ``step`` to know whose candidates to train.
    """
    _, can_propose = eligible(params, state)
    n_slots = state.committed.valid.shape[0]
    return select_proposers(block_keys(key).select, state.bonded, can_propose, n_slots)


def surrogate_evaluations(
    params: Params, key: jax.Array, state: State, seats: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The surrogate committees' scores of the proposals revealed this block.

    Args:
        params: Core parameters.
        key: The block's evaluation key (``BlockKeys.evaluate``).
        state: State after this block's finalisation (its ``committed``
            stage holds the proposals being voted on, its registry the
            incumbents).
        seats: ``int32[P, C]`` their committees.

    Returns:
        ``(scores f64[P, C], incumbent f64[P, C])``: the candidate's scores
        and (paired rule; NaN otherwise) the incumbent's on the same blocks.
    """
    revealed = state.committed
    plain = surrogate_scores(params, key, revealed, seats)
    inc_true = state.best_true[revealed.task]
    cand, inc = surrogate_paired_scores(params, key, revealed, seats, inc_true)
    scores = jnp.where(params.paired_rule, cand, plain)
    return scores, jnp.where(params.paired_rule, inc, jnp.nan)


@x64
def step(
    params: Params, state: State, inputs: BlockInputs, *, record_events: bool = True
) -> tuple[State, BlockOutput]:
    """Advance the chain by one block.

    Args:
        params: Core parameters.
        state: State before the block.
        inputs: The block's key, and optionally its beacon, proposals and the
            committees' scores (see :class:`BlockInputs`).
        record_events: Also return the :class:`BlockEvents` the ledger needs.

    Returns:
        ``(state, BlockOutput(metrics, events))``.
    """
    keys = block_keys(inputs.key)
    beacon = state.beacon if inputs.beacon is None else jnp.asarray(inputs.beacon)
    start = state
    seats = committees(params, start, beacon)
    producer = draw_producer(beacon, start.bonded)

    finalized = state.voting
    state, outcome, info = finalize(params, state)

    revealed = state.committed
    incumbent = None
    if inputs.scores is None:
        scores, incumbent = surrogate_evaluations(params, keys.evaluate, state, seats)
    else:
        scores = jnp.asarray(inputs.scores, jnp.float64)
        if inputs.incumbent_scores is not None:
            incumbent = jnp.asarray(inputs.incumbent_scores, jnp.float64)
    if incumbent is not None:
        best = state.best_score[revealed.task][:, None]
        incumbent = jnp.where(params.paired_rule, incumbent, best)
    voting = cast_votes(params, keys.vote, state, revealed, seats, scores, incumbent)
    state = charge_evaluations(params, state.replace(voting=voting), voting)

    batch = inputs.proposals
    if batch is None:
        who, ok = proposers(params, start, inputs.key)
        batch = surrogate_proposals(params, keys.propose, start, who, ok)
    state = submit(params, state, batch)
    state = churn(params, keys.churn, state)

    digest = jnp.sum(outcome.accepted) * 7919 + jnp.sum(voting.seats) + state.block
    next_beacon = jax.random.fold_in(beacon_key(beacon), digest.astype(jnp.uint32))
    state = state.replace(block=state.block + 1, beacon=beacon_data(next_beacon))

    metrics = BlockMetrics(
        block=start.block,
        producer=producer,
        best_score=state.best_score,
        best_true=state.best_true,
        proposed=jnp.sum(state.committed.valid),
        accepted=jnp.sum(outcome.accepted),
        rejected=jnp.sum(outcome.rejected),
        expired=jnp.sum(outcome.expired),
        overclaims=jnp.sum(outcome.overclaim),
        bad=jnp.sum(outcome.bad),
        bad_accepted=jnp.sum(outcome.bad & outcome.accepted),
        good=jnp.sum(outcome.good),
        good_rejected=jnp.sum(outcome.good & outcome.rejected),
        emitted=info["emitted"],
        burned=info["burned"],
        slashed=info["slashed"],
        fees=info["fees"],
        supply=supply(state),
        supply_expected=expected_supply(state),
        gini=gini(state.bonded),
        nakamoto=nakamoto(state.bonded),
        stake_by_type=stake_by_type(state),
        validator_evals=jnp.sum(voting.evaluated & first_seat(voting.seats)),
        proposer_trainings=jnp.sum(batch.n_trained),
        deviations=info["deviations"],
        equivocations=info["equivocations"],
    )
    events = None
    if record_events:
        events = BlockEvents(
            finalized=finalized,
            outcome=outcome,
            voting=state.voting,
            committed=state.committed,
            beacon=jnp.asarray(beacon, jnp.uint32),
            producer=producer,
        )
    return state, BlockOutput(metrics, events)


_step_jit = jax.jit(step, static_argnames=("record_events",))


@x64
def jit_step(
    params: Params, state: State, inputs: BlockInputs, *, record_events: bool = True
) -> tuple[State, BlockOutput]:
    """:func:`step` compiled once per input structure (for block-by-block runs)."""
    return _step_jit(params, state, inputs, record_events=record_events)


@functools.partial(jax.jit, static_argnames=("n_blocks", "record_events"))
def _simulate(
    params: Params, state: State, key: jax.Array, n_blocks: int, record_events: bool
) -> tuple[State, BlockOutput]:
    def body(s: State, k: jax.Array) -> tuple[State, BlockOutput]:
        return step(params, s, BlockInputs(k), record_events=record_events)

    return jax.lax.scan(body, state, jax.random.split(key, n_blocks))


def _simulate_batch_impl(
    params: Params, state: State, key: jax.Array, n_blocks: int
) -> tuple[State, BlockOutput]:
    def one(p: Params, s: State, k: jax.Array) -> tuple[State, BlockOutput]:
        return _simulate(p, s, k, n_blocks, False)

    return jax.vmap(one)(params, state, key)


_simulate_batch = jax.jit(_simulate_batch_impl, static_argnames=("n_blocks",))


@x64
def simulate_batch(
    params: Params, state: State, key: jax.Array, n_blocks: int
) -> tuple[State, BlockOutput]:
    """:func:`simulate` vmapped over a leading batch axis of every argument.

    Runs a Monte Carlo / parameter sweep of equally shaped simulations (same
    N, P, C, D, T) in one compiled program.

    Args:
        params: Stacked :class:`Params` ``[B]``.
        state: Stacked initial states ``[B]``.
        key: Keys ``[B]``.
        n_blocks: Blocks per simulation.

    Returns:
        ``(final states [B], BlockOutput [B, n_blocks])`` (no events).
    """
    return _simulate_batch(params, state, key, n_blocks)


@x64
def compile_simulation(
    params: Params,
    state: State,
    key: jax.Array,
    n_blocks: int,
    *,
    record_events: bool = False,
):
    """Ahead-of-time compile :func:`simulate` (to time compilation apart).

    Returns:
        A compiled callable ``(params, state, key) -> (state, BlockOutput)``;
        call it under :func:`nasjax.protocol.x64.x64_mode`.
    """
    lowered = _simulate.lower(params, state, key, n_blocks, record_events)
    return lowered.compile()


@x64
def simulate(
    params: Params,
    state: State,
    key: jax.Array,
    n_blocks: int,
    *,
    record_events: bool = False,
) -> tuple[State, BlockOutput]:
    """Run ``n_blocks`` blocks with the surrogate agents in one ``lax.scan``.

    Args:
        params: Core parameters (leaves may carry a leading vmap axis).
        state: Initial state.
        key: Root key of the agents' private randomness.
        n_blocks: Blocks to run (static).
        record_events: Also stack the per-block :class:`BlockEvents`.

    Returns:
        ``(final state, BlockOutput)`` with a leading ``n_blocks`` axis.
    """
    return _simulate(params, state, key, n_blocks, record_events)
