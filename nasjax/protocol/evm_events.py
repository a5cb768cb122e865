"""The event-level API on the market contract, and the comparison of the engines.

Each event of :mod:`nasjax.protocol.events` is sent to the contract as the
transaction its signer would send: the producer (operator) calls
``begin_block`` / ``finalize_block`` / ``end_block``, a node sends its own
``bond``, ``unbond``, ``commit_proposal`` (the commitment hash of ``(task,
claimed)`` with a salt of the proposal id), ``reveal_proposal``,
``commit_vote`` (the hash of the vote, salted by proposal, voter and round)
and ``reveal_vote``, and anyone reports ``Evidence`` with two conflicting
votes signed by the offender. A node id that is not registered sends from an
address that is not a node. A transaction that reverts yields its revert
reason as :attr:`nasjax.protocol.events.Result.error`, so the two engines'
results can be compared as they are.

:func:`compare_events` then requires the contract to hold exactly what the
JAX state holds: every node's liquid, bonded, unbonding and escrowed units,
the supply and its identity, units emitted, burned and slashed (per cause),
each task's best score and the evidence behind it (re-certification), the
model and proposal counters and the block schedule.

Requires the ``chain`` extra (``titanoboa``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nasjax.protocol.events import (
    BeginBlock,
    Bond,
    EndBlock,
    Event,
    EventState,
    Evidence,
    Finalize,
    ProposeCommit,
    ProposeReveal,
    Result,
    Unbond,
    VoteCommit,
    VoteReveal,
    holdings,
)
from nasjax.protocol.evm import (
    ChainError,
    MarketChain,
    _abi,
    _keccak,
    require_same_holdings,
    salt,
    to_score_units,
    vote_commitment,
)
from nasjax.protocol.x64 import x64_mode


def outsider() -> str:
    """An address that is not a registered node (sends as node id ``>= N``)."""
    from eth_utils.address import to_checksum_address

    return to_checksum_address(_keccak(b"nasjax-outsider")[-20:])


def _address(chain: MarketChain, node: int) -> str:
    return chain.nodes[node].address if node < len(chain.nodes) else outsider()


def _proposal_hash(chain: MarketChain, task: int, claimed: int, pid: int, node: int):
    return _keccak(
        _abi(
            ["uint256", "uint256", "bytes32", "address"],
            [task, claimed, salt(pid, node), _address(chain, node)],
        )
    )


def _vote(
    event: VoteCommit | VoteReveal, rnd: int
) -> tuple[int, bool, int, int, bytes, int]:
    """``(pid, accept, score, incumbent, salt, round)`` of a vote: what its
    commitment binds and its reveal repeats (salted by proposal, voter and
    round)."""
    ev = event
    return (ev.pid, ev.accept, ev.score, ev.incumbent, salt(ev.pid, ev.node, rnd), rnd)


def _vote_hash(chain: MarketChain, event: VoteCommit, rnd: int) -> bytes:
    """The commitment of a vote."""
    return vote_commitment(*_vote(event, rnd), _address(chain, event.node))


def _evidence(chain: MarketChain, ev: Evidence) -> tuple[str, Any]:
    if ev.offender < len(chain.nodes):
        nd = chain.nodes[ev.offender]
        sig_a = nd.sign(chain.vote_message(ev.pid, True, 0, 0))
        sig_b = nd.sign(chain.vote_message(ev.pid, False, 0, 0))
    else:
        sig_a = sig_b = bytes(65)
    args = (ev.pid, ev.offender, True, 0, 0, sig_a, False, 0, 0, sig_b)
    return chain.try_tx("report_equivocation", *args)


def send_event(chain: MarketChain, event: Event) -> Result:
    """Send one event to the contract as its transaction.

    Args:
        chain: The deployed market.
        event: The event (ids and amounts within the contract's ABI bounds:
            at most 16 committees of at most 64 seats).

    Returns:
        The :class:`~nasjax.protocol.events.Result`: the revert reason as
        ``error``, the assigned pid of a commit, the pids a ``Finalize``
        accepted.
    """
    c = chain.contract

    def sender(node: int) -> str:
        return _address(chain, node)

    if isinstance(event, BeginBlock):
        err, _ = chain.try_tx("begin_block", [list(row) for row in event.seats])
        return Result(err)
    if isinstance(event, Finalize):
        start = len(chain.events)
        err, _ = chain.try_tx("finalize_block")
        accepted = tuple(
            int(e["pid"])
            for e in chain.events[start:]
            if e["event"] == "Settled" and int(e["outcome"]) == 1
        )
        return Result(err, accepted=accepted)
    if isinstance(event, EndBlock):
        return Result(chain.try_tx("end_block")[0])
    if isinstance(event, Bond | Unbond):
        method = "bond" if isinstance(event, Bond) else "unbond"
        return Result(chain.try_tx(method, event.amount, sender=sender(event.node))[0])
    if isinstance(event, ProposeCommit):
        pid = int(c.n_proposals())
        digest = _proposal_hash(chain, event.task, event.claimed, pid, event.node)
        err, got = chain.try_tx("commit_proposal", digest, sender=sender(event.node))
        return Result(err, pid=None if err else int(got))
    if isinstance(event, ProposeReveal):
        args = (event.pid, event.task, event.claimed, salt(event.pid, event.node))
        return Result(
            chain.try_tx("reveal_proposal", *args, sender=sender(event.node))[0]
        )
    if isinstance(event, VoteCommit):
        rnd = int(c.block_number())
        digest = _vote_hash(chain, event, rnd)
        err, _ = chain.try_tx(
            "commit_vote", event.pid, digest, sender=sender(event.node)
        )
        return Result(err)
    if isinstance(event, VoteReveal):
        rnd = int(c.vote_of(event.pid, event.node)[1])
        args = _vote(event, rnd)
        return Result(chain.try_tx("reveal_vote", *args, sender=sender(event.node))[0])
    if isinstance(event, Evidence):
        return Result(_evidence(chain, event)[0])
    raise TypeError(f"not an event: {event!r}")


def send_events(chain: MarketChain, events: Sequence[Event]) -> list[Result]:
    """Send events in order (:func:`send_event` each)."""
    return [send_event(chain, ev) for ev in events]


def compare_events(chain: MarketChain, es: EventState) -> None:
    """Require the contract to hold exactly what the JAX event state holds.

    Raises:
        ChainError: Naming the first difference.
    """
    c = chain.contract
    with x64_mode():
        held = np.asarray(holdings(es))
        s = es.core
        block = int(s.block)
        in_block = bool(es.in_block)
        jax_values = {
            "supply": int(held.sum()),
            "expected supply": int(s.initial_supply + s.emitted - s.burned),
            "emitted": int(s.emitted),
            "burned": int(s.burned),
            "slashed": [int(x) for x in np.asarray(s.slashed)],
            "best": [to_score_units(x) for x in np.asarray(s.best_score)],
            "best weight": [round(float(x)) for x in np.asarray(s.best_weight)],
            "models": int(s.n_models),
            "proposals": int(s.n_proposals),
            "in block": in_block,
            "block": block if in_block else max(block - 1, 0),
        }
    require_same_holdings(chain.holdings(), held, ("evm", "jax"))
    evm_values = {
        "supply": int(c.supply()),
        "expected supply": int(c.expected_supply()),
        "emitted": int(c.emitted()),
        "burned": int(c.burned()),
        "slashed": [int(c.slashed(k)) for k in range(3)],
        "best": [int(c.best_score(t)) for t in range(len(jax_values["best"]))],
        "best weight": [int(c.best_weight(t)) for t in range(len(jax_values["best"]))],
        "models": int(c.n_models()),
        "proposals": int(c.n_proposals()),
        "in block": bool(c.in_block()),
        "block": int(c.block_number()),
    }
    for name, want in jax_values.items():
        if evm_values[name] != want:
            raise ChainError(f"{name}: evm {evm_values[name]} != jax {want}")
    chain.check_supply()
