"""Economics: exact settlement of hand-built votes, and the incentive outcomes.

The outcome tests run the default configuration (100 nodes, 30% attacker
stake over six attacker types, 500 blocks) as a Monte Carlo of four seeds in
one vmapped scan, plus two ablations in the same batch.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.protocol import (
    AGENT_TYPES,
    PRESETS,
    ProtocolConfig,
    init_state,
    make_params,
    simulate_batch,
    supply,
    with_overrides,
    x64_mode,
)
from nasjax.protocol.economics import finalize
from nasjax.protocol.metrics import roi_array
from nasjax.protocol.state import expected_supply

U = 1_000_000  # units per token
HONEST_ONLY = {
    "n_nodes": 6,
    "agents.lazy": 0.0,
    "agents.liar": 0.0,
    "agents.sybil": 0.0,
    "agents.ring": 0.0,
    "agents.overfitter": 0.0,
    "agents.random": 0.0,
    "consensus.proposals_per_block": 2,
    "consensus.committee_size": 4,
    "consensus.claim_tolerance": 0.01,
    "consensus.rule": "supermajority",  # the hand-built votes below decide
    "economics.reward_per_point": 1000.0,
    "economics.proposer_share": 0.7,
    "economics.validator_emission": 5.0,
    "economics.overclaim_slash": 0.5,
    "economics.whistleblower_share": 0.25,
    "economics.deviation_penalty": 0.001,
    "economics.equivocation_slash": 0.05,
    "economics.correlation_multiplier": 0.0,
    "economics.registration_fee": 0.0,
}


def test_finalize_settles_exactly():
    """Slot 0 accepted (one seat against), slot 1 a rejected over-claim."""
    cfg = with_overrides(ProtocolConfig(), HONEST_ONLY)
    with x64_mode():
        params, state = make_params(cfg), init_state(cfg)
        state = state.replace(
            bonded=jnp.full(6, 1000 * U, jnp.int64),
            balance=jnp.zeros(6, jnp.int64),
            best_score=jnp.array([0.5]),
        )
        v = state.voting.replace(
            valid=jnp.array([True, True]),
            pid=jnp.array([1, 2], jnp.int64),
            proposer=jnp.array([0, 1], jnp.int32),
            claimed=jnp.array([0.75, 0.75]),
            quality=jnp.array([0.56, 0.50]),
            deposit=jnp.full(2, 10 * U, jnp.int64),
            fee=jnp.full(2, 1 * U, jnp.int64),
            best_at_vote=jnp.array([0.5, 0.5]),
            best_true_at_vote=jnp.array([0.5, 0.5]),
            seats=jnp.array([[2, 3, 4, 4], [2, 3, 4, 5]], jnp.int32),
            score=jnp.array([[0.5625, 0.625, 0.75, 0.75], [0.5] * 4]),
            accept=jnp.array([[False, True, True, True], [False] * 4]),
            revealed=jnp.ones((2, 4), bool),
            equivocated=jnp.zeros((2, 4), bool),
        )
        # Escrowed units live in the pending stage: count them in the supply.
        state = state.replace(voting=v, burned=jnp.asarray(0, jnp.int64))
        state = state.replace(initial_supply=supply(state))
        after, out, info = finalize(params, state)
        bal, bonded = np.asarray(after.balance), np.asarray(after.bonded)
        assert int(supply(after)) == int(expected_supply(after))
    assert out.accepted.tolist() == [True, False]
    assert out.overclaim.tolist() == [False, True]
    # Certified = lower median of [0.5625, 0.625, 0.75, 0.75] = 0.625;
    # reward = (0.625 - 0.5) * 1000 tokens = 125 tokens.
    assert float(out.certified[0]) == 0.625
    assert int(out.reward[0]) == 125 * U
    assert int(out.slash[1]) == 5 * U
    # Slot 0: proposer 0 gets its deposit back + 70% of 125 tokens; the 3
    # seats with the outcome share 37.5 + 1 (fee) = 38.5 -> 12.833333 each.
    # Slot 1: the 4 reject seats share fee 1 + whistleblower 1.25 -> 0.5625;
    # proposer 1 gets 10 - 5 back. Validator emission: 5 tokens over 7 seats.
    emission = 5 * U // 7
    assert bal[0] == 10 * U + 87_500_000
    assert bal[1] == 5 * U
    assert bal[2] == 562_500 + emission
    assert bal[3] == 12_833_333 + 562_500 + 2 * emission
    assert bal[4] == 2 * 12_833_333 + 562_500 + 3 * emission
    assert bal[5] == 562_500 + emission
    # Seat 2 voted reject on slot 0 (accepted): deviation penalty 0.1% of bond.
    assert bonded[2] == 1000 * U - 1 * U
    assert int(info["deviations"]) == 1
    assert np.asarray(after.slashed).tolist() == [5 * U, 0, 1 * U]
    assert int(info["emitted"]) == 125 * U + 7 * emission
    # Burned: slash minus whistleblower (3.75), deviation 1, split dust 1 unit.
    assert int(info["burned"]) == 3_750_000 + 1 * U + 1
    assert float(after.best_score[0]) == 0.625
    assert not np.asarray(after.voting.valid).any()


def test_equivocation_is_slashed_with_correlation():
    cfg = with_overrides(
        ProtocolConfig(), {**HONEST_ONLY, "economics.correlation_multiplier": 3.0}
    )
    with x64_mode():
        params, state = make_params(cfg), init_state(cfg)
        state = state.replace(bonded=jnp.full(6, 1000 * U, jnp.int64))
        v = state.voting.replace(
            valid=jnp.array([True, False]),
            claimed=jnp.array([0.6, 0.0]),
            seats=jnp.array([[2, 3, 3, 4], [0, 0, 0, 0]], jnp.int32),
            score=jnp.full((2, 4), 0.6),
            accept=jnp.array([[True, True, True, True], [False] * 4]),
            revealed=jnp.ones((2, 4), bool),
            equivocated=jnp.array([[False, True, True, False], [False] * 4]),
        )
        after, out, info = finalize(params, state.replace(voting=v))
    # Node 3 equivocated (two seats, one offence): 1/6 of the stake equivocated,
    # so 5% * (1 + 3/6) = 7.5% of its bond; its seats do not count.
    assert int(info["equivocations"]) == 1
    assert int(np.asarray(after.slashed)[1]) == 75 * U
    assert int(np.asarray(after.bonded)[3]) == 925 * U
    assert not bool(out.accepted[0])  # 2 counted seats < quorum of 3: expired
    assert bool(out.expired[0])


N_SEEDS = 4
VARIANTS = {
    "default": {},
    "no_commit_reveal": {"consensus.commit_reveal": False},
    "public_folds": {"consensus.fresh_folds": False},
}


@pytest.fixture(scope="module")
def monte_carlo():
    """ROI per type and error counts of each variant, pooled over seeds."""
    cfgs = [
        with_overrides(PRESETS["default"], {**ov, "seed": s})
        for ov in VARIANTS.values()
        for s in range(N_SEEDS)
    ]
    with x64_mode():
        params = jax.tree.map(lambda *x: jnp.stack(x), *[make_params(c) for c in cfgs])
        states = jax.tree.map(lambda *x: jnp.stack(x), *[init_state(c) for c in cfgs])
        keys = jax.random.split(jax.random.key(0), len(cfgs))
        final, out = simulate_batch(params, states, keys, cfgs[0].n_blocks)
        roi = np.asarray(jax.vmap(roi_array)(final))
        conserved = np.array_equal(
            np.asarray(out.metrics.supply), np.asarray(out.metrics.supply_expected)
        )
    m = out.metrics
    results = {}
    for i, name in enumerate(VARIANTS):
        rows = slice(i * N_SEEDS, (i + 1) * N_SEEDS)
        results[name] = {
            "roi": dict(zip(AGENT_TYPES, np.mean(roi[rows], axis=0), strict=True)),
            "roi_per_seed": roi[rows],
            "bad": int(np.asarray(m.bad)[rows].sum()),
            "bad_accepted": int(np.asarray(m.bad_accepted)[rows].sum()),
            "accepted": int(np.asarray(m.accepted)[rows].sum()),
        }
    return results, conserved


def test_default_honest_majority_holds(monte_carlo):
    results, conserved = monte_carlo
    assert conserved
    r = results["default"]
    attackers = sum(getattr(PRESETS["default"].agents, n) for n in AGENT_TYPES[1:])
    assert attackers < 1 / 3
    honest = r["roi"]["honest"]
    assert honest > 0, "honest participation should pay"
    for name in AGENT_TYPES[1:]:
        assert r["roi"][name] < honest, f"{name} out-earns honest nodes: {r['roi']}"
    assert r["bad"] > 500 and r["accepted"] > 20
    assert r["bad_accepted"] / r["bad"] < 0.01


def test_without_commit_reveal_copying_pays(monte_carlo):
    """The Bittensor weight-copying failure: copiers beat honest evaluators."""
    results, _ = monte_carlo
    copy, base = results["no_commit_reveal"]["roi"], results["default"]["roi"]
    assert copy["lazy"] > base["lazy"]
    assert copy["lazy"] > copy["honest"]


def test_public_folds_reward_overfitting(monte_carlo):
    """Validators that reuse the proposer's folds let overfitted claims through."""
    results, _ = monte_carlo
    stale, base = results["public_folds"], results["default"]
    assert stale["roi"]["overfitter"] > base["roi"]["overfitter"]
    assert stale["bad_accepted"] / stale["bad"] > base["bad_accepted"] / base["bad"]
