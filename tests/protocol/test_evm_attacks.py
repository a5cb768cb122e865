"""Attacks on the market contract: each reverts with its named error."""

from pathlib import Path

import pytest

boa = pytest.importorskip("boa")

from nasjax.protocol import ConsensusConfig, EconomicsConfig, ProtocolConfig  # noqa: E402
from nasjax.protocol.evm import MarketChain, salt  # noqa: E402

TOKEN = 1_000_000
CFG = ProtocolConfig(
    n_nodes=6,
    consensus=ConsensusConfig(proposals_per_block=2, committee_size=3),
    economics=EconomicsConfig(unbonding_delay=2),
)
SEATS = [1, 2, 3]
SCORE = 560_000  # a vote's score (contract units)
INCUMBENT = 524_288  # its score of the incumbent (0.5): the paired gain > 0


@pytest.fixture(scope="module")
def market():
    """Six nodes (node 4 bonded below the minimum) in block 1: proposal 1 of
    node 0 revealed with committee [1, 2, 3]; proposal 2 of node 5 committed."""
    liquid = [100 * TOKEN] * 6
    bonded = [100 * TOKEN] * 6
    bonded[4] = TOKEN // 2
    chain = MarketChain(CFG, liquid, bonded, 0, [0.5], seed=7)
    chain.tx("begin_block", [])
    chain.tx("finalize_block")
    chain.tx(
        "commit_proposal", chain.proposal_hash(0, 600_000, salt(1, 0), 0), sender=0
    )
    chain.tx("end_block")
    chain.tx("begin_block", [SEATS])
    chain.tx("finalize_block")
    chain.tx("reveal_proposal", 1, 0, 600_000, salt(1, 0), sender=0)
    chain.tx(
        "commit_proposal", chain.proposal_hash(0, 600_000, salt(2, 5), 5), sender=5
    )
    return chain


def commit(chain, pid, voter, rnd, accept=True):
    digest = chain.vote_hash(
        pid, accept, SCORE, INCUMBENT, salt(pid, voter, rnd), rnd, voter
    )
    chain.tx("commit_vote", pid, digest, sender=voter)


def next_block(chain, seats):
    chain.tx("end_block")
    chain.tx("begin_block", seats)


def reveal(chain, pid, voter, rnd, accept=True):
    chain.tx(
        "reveal_vote",
        pid,
        accept,
        SCORE,
        INCUMBENT,
        salt(pid, voter, rnd),
        rnd,
        sender=voter,
    )


def test_honest_round_settles(market):
    for v in SEATS:
        commit(market, 1, v, 1)
    next_block(market, [SEATS])
    for v in SEATS:
        reveal(market, 1, v, 1)
    market.tx("finalize_block")
    settled = [e for e in market.events if e["event"] == "Settled"]
    assert settled[-1]["pid"] == 1 and settled[-1]["outcome"] == 1  # accepted
    market.check_supply()


def test_reveal_without_commit(market):
    commit(market, 1, 1, 1)
    next_block(market, [SEATS])
    with boa.reverts("RevealWithoutCommit"):
        reveal(market, 1, 2, 1)


def test_double_reveal(market):
    commit(market, 1, 1, 1)
    next_block(market, [SEATS])
    reveal(market, 1, 1, 1)
    with boa.reverts("DoubleReveal"):
        reveal(market, 1, 1, 1)


def test_reveal_must_match_commitment(market):
    commit(market, 1, 1, 1, accept=True)
    next_block(market, [SEATS])
    with boa.reverts("CommitmentMismatch"):
        reveal(market, 1, 1, 1, accept=False)


def test_voting_while_unbonding(market):
    market.tx("unbond", 50 * TOKEN, sender=3)
    with boa.reverts("VotingWhileUnbonding"):
        commit(market, 1, 3, 1)


def test_proposer_votes_on_own_proposal(market):
    with boa.reverts("SelfVote"):
        commit(market, 1, 0, 1)


def test_proposer_cannot_be_seated(market):
    market.tx("end_block")
    with boa.reverts("ProposerInCommittee"):
        market.tx("begin_block", [[1, 5, 2]])


def test_outsider_cannot_vote(market):
    with boa.reverts("NotInCommittee"):
        commit(market, 1, 5, 1)


def test_double_vote(market):
    commit(market, 1, 1, 1)
    with boa.reverts("DoubleVote"):
        commit(market, 1, 1, 1, accept=False)


def test_stake_below_minimum(market):
    with boa.reverts("StakeBelowMinimum"):
        market.tx("commit_proposal", b"\x00" * 32, sender=4)
    market.tx("end_block")
    with boa.reverts("StakeBelowMinimum"):
        market.tx("begin_block", [[1, 4, 2]])


def test_replayed_reveal_in_another_round(market):
    # Round 1: node 1 votes on proposal 1; round 2: the same vote on proposal 2.
    commit(market, 1, 1, 1)
    next_block(market, [SEATS])
    reveal(market, 1, 1, 1)
    market.tx("finalize_block")
    market.tx("reveal_proposal", 2, 0, 600_000, salt(2, 5), sender=5)
    commit(market, 2, 1, 2)
    next_block(market, [])
    # Replaying round 1's reveal (round 1, its salt) against round 2's vote.
    with boa.reverts("ReplayedReveal"):
        market.tx("reveal_vote", 2, True, SCORE, INCUMBENT, salt(1, 1, 1), 1, sender=1)
    reveal(market, 2, 1, 2)


def test_equivocation_needs_two_conflicting_signed_votes(market):
    commit(market, 1, 2, 1)
    nd = market.nodes[2]
    vote = (True, SCORE, INCUMBENT)
    sig = nd.sign(market.vote_message(1, *vote))
    with boa.reverts("VotesDoNotConflict"):
        market.tx("report_equivocation", 1, 2, *vote, sig, *vote, sig)
    other = (False, SCORE, INCUMBENT)
    forged = market.nodes[3].sign(market.vote_message(1, *other))
    with boa.reverts("BadSignature"):
        market.tx("report_equivocation", 1, 2, *vote, sig, *other, forged)
    market.equivocate(1, 2, True, SCORE, INCUMBENT)
    next_block(market, [SEATS])
    with boa.reverts("Equivocated"):
        reveal(market, 1, 2, 1)


def test_reentrant_withdrawal_reverts(market):
    # The attacker is a contract registered as a node at genesis.
    attacker = boa.load(str(Path(__file__).with_name("evm_attacker.vy")))
    fresh = MarketChain(CFG, [TOKEN] * 2, [2 * TOKEN] * 2, 0, [0.5], seed=8)
    boa.env.set_balance(fresh.operator, 10 * TOKEN)
    fresh.tx("genesis", [attacker.address], [10 * TOKEN], [0], 0, value=10 * TOKEN)
    attacker.set_target(fresh.contract.address)
    node = fresh.contract.node_id(attacker.address) - 1
    with boa.reverts("Reentrancy"):
        attacker.attack(4 * TOKEN, True)
    assert fresh.contract.liquid(node) == 10 * TOKEN
    attacker.attack(4 * TOKEN, False)  # a plain pull payment works
    assert fresh.contract.liquid(node) == 6 * TOKEN
    assert attacker.received() == 4 * TOKEN
    assert boa.env.get_balance(attacker.address) == 4 * TOKEN
    fresh.check_supply()


def test_only_the_producer_schedules_blocks(market):
    with boa.reverts("NotOperator"):
        market.tx("finalize_block", sender=1)
