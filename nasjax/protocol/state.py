"""Genesis: core parameters from a config, the initial state, supply views."""

from __future__ import annotations

import math
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.protocol.agents import make_population
from nasjax.protocol.config import ProtocolConfig
from nasjax.protocol.paired import paired_band_ppm, paired_margin_units, t2_table
from nasjax.protocol.sortition import beacon_data
from nasjax.protocol.tokens import credit, to_ppm, to_units
from nasjax.protocol.types import Params, Pending, State
from nasjax.protocol.x64 import x64


@x64
def make_params(cfg: ProtocolConfig) -> Params:
    """The core's numeric :class:`Params` of a config (64-bit scalars)."""
    c, e, a, s = cfg.consensus, cfg.economics, cfg.agents, cfg.surrogate
    q = cfg.acceptance

    def units(x: float) -> jax.Array:
        return jnp.asarray(to_units(x), jnp.int64)

    def ppm(x: float) -> jax.Array:
        return jnp.asarray(to_ppm(x), jnp.int64)

    def f(x: float) -> jax.Array:
        return jnp.asarray(x, jnp.float64)

    quorum = math.ceil(c.quorum * c.committee_size - 1e-9)
    return Params(
        quorum_seats=jnp.asarray(max(quorum, 1), jnp.int64),
        min_improvement=f(c.min_improvement),
        claim_tolerance=f(c.claim_tolerance),
        median_rule=jnp.asarray(c.rule == "median"),
        commit_reveal=jnp.asarray(c.commit_reveal),
        fresh_folds=jnp.asarray(c.fresh_folds),
        deposit=units(e.proposal_deposit),
        fee=units(e.proposal_fee),
        validator_emission=units(e.validator_emission),
        max_reward_per_block=units(e.max_reward_per_block),
        emission_cap=units(e.emission_cap),
        reward_per_point=f(to_units(e.reward_per_point)),
        proposer_share=ppm(e.proposer_share),
        overclaim_slash=ppm(e.overclaim_slash),
        whistleblower_share=ppm(e.whistleblower_share),
        equivocation_slash=ppm(e.equivocation_slash),
        correlation_multiplier=f(e.correlation_multiplier),
        deviation_penalty=ppm(e.deviation_penalty),
        min_bond=units(e.min_bond),
        liquid_reserve=units(e.liquid_reserve),
        auto_restake=jnp.asarray(e.auto_restake),
        unbond_prob=f(e.unbond_prob),
        unbond_fraction=ppm(e.unbond_fraction),
        eval_cost=units(e.eval_cost),
        train_cost=units(e.train_cost),
        lie_margin=f(a.lie_margin),
        equivocate_prob=f(a.equivocate_prob),
        offline_prob=f(a.offline_prob),
        ceiling=f(s.ceiling),
        fold_noise=f(s.fold_noise),
        train_noise=f(s.train_noise),
        gain_mean=f(s.gain_mean),
        gain_std=f(s.gain_std),
        tune_std=f(s.tune_std),
        random_mean=f(s.random_mean),
        random_std=f(s.random_std),
        paired_rule=jnp.asarray(c.rule == "paired"),
        t2_ppm=jnp.asarray(t2_table(NormalDist().inv_cdf(q.confidence)), jnp.int64),
        test_gain=f(q.margin_fraction * c.min_improvement),
        test_units=jnp.asarray(
            paired_margin_units(q.margin_fraction * c.min_improvement), jnp.int64
        ),
        trim_ppm=ppm(q.trim),
        keep_overclaimed=jnp.asarray(q.keep_overclaimed),
        band_ppm=jnp.asarray(paired_band_ppm(q.outlier_band), jnp.int64),
        recertify=jnp.asarray(q.recertify),
        block_share=f(s.block_share),
        train_share=f(s.train_share),
        overfit_tries=a.overfit_tries,
        eval_blocks=q.blocks,
    )


def empty_pending(n_slots: int, committee: int) -> Pending:
    """An empty pipeline stage of ``n_slots`` slots and ``committee`` seats."""
    p, pc = (n_slots,), (n_slots, committee)
    return Pending(
        valid=jnp.zeros(p, bool),
        pid=jnp.full(p, -1, jnp.int64),
        proposer=jnp.zeros(p, jnp.int32),
        task=jnp.zeros(p, jnp.int32),
        parent=jnp.full(p, -1, jnp.int64),
        claimed=jnp.zeros(p, jnp.float64),
        quality=jnp.zeros(p, jnp.float64),
        public_error=jnp.zeros(p, jnp.float64),
        deposit=jnp.zeros(p, jnp.int64),
        fee=jnp.zeros(p, jnp.int64),
        best_at_vote=jnp.zeros(p, jnp.float64),
        best_true_at_vote=jnp.zeros(p, jnp.float64),
        seats=jnp.zeros(pc, jnp.int32),
        score=jnp.full(pc, jnp.nan, jnp.float64),
        accept=jnp.zeros(pc, bool),
        revealed=jnp.zeros(pc, bool),
        equivocated=jnp.zeros(pc, bool),
        evaluated=jnp.zeros(pc, bool),
        gain=jnp.full(pc, jnp.nan, jnp.float64),
        incumbent=jnp.full(pc, jnp.nan, jnp.float64),
        incumbent_id=jnp.full(p, -1, jnp.int64),
    )


@x64
def init_state(
    cfg: ProtocolConfig,
    initial_score: float | np.ndarray | None = None,
    initial_true: float | np.ndarray | None = None,
) -> State:
    """The genesis state.

    Each identity's endowment is split into a liquid part
    (``liquid_fraction``) and bonded stake; the registration fee is burned
    from the liquid part (then from the bond). Every task starts with a
    genesis model (ids ``0 .. T-1``) whose certified score carries the
    weight of one evaluation (``best_weight``) for re-certification.

    Args:
        cfg: The configuration.
        initial_score: Certified score of the genesis model(s) (default
            ``cfg.surrogate.initial_score``).
        initial_true: Their true quality (default: ``initial_score``).

    Returns:
        The :class:`State` before block 0.
    """
    e, c = cfg.economics, cfg.consensus
    types, entity, endowment = make_population(cfg)
    n, t = cfg.n_nodes, c.n_tasks
    fee = np.minimum(to_units(e.registration_fee), endowment)
    liquid = (endowment * to_ppm(e.liquid_fraction)) // 1_000_000
    bonded = endowment - liquid
    from_liquid = np.minimum(fee, liquid)
    liquid = liquid - from_liquid
    bonded = bonded - (fee - from_liquid)
    score0 = cfg.surrogate.initial_score if initial_score is None else initial_score
    true0 = score0 if initial_true is None else initial_true
    seed_key = jax.random.fold_in(jax.random.key(cfg.seed), 0xBEAC)
    return State(
        block=jnp.asarray(0, jnp.int64),
        beacon=beacon_data(seed_key),
        balance=jnp.asarray(liquid, jnp.int64),
        bonded=jnp.asarray(bonded, jnp.int64),
        unbonding=jnp.zeros((n, e.unbonding_delay), jnp.int64),
        types=jnp.asarray(types, jnp.int32),
        entity=jnp.asarray(entity, jnp.int32),
        endowment=jnp.asarray(endowment, jnp.int64),
        compute=jnp.zeros(n, jnp.int64),
        committed=empty_pending(c.proposals_per_block, c.committee_size),
        voting=empty_pending(c.proposals_per_block, c.committee_size),
        best_score=jnp.broadcast_to(jnp.asarray(score0, jnp.float64), (t,)),
        best_true=jnp.broadcast_to(jnp.asarray(true0, jnp.float64), (t,)),
        best_id=jnp.arange(t, dtype=jnp.int64),
        best_weight=jnp.ones(t, jnp.float64),
        n_models=jnp.asarray(t, jnp.int64),
        n_proposals=jnp.asarray(t, jnp.int64),
        initial_supply=jnp.asarray(int(endowment.sum()), jnp.int64),
        emitted=jnp.asarray(0, jnp.int64),
        burned=jnp.asarray(int(fee.sum()), jnp.int64),
        slashed=jnp.zeros(3, jnp.int64),
    )


def escrow(state: State) -> jax.Array:
    """``int64[N]`` deposits and fees held in pending proposals, per proposer."""
    n = state.balance.shape[-1]
    total = jnp.zeros(n, jnp.int64)
    for stage in (state.committed, state.voting):
        held = jnp.where(stage.valid, stage.deposit + stage.fee, 0)
        total = total + credit(n, stage.proposer, held)
    return total


def wealth(state: State) -> jax.Array:
    """``int64[N]`` everything a node owns: liquid, bonded, unbonding, escrow."""
    return (
        state.balance + state.bonded + jnp.sum(state.unbonding, axis=-1) + escrow(state)
    )


def supply(state: State) -> jax.Array:
    """``int64[]`` units held by all nodes (must equal ``expected_supply``)."""
    return jnp.sum(wealth(state))


def expected_supply(state: State) -> jax.Array:
    """``int64[]`` initial + emitted - burned."""
    return state.initial_supply + state.emitted - state.burned
