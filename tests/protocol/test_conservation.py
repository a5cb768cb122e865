"""Supply conservation: initial + emitted - burned == everything held, exactly."""

import dataclasses

import jax
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_configs import SMALL

from nasjax.protocol import (
    init_state,
    make_params,
    simulate,
    supply,
    with_overrides,
    x64_mode,
)
from nasjax.protocol.state import expected_supply

N_BLOCKS = SMALL.n_blocks  # shares the compiled scan with other tests
FRACTION = st.floats(0.0, 1.0)


@st.composite
def configs(draw):
    """Economics, agents and noise drawn at random; shapes stay fixed."""
    o = {
        "seed": draw(st.integers(0, 2**16)),
        "economics.liquid_fraction": draw(FRACTION),
        "economics.registration_fee": draw(st.floats(0.0, 50.0)),
        "economics.proposal_deposit": draw(st.floats(0.0, 300.0)),
        "economics.proposal_fee": draw(st.floats(0.0, 30.0)),
        "economics.validator_emission": draw(st.floats(0.0, 100.0)),
        "economics.max_reward_per_block": draw(st.floats(0.0, 500.0)),
        "economics.emission_cap": draw(st.floats(0.0, 5000.0)),
        "economics.reward_per_point": draw(st.floats(0.0, 1e6)),
        "economics.proposer_share": draw(FRACTION),
        "economics.overclaim_slash": draw(FRACTION),
        "economics.whistleblower_share": draw(FRACTION),
        "economics.equivocation_slash": draw(FRACTION),
        "economics.correlation_multiplier": draw(st.floats(0.0, 10.0)),
        "economics.deviation_penalty": draw(st.floats(0.0, 0.2)),
        "economics.liquid_reserve": draw(st.floats(0.0, 200.0)),
        "economics.auto_restake": draw(st.booleans()),
        "economics.unbond_prob": draw(FRACTION),
        "economics.unbond_fraction": draw(FRACTION),
        "agents.equivocate_prob": draw(FRACTION),
        "agents.offline_prob": draw(FRACTION),
        "agents.lie_margin": draw(st.floats(0.0, 0.2)),
        "consensus.quorum": draw(st.floats(0.05, 1.0)),
        "consensus.rule": draw(st.sampled_from(["paired", "supermajority", "median"])),
        "consensus.commit_reveal": draw(st.booleans()),
        "consensus.fresh_folds": draw(st.booleans()),
        "surrogate.fold_noise": draw(st.floats(0.0, 0.05)),
        "surrogate.gain_mean": draw(st.floats(-1.0, 1.0)),
    }
    return with_overrides(SMALL, o)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(configs())
def test_supply_is_conserved_exactly_every_block(cfg):
    with x64_mode():
        params, state0 = make_params(cfg), init_state(cfg)
        assert int(supply(state0)) == int(expected_supply(state0))
        final, out = simulate(params, state0, jax.random.key(cfg.seed), N_BLOCKS)
        m = out.metrics
        held, expected = np.asarray(m.supply), np.asarray(m.supply_expected)
        assert np.array_equal(held, expected)
        assert int(supply(final)) == int(
            final.initial_supply + final.emitted - final.burned
        )
        assert int(final.emitted) <= round(cfg.economics.emission_cap * 1e6)
        for leaf in (final.balance, final.bonded, final.unbonding):
            assert (np.asarray(leaf) >= 0).all()
        slashed = np.asarray(final.slashed)  # overclaim, equivocation, deviation
        assert (slashed >= 0).all() and slashed[1:].sum() <= int(final.burned)


def test_supply_moves_only_through_rules():
    """With no emission and no burning rule in play nothing is created or lost."""
    cfg = dataclasses.replace(
        with_overrides(
            SMALL,
            {
                "economics.validator_emission": 0.0,
                "economics.reward_per_point": 0.0,
                "economics.registration_fee": 0.0,
                "economics.overclaim_slash": 0.0,
                "economics.equivocation_slash": 0.0,
                "economics.deviation_penalty": 0.0,
                "economics.proposal_fee": 0.0,
            },
        ),
    )
    with x64_mode():
        final, out = simulate(
            make_params(cfg), init_state(cfg), jax.random.key(3), N_BLOCKS
        )
        assert int(final.emitted) == 0 and int(final.burned) == 0
        assert int(supply(final)) == int(final.initial_supply)
        assert int(np.asarray(out.metrics.proposed).sum()) > 0
