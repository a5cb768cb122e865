"""Stake-weighted sortition: deterministic, proportional to stake, Sybil-neutral."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.protocol import draw_committees, select_proposers, x64_mode
from nasjax.protocol.sortition import beacon_from_hash, committee_frequencies

STAKE = np.array([1, 2, 3, 4, 0, 10, 5, 25], np.int64) * 10**9
BEACON = np.array([7, 11], np.uint32)


def committees(beacon, stake, proposer, size=8):
    with x64_mode():
        return np.asarray(
            draw_committees(
                jnp.asarray(beacon),
                jnp.asarray(stake, jnp.int64),
                jnp.ones(len(stake), bool),
                jnp.asarray(proposer, jnp.int32),
                size,
            )
        )


def test_deterministic_given_beacon_and_stake():
    a = committees(BEACON, STAKE, [0, 1, 2])
    b = committees(BEACON, STAKE, [0, 1, 2])
    assert np.array_equal(a, b)
    c = committees(np.array([7, 12], np.uint32), STAKE, [0, 1, 2])
    assert not np.array_equal(a, c)
    # The beacon follows the chain: another block hash, another committee.
    h1, h2 = beacon_from_hash("00" * 32), beacon_from_hash("01" + "00" * 31)
    assert not np.array_equal(h1, h2)
    assert np.array_equal(
        beacon_from_hash("ab" * 32), beacon_from_hash(bytes([0xAB] * 32))
    )


def test_proposer_and_zero_stake_never_seated():
    proposer = np.arange(3000) % 8
    seats = committees(BEACON, STAKE, proposer, size=16)
    assert not np.any(seats == proposer[:, None])
    assert not np.any(seats == 4)  # zero stake


def test_seat_frequencies_follow_stake():
    freq = committee_frequencies(jnp.asarray(BEACON), STAKE, 16, 3000)
    expected = STAKE / STAKE.sum()
    n = 16 * 3000
    # Chi-square goodness of fit over nodes with stake (7 dof): p ~ 1e-4 cut.
    mask = expected > 0
    chi2 = np.sum((freq[mask] * n - expected[mask] * n) ** 2 / (expected[mask] * n))
    assert chi2 < 27.9
    assert freq[4] == 0


def test_splitting_stake_over_identities_changes_nothing():
    """A Sybil splitting node 7's stake over 5 identities gets the same seats."""
    split = np.concatenate([STAKE[:7], np.full(5, STAKE[7] // 5)])
    whole = committee_frequencies(jnp.asarray(BEACON), STAKE, 16, 3000)
    parts = committee_frequencies(jnp.asarray(BEACON), split, 16, 3000)
    assert parts[7:].sum() == pytest.approx(whole[7], abs=0.01)


def test_proposer_lottery_is_stake_weighted_and_unique():
    with x64_mode():
        counts = np.zeros(8)
        for i in range(300):
            who, ok = select_proposers(
                jax.random.key(i), jnp.asarray(STAKE), jnp.ones(8, bool), 3
            )
            who, ok = np.asarray(who), np.asarray(ok)
            assert len(set(who[ok].tolist())) == ok.sum()  # one slot per node
            counts[who[ok]] += 1
        _, ok = select_proposers(
            jax.random.key(0), jnp.asarray(STAKE), jnp.zeros(8, bool), 3
        )
    assert counts[4] == 0 and counts[7] == counts.max()
    assert not np.asarray(ok).any()
