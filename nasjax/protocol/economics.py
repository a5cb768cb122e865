"""Economics: tally and settle proposals, escrow new ones, bonding churn.

All amounts are integer units; every transfer either moves units between
holdings, mints them (``emitted``) or burns them (``burned``), so
``sum(holdings) == initial + emitted - burned`` holds exactly after every
function here.

Settlement of a finalised proposal (``finalize``):

* Decision: a proposal needs revealed votes from ``quorum_seats`` seats
  (else it *expires*: deposit and fee refunded). The ``paired`` rule (the
  default) accepts when the committee's paired test
  (:func:`nasjax.protocol.paired.paired_test_units`, in exact integer
  arithmetic on the score grid of ``2**-20``, as ``Tally.vy`` computes it)
  puts the gain over the incumbent above the test margin at the stated
  confidence; the
  ``supermajority`` rule needs ``quorum_seats`` accept votes (>= 2/3 of
  committee stake by default), the ``median`` rule a certified score that
  clears the bar and confirms the claim; otherwise it is *rejected*.
  Equivocated votes do not count.
* Certified score: the (stake-weighted, since seats follow stake) median of
  the counted scores; an accepted proposal that beats its task's best
  becomes the best with that score. Reward ``= reward_per_point * max(0,
  min(certified, claimed) - best)`` (never more than claimed), capped by
  ``max_reward_per_block`` and the total cap; ``proposer_share`` to the
  proposer, the rest to the accept voters.
  Slots settle in slot order, so a later slot competes with an earlier
  slot's new best.
* Validator emission: ``validator_emission`` per block, shared equally by
  every seat (of any slot) that voted with its proposal's outcome; only what
  is handed out is minted. Rewards and emission stop at ``emission_cap``.
* Over-claim: rejected with ``claimed - certified > claim_tolerance``:
  ``overclaim_slash`` of the deposit is slashed; ``whistleblower_share`` of
  that goes to the reject voters, the rest is burned. Paired rule with
  ``acceptance.keep_overclaimed``: an over-claimed candidate that passes the
  paired test is accepted all the same (the network keeps a true
  improvement) but is slashed and paid no reward.
* Fee: shared by the seats that voted with the outcome.
* Deviation: a counted seat that voted against the outcome burns
  ``deviation_penalty`` of its validator's bond (paired rule: a seat whose
  gain is an outlier, more than ``acceptance.outlier_band`` robust standard
  deviations from the committee's median; fees and emission go to the
  other counted seats).
* Equivocation: ``equivocation_slash * (1 + correlation_multiplier * share of
  all stake equivocating this block)`` of the bond (in ppm, floored exactly,
  capped at the whole bond), once per (proposal, validator).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.protocol.agents import first_seat, masked_median
from nasjax.protocol.paired import (
    SCORE_ONE,
    median_units,
    paired_test_units,
    score_units,
)
from nasjax.protocol.tokens import (
    PPM,
    credit,
    mul_div,
    mul_ppm,
    split_equal,
    take_stake,
)
from nasjax.protocol.types import Outcome, Params, Pending, ProposalBatch, State


def tally(params: Params, v: Pending) -> tuple[Outcome, jax.Array, jax.Array]:
    """Decisions of a finalised stage (no transfers, no rewards yet).

    Returns:
        ``(outcome, counted bool[P, C], agrees bool[P, C])`` with ``reward``
        still zero; ``agrees``: the seat voted with the outcome (paired
        rule: its gain survived the outlier screen, since a seat cannot know
        the others' evidence and an honest gain on either side of zero is
        no fault).
    """
    counted = v.valid[:, None] & v.revealed & ~v.equivocated
    n_counted = jnp.sum(counted, axis=1)
    n_accept = jnp.sum(counted & v.accept, axis=1)
    quorum = n_counted >= params.quorum_seats
    test = paired_test_units(
        score_units(v.gain),
        counted & jnp.isfinite(v.gain),
        params.t2_ppm,
        params.trim_ppm,
        first_seat(v.seats),
        params.band_ppm,
        params.test_units,
    )
    estimate = test.estimate / SCORE_ONE
    certified = jnp.where(
        params.paired_rule, v.best_at_vote + estimate, masked_median(v.score, counted)
    )
    confirmed = certified >= v.claimed - params.claim_tolerance
    by_median = (certified >= v.best_at_vote + params.min_improvement) & confirmed
    by_test = test.accept & (confirmed | params.keep_overclaimed)
    by_votes = n_accept >= params.quorum_seats
    rule = jnp.where(params.median_rule, by_median, by_votes)
    accepted = v.valid & quorum & jnp.where(params.paired_rule, by_test, rule)
    decided = v.valid & quorum
    rejected = decided & ~accepted
    kept_anyway = accepted & params.paired_rule & params.keep_overclaimed
    overclaim = rejected | kept_anyway
    overclaim = overclaim & (v.claimed - certified > params.claim_tolerance)
    slash = jnp.where(overclaim, mul_ppm(v.deposit, params.overclaim_slash), 0)
    bad = decided & (v.quality <= v.best_true_at_vote)
    good = decided & (v.quality >= v.best_true_at_vote + params.min_improvement)
    zeros = jnp.zeros(v.valid.shape, jnp.int64)
    # Paired rule: a seat sides with the outcome unless screened out.
    agrees = jnp.where(params.paired_rule, test.kept, v.accept == accepted[:, None])
    outcome = Outcome(
        accepted=accepted,
        rejected=rejected,
        expired=v.valid & ~quorum,
        overclaim=overclaim,
        certified=certified,
        reward=zeros,
        slash=slash,
        new_best=jnp.zeros(v.valid.shape, bool),
        bad=bad,
        good=good,
        gain=jnp.where(v.valid & (test.n_kept > 0), estimate, jnp.nan),
        lower=jnp.where(v.valid, test.lower / SCORE_ONE, jnp.nan),
    )
    return outcome, counted, agrees


def _registry(
    params: Params, state: State, v: Pending, out: Outcome, counted: jax.Array
) -> tuple[State, Outcome]:
    """Settle slots in order: re-certification, registry update, rewards.

    Paired rule with ``recertify``: when the slot's incumbent is still its
    task's best, the best's certified score becomes the running mean of its
    evidence, this committee's median incumbent score weighing as many as
    its counted seats; an accepted candidate's certified score is then that
    re-certified score plus the committee's median gain, with the weight of
    the committee.
    """
    budget = jnp.minimum(
        params.max_reward_per_block,
        jnp.maximum(params.emission_cap - state.emitted, 0),
    )
    inc_ok = counted & jnp.isfinite(v.incumbent)
    inc_obs = median_units(score_units(v.incumbent), inc_ok)
    has_inc = jnp.any(inc_ok, axis=1)
    weight = jnp.sum(counted, axis=1).astype(jnp.int64)
    estimate = jnp.nan_to_num(out.gain)
    paired = params.paired_rule

    def settle(carry, j):
        best, true, best_id, best_w, budget = carry
        t = v.task[j]
        same = v.incumbent_id[j] == best_id[t]
        fresh = (
            paired & params.recertify & v.valid[j] & same & (weight[j] > 0) & has_inc[j]
        )
        old_w = jnp.round(best_w[t]).astype(jnp.int64)
        w_new = old_w + jnp.where(fresh, weight[j], 0)
        recert = jnp.floor_divide(
            old_w * score_units(best[t]) + weight[j] * inc_obs[j],
            jnp.maximum(w_new, 1),
        )
        best = best.at[t].set(jnp.where(fresh, recert / SCORE_ONE, best[t]))
        best_w = best_w.at[t].set(w_new.astype(best_w.dtype))
        base = jnp.where(same, best[t], v.best_at_vote[j])
        paired_value = score_units(base) / SCORE_ONE + estimate[j]
        value = jnp.where(paired, paired_value, out.certified[j])
        ok = out.accepted[j]
        paid = jnp.where(out.overclaim[j], -jnp.inf, jnp.minimum(value, v.claimed[j]))
        gain = jnp.where(ok, jnp.maximum(paid - best[t], 0.0), 0.0)
        want = jnp.floor(gain * params.reward_per_point).astype(jnp.int64)
        reward = jnp.minimum(want, budget)
        is_best = ok & (value > best[t])
        best = best.at[t].set(jnp.where(is_best, value, best[t]))
        true = true.at[t].set(jnp.where(is_best, v.quality[j], true[t]))
        best_id = best_id.at[t].set(jnp.where(is_best, v.pid[j], best_id[t]))
        best_w = best_w.at[t].set(jnp.where(is_best, weight[j], best_w[t]))
        carry = (best, true, best_id, best_w, budget - reward)
        return carry, (reward, is_best, value)

    carry = (
        state.best_score,
        state.best_true,
        state.best_id,
        state.best_weight,
        budget,
    )
    (best, true, best_id, best_w, _), (reward, is_best, value) = jax.lax.scan(
        settle, carry, jnp.arange(v.valid.shape[0])
    )
    state = state.replace(
        best_score=best,
        best_true=true,
        best_id=best_id,
        best_weight=best_w,
        n_models=state.n_models + jnp.sum(out.accepted),
    )
    certified = jnp.where(paired & v.valid, value, out.certified)
    return state, out._replace(reward=reward, new_best=is_best, certified=certified)


def finalize(params: Params, state: State) -> tuple[State, Outcome, dict]:
    """Tally and settle the ``voting`` stage (its votes are revealed now).

    Returns:
        ``(state, outcome, info)``; ``info`` holds this block's ``emitted``,
        ``burned``, ``slashed`` (``int64[3]``), ``fees``, ``deviations`` and
        ``equivocations``. The ``voting`` stage is emptied (its escrow is
        paid out).
    """
    v = state.voting
    n = state.balance.shape[0]
    out, counted, agrees = tally(params, v)
    state, out = _registry(params, state, v, out, counted)
    decided = (out.accepted | out.rejected)[:, None]
    with_outcome = counted & decided & agrees
    against = counted & decided & ~agrees

    # Proposer: deposit back less any slash (plus the fee if expired), reward.
    to_proposer = mul_ppm(out.reward, params.proposer_share)
    refund = jnp.where(v.valid, v.deposit - out.slash, 0)
    refund = refund + jnp.where(out.expired, v.fee, 0)
    # Validators with the outcome: fee, validator part of reward, whistleblower.
    whistle = mul_ppm(out.slash, params.whistleblower_share)
    pool = (out.reward - to_proposer) + jnp.where(decided[:, 0], v.fee, 0) + whistle
    share, dust = split_equal(pool, with_outcome)
    emitted = jnp.sum(out.reward)
    room = jnp.maximum(params.emission_cap - state.emitted - emitted, 0)
    n_with = jnp.sum(with_outcome).astype(jnp.int64)
    per_seat = jnp.minimum(params.validator_emission, room) // jnp.maximum(n_with, 1)
    emitted = emitted + per_seat * n_with
    balance = (
        state.balance
        + credit(n, v.proposer, refund + to_proposer)
        + credit(n, v.seats, share + jnp.where(with_outcome, per_seat, 0))
    )

    # Penalties on bonds: deviation per seat, equivocation per validator.
    bond = state.bonded
    dev = jnp.where(against, mul_ppm(bond[v.seats], params.deviation_penalty), 0)
    eq_pairs = v.valid[:, None] & v.equivocated & first_seat(v.seats)
    offenders = credit(n, v.seats, eq_pairs) > 0
    # floor(slash * (1 + multiplier * offenders' stake / total)) in exact
    # integers (a float factor lost a unit where the product is a whole
    # number: 0.05 * (1 + 3 * 0.7) gave 154999 ppm, the contract 155000).
    total_stake = jnp.maximum(jnp.sum(bond), 1)
    eq_stake = jnp.sum(jnp.where(offenders, bond, 0))
    corr_ppm = jnp.round(params.correlation_multiplier * PPM).astype(jnp.int64)
    extra = mul_div(params.equivocation_slash * corr_ppm, eq_stake, total_stake)
    eq_ppm = jnp.minimum(params.equivocation_slash + extra // PPM, PPM)
    eq = jnp.where(eq_pairs, mul_ppm(bond[v.seats], eq_ppm), 0)
    want_dev, want_eq = credit(n, v.seats, dev), credit(n, v.seats, eq)
    bonded, unbonding, took_dev = take_stake(want_dev, bond, state.unbonding)
    bonded, unbonding, took_eq = take_stake(want_eq, bonded, unbonding)

    slashed = jnp.stack(
        [jnp.sum(out.slash), jnp.sum(took_eq), jnp.sum(took_dev)]
    ).astype(jnp.int64)
    burned = jnp.sum(out.slash - whistle) + jnp.sum(dust) + slashed[1] + slashed[2]
    state = state.replace(
        balance=balance,
        bonded=bonded,
        unbonding=unbonding,
        voting=v.replace(valid=jnp.zeros_like(v.valid)),
        emitted=state.emitted + emitted,
        burned=state.burned + burned,
        slashed=state.slashed + slashed,
    )
    info = {
        "emitted": emitted,
        "burned": burned,
        "slashed": slashed,
        "fees": jnp.sum(jnp.where(v.valid, v.fee, 0)),
        "deviations": jnp.sum(against),
        "equivocations": jnp.sum(eq_pairs),
    }
    return state, out, info


def submit(params: Params, state: State, batch: ProposalBatch) -> State:
    """Escrow deposits and fees of new proposals into the ``committed`` stage.

    A slot is kept only if its proposer can pay ``deposit + fee`` from its
    liquid balance (proposers hold one slot each). Compute for every trained
    candidate is charged whether or not it was submitted.
    """
    n = state.balance.shape[0]
    need = params.deposit + params.fee
    proposer = jnp.asarray(batch.proposer, jnp.int32)
    valid = jnp.asarray(batch.valid) & (state.balance[proposer] >= need)
    pid = state.n_proposals + jnp.cumsum(valid) - 1
    paid = jnp.where(valid, need, 0)
    compute = credit(n, proposer, jnp.asarray(batch.n_trained, jnp.int64))
    task = jnp.asarray(batch.task, jnp.int32)
    committed = state.committed.replace(
        valid=valid,
        pid=jnp.where(valid, pid, -1).astype(jnp.int64),
        proposer=jnp.asarray(batch.proposer, jnp.int32),
        task=task,
        parent=state.best_id[task],
        claimed=jnp.asarray(batch.claimed, jnp.float64),
        quality=jnp.asarray(batch.quality, jnp.float64),
        public_error=jnp.asarray(batch.public_error, jnp.float64),
        deposit=jnp.where(valid, params.deposit, 0).astype(jnp.int64),
        fee=jnp.where(valid, params.fee, 0).astype(jnp.int64),
    )
    return state.replace(
        balance=state.balance - credit(n, proposer, paid),
        compute=state.compute + compute * params.train_cost,
        committed=committed,
        n_proposals=state.n_proposals + jnp.sum(valid),
    )


def charge_evaluations(params: Params, state: State, voting: Pending) -> State:
    """Charge ``eval_cost`` once per (proposal, validator) that evaluated,
    twice under the paired rule (the validator trains the incumbent too)."""
    n = state.balance.shape[0]
    ran = voting.evaluated & first_seat(voting.seats)
    runs = jnp.where(params.paired_rule, 2, 1)
    return state.replace(
        compute=state.compute + credit(n, voting.seats, ran) * params.eval_cost * runs
    )


def churn(params: Params, key: jax.Array, state: State) -> State:
    """Unbonding release, auto-restake and random unbond requests.

    The unbonding slot ``block % D`` is released to the liquid balance, the
    balance above the reserve is bonded (if ``auto_restake``), then each node
    unbonds ``unbond_fraction`` of its bond with probability ``unbond_prob``
    into the same slot, released ``D`` blocks later.
    """
    d = state.unbonding.shape[1]
    slot = (state.block % d).astype(jnp.int32)
    released = state.unbonding[:, slot]
    balance = state.balance + released
    unbonding = state.unbonding.at[:, slot].set(0)
    excess = jnp.where(
        params.auto_restake, jnp.maximum(balance - params.liquid_reserve, 0), 0
    )
    balance, bonded = balance - excess, state.bonded + excess
    leaving = jax.random.uniform(key, bonded.shape, jnp.float64) < params.unbond_prob
    out = jnp.where(leaving, mul_ppm(bonded, params.unbond_fraction), 0)
    return state.replace(
        balance=balance,
        bonded=bonded - out,
        unbonding=unbonding.at[:, slot].add(out),
    )
