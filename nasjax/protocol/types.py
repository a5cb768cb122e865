"""Pytrees of the protocol core: parameters, state, block inputs and outputs.

Shapes: ``N`` identities (nodes), ``P`` proposal slots per block, ``C``
committee seats per proposal, ``D`` unbonding-delay slots, ``T`` tasks.
Amounts are ``int64`` micro-tokens, rates ``int64`` parts per million, scores
``float64`` accuracies. Every array is built in 64-bit mode.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
from flax import struct
from jax.typing import ArrayLike

AGENT_TYPES: tuple[str, ...] = (
    "honest",
    "lazy",
    "liar",
    "sybil",
    "ring",
    "overfitter",
    "random",
)
"""Agent type names; a node's ``types`` entry indexes this tuple."""

HONEST, LAZY, LIAR, SYBIL, RING, OVERFITTER, RANDOM = range(len(AGENT_TYPES))

SLASH_CAUSES: tuple[str, ...] = ("overclaim", "equivocation", "deviation")
"""Causes of slashed / penalised tokens, in the order of ``State.slashed``."""


@struct.dataclass
class Params:
    """Numeric parameters of the core (leaves are traced: sweepable by vmap).

    Attributes:
        quorum_seats: ``int64[]`` seats that must reveal (and vote accept).
        min_improvement: ``f64[]`` margin over the certified best.
        claim_tolerance: ``f64[]`` over-claim threshold.
        median_rule: ``bool[]`` decide on the median score instead of a
            supermajority of accept votes.
        commit_reveal: ``bool[]`` votes hidden until every vote is committed.
        fresh_folds: ``bool[]`` validators use chain-drawn folds.
        deposit: ``int64[]`` escrow per proposal.
        fee: ``int64[]`` fee per proposal.
        validator_emission: ``int64[]`` units minted per block for the
            validators that voted with the outcome.
        max_reward_per_block: ``int64[]`` most reward units minted per block.
        emission_cap: ``int64[]`` most units ever minted.
        reward_per_point: ``f64[]`` units per +1.0 certified improvement.
        proposer_share: ``int64[]`` ppm of a reward for the proposer.
        overclaim_slash: ``int64[]`` ppm of the deposit slashed.
        whistleblower_share: ``int64[]`` ppm of a slash paid to reject voters.
        equivocation_slash: ``int64[]`` ppm of bond slashed per equivocation.
        correlation_multiplier: ``f64[]`` correlation penalty multiplier.
        deviation_penalty: ``int64[]`` ppm of bond burned per deviating vote.
        min_bond: ``int64[]`` bond needed to take part.
        liquid_reserve: ``int64[]`` balance kept liquid by auto-restaking.
        auto_restake: ``bool[]`` bond the balance above the reserve.
        unbond_prob: ``f64[]`` per-block unbonding probability.
        unbond_fraction: ``int64[]`` ppm of the bond unbonded.
        eval_cost: ``int64[]`` compute units per validator evaluation.
        train_cost: ``int64[]`` compute units per trained candidate.
        lie_margin: ``f64[]`` over-claim of liars, rings and Sybils.
        equivocate_prob: ``f64[]`` equivocation probability of ring / Sybil.
        offline_prob: ``f64[]`` probability a validator does not reveal.
        ceiling: ``f64[]`` best reachable quality (surrogate).
        fold_noise: ``f64[]`` fold-set error std (surrogate).
        train_noise: ``f64[]`` training noise std (surrogate).
        gain_mean: ``f64[]`` mean morph gain over the headroom (surrogate).
        gain_std: ``f64[]`` std of the morph gain over the headroom.
        tune_std: ``f64[]`` quality std between an overfitter's variants.
        random_mean: ``f64[]`` mean quality of a random arch.
        random_std: ``f64[]`` std of the quality of a random arch.
        paired_rule: ``bool[]`` decide by the paired test (takes precedence
            over ``median_rule``).
        t2_ppm: ``int64[257]`` squared Student quantiles of the paired
            test's confidence per degrees of freedom, in ppm
            (:func:`nasjax.protocol.paired.t2_table`).
        test_gain: ``f64[]`` the paired test's null gain (scores).
        test_units: ``int64[]`` the same in integer score units (rounded up).
        trim_ppm: ``int64[]`` share of seats trimmed from each end, in ppm.
        band_ppm: ``int64[]`` paired rule: a seat whose gain is more than
            ``band_ppm / 1.4826e6`` robust standard deviations from the
            committee's median is screened out of the test and deviates.
        keep_overclaimed: ``bool[]`` paired rule: accept an over-claimed
            candidate that passes the test (slashed, no reward).
        recertify: ``bool[]`` re-certify the incumbent's score with every
            committee's incumbent scores (running mean).
        block_share: ``f64[]`` share of the fold-error variance common to the
            models scored on one block (surrogate).
        train_share: ``f64[]`` correlation of a pair's training noise
            (surrogate, common random numbers).
        overfit_tries: Static number of variants an overfitter tries.
        eval_blocks: Static number of chain-drawn blocks per seat (paired).
    """

    quorum_seats: jax.Array
    min_improvement: jax.Array
    claim_tolerance: jax.Array
    median_rule: jax.Array
    commit_reveal: jax.Array
    fresh_folds: jax.Array
    deposit: jax.Array
    fee: jax.Array
    validator_emission: jax.Array
    max_reward_per_block: jax.Array
    emission_cap: jax.Array
    reward_per_point: jax.Array
    proposer_share: jax.Array
    overclaim_slash: jax.Array
    whistleblower_share: jax.Array
    equivocation_slash: jax.Array
    correlation_multiplier: jax.Array
    deviation_penalty: jax.Array
    min_bond: jax.Array
    liquid_reserve: jax.Array
    auto_restake: jax.Array
    unbond_prob: jax.Array
    unbond_fraction: jax.Array
    eval_cost: jax.Array
    train_cost: jax.Array
    lie_margin: jax.Array
    equivocate_prob: jax.Array
    offline_prob: jax.Array
    ceiling: jax.Array
    fold_noise: jax.Array
    train_noise: jax.Array
    gain_mean: jax.Array
    gain_std: jax.Array
    tune_std: jax.Array
    random_mean: jax.Array
    random_std: jax.Array
    paired_rule: jax.Array
    t2_ppm: jax.Array
    test_gain: jax.Array
    test_units: jax.Array
    trim_ppm: jax.Array
    keep_overclaimed: jax.Array
    band_ppm: jax.Array
    recertify: jax.Array
    block_share: jax.Array
    train_share: jax.Array
    overfit_tries: int = struct.field(pytree_node=False, default=1)
    eval_blocks: int = struct.field(pytree_node=False, default=1)


@struct.dataclass
class Pending:
    """Proposals in one pipeline stage (``P`` slots).

    A proposal is committed in block ``t`` (stage ``committed``), revealed in
    ``t + 1`` where its committee is drawn and commits votes (stage
    ``voting``), and finalised in ``t + 2`` when the votes are revealed.

    Attributes:
        valid: ``bool[P]`` slot holds a proposal.
        pid: ``int64[P]`` proposal id (also its model id if accepted).
        proposer: ``int32[P]`` proposing node.
        task: ``int32[P]`` task of the proposal.
        parent: ``int64[P]`` model id of the parent (the task's best).
        claimed: ``f64[P]`` claimed score.
        quality: ``f64[P]`` ground-truth quality (simulator bookkeeping for
            the false-accept/-reject rates; the decision rule never reads it).
        public_error: ``f64[P]`` the candidate's error on the public folds.
        deposit: ``int64[P]`` escrowed deposit.
        fee: ``int64[P]`` escrowed fee.
        best_at_vote: ``f64[P]`` certified best of the task when voting.
        best_true_at_vote: ``f64[P]`` true quality of that best.
        seats: ``int32[P, C]`` committee seats (node ids, repeats allowed).
        score: ``f64[P, C]`` revealed score per seat.
        accept: ``bool[P, C]`` vote per seat.
        revealed: ``bool[P, C]`` seat revealed its vote.
        equivocated: ``bool[P, C]`` seat's validator signed two votes.
        evaluated: ``bool[P, C]`` seat's validator ran an evaluation.
        gain: ``f64[P, C]`` revealed paired gain per seat (candidate minus
            incumbent, mean over the seat's evaluation blocks).
        incumbent: ``f64[P, C]`` revealed incumbent score per seat (mean
            over the same blocks).
        incumbent_id: ``int64[P]`` model id of the incumbent when voting.
    """

    valid: jax.Array
    pid: jax.Array
    proposer: jax.Array
    task: jax.Array
    parent: jax.Array
    claimed: jax.Array
    quality: jax.Array
    public_error: jax.Array
    deposit: jax.Array
    fee: jax.Array
    best_at_vote: jax.Array
    best_true_at_vote: jax.Array
    seats: jax.Array
    score: jax.Array
    accept: jax.Array
    revealed: jax.Array
    equivocated: jax.Array
    evaluated: jax.Array
    gain: jax.Array
    incumbent: jax.Array
    incumbent_id: jax.Array

    def replace(self, **changes: Any) -> Pending:
        """A copy with ``changes`` applied (out of place)."""
        return dataclasses.replace(self, **changes)


@struct.dataclass
class State:
    """The whole chain state between blocks.

    Attributes:
        block: ``int64[]`` index of the next block.
        beacon: ``uint32[2]`` the chain's randomness (PRNG key data).
        balance: ``int64[N]`` liquid balances.
        bonded: ``int64[N]`` bonded stake.
        unbonding: ``int64[N, D]`` stake released when ``block % D`` reaches
            the slot (still slashable).
        types: ``int32[N]`` agent type per node (index of ``AGENT_TYPES``).
        entity: ``int32[N]`` owner of each identity (Sybils share one).
        endowment: ``int64[N]`` initial wealth (for ROI).
        compute: ``int64[N]`` off-chain compute spent (for ROI).
        committed: Proposals committed last block.
        voting: Proposals whose votes were committed last block.
        best_score: ``f64[T]`` certified best score per task.
        best_true: ``f64[T]`` true quality of each task's best model.
        best_id: ``int64[T]`` model id of each task's best.
        best_weight: ``f64[T]`` evidence behind each best's certified score
            (counted seat evaluations; the running mean's weight).
        n_models: ``int64[]`` accepted models so far (genesis models count).
        n_proposals: ``int64[]`` proposals committed so far.
        initial_supply: ``int64[]`` units at genesis.
        emitted: ``int64[]`` units minted so far.
        burned: ``int64[]`` units burned so far.
        slashed: ``int64[3]`` units slashed per cause (``SLASH_CAUSES``).
    """

    block: jax.Array
    beacon: jax.Array
    balance: jax.Array
    bonded: jax.Array
    unbonding: jax.Array
    types: jax.Array
    entity: jax.Array
    endowment: jax.Array
    compute: jax.Array
    committed: Pending
    voting: Pending
    best_score: jax.Array
    best_true: jax.Array
    best_id: jax.Array
    best_weight: jax.Array
    n_models: jax.Array
    n_proposals: jax.Array
    initial_supply: jax.Array
    emitted: jax.Array
    burned: jax.Array
    slashed: jax.Array

    def replace(self, **changes: Any) -> State:
        """A copy with ``changes`` applied (out of place)."""
        return dataclasses.replace(self, **changes)


class ProposalBatch(NamedTuple):
    """New proposals of one block (one per slot; invalid slots are empty).

    Attributes:
        valid: ``bool[P]`` the slot's proposer submits.
        proposer: ``int32[P]`` proposer per slot.
        task: ``int32[P]`` task per slot.
        claimed: ``f64[P]`` claimed score.
        quality: ``f64[P]`` ground-truth quality (bookkeeping only).
        public_error: ``f64[P]`` error of the public folds for the candidate.
        n_trained: ``int32[P]`` candidates the proposer trained (compute),
            counted whether or not it submits.
    """

    valid: ArrayLike
    proposer: ArrayLike
    task: ArrayLike
    claimed: ArrayLike
    quality: ArrayLike
    public_error: ArrayLike
    n_trained: ArrayLike


class BlockInputs(NamedTuple):
    """What one block needs from outside the state.

    Attributes:
        key: PRNG key of the agents' private randomness this block.
        beacon: ``uint32[2]`` chain randomness (e.g. from the previous block
            hash); None uses ``State.beacon``.
        proposals: New proposals; None lets the surrogate agents propose.
        scores: ``f64[P, C]`` evaluations of the revealed proposals by their
            committee seats (NaN where no evaluation ran); None uses the
            surrogate evaluator.
        incumbent_scores: ``f64[P, C]`` the same seats' scores of the task's
            incumbent on the same evaluation blocks (paired rule); None with
            ``scores`` given uses the certified best (no pairing).
    """

    key: jax.Array
    beacon: ArrayLike | None = None
    proposals: ProposalBatch | None = None
    scores: ArrayLike | None = None
    incumbent_scores: ArrayLike | None = None


class Outcome(NamedTuple):
    """How each finalised slot ended (``[P]`` each).

    Attributes:
        accepted: Reached quorum and >= quorum seats voted accept.
        rejected: Reached quorum but not enough accept votes.
        expired: Missed quorum (deposit and fee refunded).
        overclaim: Decided, not accepted as claimed, and the claim exceeded
            the certified score by more than the tolerance (deposit slashed;
            rejected, or accepted without reward under the paired rule's
            ``keep_overclaimed``).
        certified: Median of the counted scores (NaN when none); paired rule:
            the incumbent's re-certified score plus the median gain.
        reward: ``int64`` units minted for the improvement.
        slash: ``int64`` units slashed from the deposit.
        new_best: Became its task's best.
        bad: Decided and its true quality does not beat the best's.
        good: Decided and it truly improves by at least the margin.
        gain: Median paired gain of the counted seats (NaN when none).
        lower: The paired test's lower confidence bound on the gain.
    """

    accepted: jax.Array
    rejected: jax.Array
    expired: jax.Array
    overclaim: jax.Array
    certified: jax.Array
    reward: jax.Array
    slash: jax.Array
    new_best: jax.Array
    bad: jax.Array
    good: jax.Array
    gain: jax.Array
    lower: jax.Array


class BlockMetrics(NamedTuple):
    """Per-block measurements (scalars unless a shape is given).

    Counts are of this block; ``supply`` and ``supply_expected`` are totals
    after it (they must be equal: conservation).
    """

    block: jax.Array
    producer: jax.Array
    best_score: jax.Array  # f64[T]
    best_true: jax.Array  # f64[T]
    proposed: jax.Array
    accepted: jax.Array
    rejected: jax.Array
    expired: jax.Array
    overclaims: jax.Array
    bad: jax.Array
    bad_accepted: jax.Array
    good: jax.Array
    good_rejected: jax.Array
    emitted: jax.Array
    burned: jax.Array
    slashed: jax.Array  # int64[3]
    fees: jax.Array
    supply: jax.Array
    supply_expected: jax.Array
    gini: jax.Array
    nakamoto: jax.Array
    stake_by_type: jax.Array  # int64[len(AGENT_TYPES)]
    validator_evals: jax.Array
    proposer_trainings: jax.Array
    deviations: jax.Array
    equivocations: jax.Array


class BlockEvents(NamedTuple):
    """Everything the ledger records of one block.

    Attributes:
        finalized: The stage whose votes were revealed and tallied.
        outcome: Its outcome.
        voting: Proposals revealed this block with their committed votes.
        committed: Proposals committed this block.
        beacon: ``uint32[2]`` the randomness the block used.
        producer: ``int32[]`` the block producer (stake-weighted draw).
    """

    finalized: Pending
    outcome: Outcome
    voting: Pending
    committed: Pending
    beacon: jax.Array
    producer: jax.Array


class BlockOutput(NamedTuple):
    """``step``'s second output: metrics, and the events when recorded."""

    metrics: BlockMetrics
    events: BlockEvents | None
