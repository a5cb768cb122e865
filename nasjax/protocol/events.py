"""The JAX core one transaction at a time: an event-level API.

:func:`nasjax.protocol.step.step` advances the chain a whole block at a time
with the agents' behaviour built in. This module applies the same rules one
*event* (a transaction, or one of the block producer's three schedule
calls) at a time, in the order a chain includes them, so that any sequence
of events, honest, adversarial or malformed, can be driven through the JAX
core and through the market contract (:mod:`nasjax.protocol.evm_events`)
and the two compared after every event.

A block is ``BeginBlock(seats)``, then node transactions, ``Finalize()``
(once the votes to settle are revealed), more node transactions, and
``EndBlock()``; ``Bond``, ``Unbond`` and ``Evidence`` may also come between
blocks. A proposal committed in block ``t`` is revealed by its proposer in
``t + 1`` (unrevealed, it is *abandoned* at the end of ``t + 1``: deposit
and fee burned), its committee (posted with ``BeginBlock`` of ``t + 1``)
commits votes in ``t + 1`` and reveals them in ``t + 2``, where
``Finalize`` settles it with :func:`nasjax.protocol.economics.finalize`,
the core's own settlement.

Every event is checked before it applies. A broken rule rejects the event
and leaves the state unchanged; :func:`apply_event` reports the first
broken rule by the name the contract reverts with (:data:`ERRORS`), the
rules being checked in the contract's order:

* ``Bond(node, amount)``: ``UnknownNode``, ``InsufficientBalance``.
* ``Unbond(node, amount)``: ``UnknownNode``, ``InsufficientBond``.
* ``BeginBlock(seats)``: ``BlockOpen``, ``CommitteeMismatch`` (one committee
  of ``C`` seats per pending proposal); per seat ``UnknownNode``,
  ``ProposerInCommittee``, ``StakeBelowMinimum``.
* ``Finalize()``: ``NoBlockOpen``.
* ``EndBlock()``: ``NoBlockOpen``, ``NotFinalized``.
* ``ProposeCommit``: ``NoBlockOpen``, ``UnknownNode``, ``StakeBelowMinimum``
  (bond at the start of the block), ``OneProposalPerBlock``, ``NoFreeSlot``,
  ``InsufficientBalance`` (deposit + fee).
* ``ProposeReveal``: ``NoBlockOpen``, ``NotFinalized``, ``UnknownNode``,
  ``NotCommitted``, ``NotProposer``, ``WrongRound`` (not the block after the
  commit), ``UnknownTask``, ``CommitmentMismatch``.
* ``VoteCommit``: ``NoBlockOpen``, ``UnknownNode``, ``VotingClosed`` (not
  being voted on), ``SelfVote``, ``VotingClosed`` (not revealed in this
  block), ``NotInCommittee``, ``VotingWhileUnbonding`` (an unbond request in
  this block), ``DoubleVote``.
* ``VoteReveal``: ``NoBlockOpen``, ``UnknownNode``, ``VotingClosed``,
  ``RevealWithoutCommit``, ``DoubleReveal``, ``Equivocated``, ``WrongRound``
  (not the block after the vote), ``CommitmentMismatch``.
* ``Evidence``: ``UnknownNode``, ``VotingClosed``, ``NoOpenVote``.

A commitment is modelled by the payload it binds (stored in the state, never
read by the rules before its reveal): a reveal "matches" when it repeats the
committed payload. Scores are integers in units of ``2**-20``
(:data:`nasjax.protocol.evm.SCORE_ONE`), so both engines decide on the same
numbers. Votes carry an accept flag, a score of the candidate and a score of
the incumbent; the paired rule's gain is their difference.

Unbonding: a request in block ``t`` (or between ``t`` and ``t + 1``) is
released to the liquid balance at the end of block ``t + D``, as
:func:`nasjax.protocol.economics.churn` releases it; requests made during an
open block wait in :attr:`EventState.unbond_new` (slashable after the
unbonding slots) until the block ends, when they join slot ``t % D`` after
that slot's previous cohort is released.

Example::

    cfg = ProtocolConfig(consensus=ConsensusConfig(rule="supermajority"))
    params, es = make_params(cfg), init_events(init_state(cfg))
    events = [BeginBlock(()), Finalize(), ProposeCommit(0, 0, 560_000), EndBlock()]
    es, results = apply_events(params, es, events)
    [r.error for r in results]      # ['', '', '', '']: all accepted
    results[2].pid                  # 1: the first proposal (model 0 is genesis)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from nasjax.protocol.economics import finalize
from nasjax.protocol.evm import SCORE_ONE
from nasjax.protocol.sortition import beacon_data, beacon_key
from nasjax.protocol.state import empty_pending
from nasjax.protocol.step import committees
from nasjax.protocol.tokens import credit
from nasjax.protocol.types import Params, Pending, State
from nasjax.protocol.x64 import x64, x64_mode

ERRORS: tuple[str, ...] = (
    "",
    "NoBlockOpen",
    "BlockOpen",
    "UnknownNode",
    "InsufficientBalance",
    "InsufficientBond",
    "StakeBelowMinimum",
    "OneProposalPerBlock",
    "NoFreeSlot",
    "NotFinalized",
    "NotCommitted",
    "NotProposer",
    "WrongRound",
    "UnknownTask",
    "CommitmentMismatch",
    "SelfVote",
    "VotingClosed",
    "NotInCommittee",
    "VotingWhileUnbonding",
    "DoubleVote",
    "RevealWithoutCommit",
    "DoubleReveal",
    "Equivocated",
    "NoOpenVote",
    "CommitteeMismatch",
    "ProposerInCommittee",
)
"""Rejection reasons (index = the core's error code; ``""``: accepted).
The names are the contract's revert reasons."""

_E = {name: i for i, name in enumerate(ERRORS)}


# -- events ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BeginBlock:
    """The producer opens the next block and seats the pending committees.

    Attributes:
        seats: One committee (``C`` node ids, repeats allowed) per proposal
            committed in the previous block, in commit order.
    """

    seats: tuple[tuple[int, ...], ...]


@dataclasses.dataclass(frozen=True)
class Finalize:
    """The producer settles the proposals whose votes are revealed now."""


@dataclasses.dataclass(frozen=True)
class EndBlock:
    """The producer closes the block (abandons unrevealed proposals,
    releases matured unbonding, moves the pipeline on)."""


@dataclasses.dataclass(frozen=True)
class Bond:
    """``node`` bonds ``amount`` units of its liquid balance."""

    node: int
    amount: int


@dataclasses.dataclass(frozen=True)
class Unbond:
    """``node`` starts unbonding ``amount`` units (released ``D`` blocks later)."""

    node: int
    amount: int


@dataclasses.dataclass(frozen=True)
class ProposeCommit:
    """``node`` commits a proposal for ``task`` claiming ``claimed`` (score
    units), escrowing the deposit and the fee."""

    node: int
    task: int
    claimed: int


@dataclasses.dataclass(frozen=True)
class ProposeReveal:
    """``node`` reveals proposal ``pid`` as ``(task, claimed)``."""

    node: int
    pid: int
    task: int
    claimed: int


@dataclasses.dataclass(frozen=True)
class VoteCommit:
    """Validator ``node`` commits its hidden vote on proposal ``pid``: its
    accept flag, its score of the candidate and (paired rule) of the
    incumbent on the same blocks."""

    node: int
    pid: int
    accept: bool
    score: int
    incumbent: int = 0


@dataclasses.dataclass(frozen=True)
class VoteReveal:
    """Validator ``node`` reveals its vote on proposal ``pid``."""

    node: int
    pid: int
    accept: bool
    score: int
    incumbent: int = 0


@dataclasses.dataclass(frozen=True)
class Evidence:
    """Anyone proves that ``offender`` signed two conflicting votes on
    ``pid``: its open vote stops counting and its bond is slashed when the
    proposal settles."""

    offender: int
    pid: int


Event = (
    BeginBlock
    | Finalize
    | EndBlock
    | Bond
    | Unbond
    | ProposeCommit
    | ProposeReveal
    | VoteCommit
    | VoteReveal
    | Evidence
)
"""Any event."""


class Result(NamedTuple):
    """How an engine took one event.

    Attributes:
        error: ``""`` when accepted, else the broken rule (:data:`ERRORS`).
        pid: The id an accepted ``ProposeCommit`` assigned.
        accepted: ``Finalize``: the proposal ids accepted, in settlement
            order.
    """

    error: str
    pid: int | None = None
    accepted: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """The event was accepted."""
        return self.error == ""


# -- state -------------------------------------------------------------------


@struct.dataclass
class EventState:
    """The chain between two events.

    Between blocks ``core.committed`` holds the proposals committed in the
    last block and ``core.voting`` those revealed in it (votes committed),
    as after :func:`nasjax.protocol.step.step`. During a block, the first
    are the *pending* proposals (to reveal now) and the second the
    *settling* ones (votes revealed now, settled by ``Finalize``).

    Attributes:
        core: The core state (``core.block``: the open block, or the next).
        opened: Proposals revealed in the open block (votes being committed).
        fresh: Proposals committed in the open block.
        settling_votes: ``bool[P, C]`` the seat's validator committed a vote
            on ``core.voting``'s proposal.
        opened_votes: ``bool[P, C]`` the same for ``opened``.
        in_block: ``bool[]`` a block is open.
        bond_at_start: ``int64[N]`` bonds when the open block began.
        last_unbond: ``int64[N]`` block + 1 of each node's last unbond
            request (0: none).
        unbond_new: ``int64[N]`` unbonding requested in the open block.
    """

    core: State
    opened: Pending
    fresh: Pending
    settling_votes: jax.Array
    opened_votes: jax.Array
    in_block: jax.Array
    bond_at_start: jax.Array
    last_unbond: jax.Array
    unbond_new: jax.Array

    def replace(self, **changes: Any) -> EventState:
        """A copy with ``changes`` applied (out of place)."""
        return dataclasses.replace(self, **changes)


@x64
def init_events(state: State) -> EventState:
    """The event-level state of a core state between blocks.

    Args:
        state: A state with an empty pipeline (e.g.
            :func:`nasjax.protocol.state.init_state`).

    Raises:
        ValueError: If ``state`` holds pending proposals (their votes'
            commit-reveal status is not part of the core state).
    """
    if bool(jnp.any(state.committed.valid)) or bool(jnp.any(state.voting.valid)):
        raise ValueError("init_events needs a state without pending proposals")
    p, c = state.committed.seats.shape
    n = state.balance.shape[0]
    zeros = jnp.zeros(n, jnp.int64)
    return EventState(
        core=state,
        opened=empty_pending(p, c),
        fresh=empty_pending(p, c),
        settling_votes=jnp.zeros((p, c), bool),
        opened_votes=jnp.zeros((p, c), bool),
        in_block=jnp.asarray(False),
        bond_at_start=state.bonded,
        last_unbond=zeros,
        unbond_new=zeros,
    )


def _escrow_of(n: int, *stages: Pending) -> jax.Array:
    total = jnp.zeros(n, jnp.int64)
    for stage in stages:
        total = total + credit(
            n, stage.proposer, jnp.where(stage.valid, stage.deposit + stage.fee, 0)
        )
    return total


@x64
@jax.jit
def holdings(es: EventState) -> jax.Array:
    """``int64[N, 4]`` (liquid, bonded, unbonding, escrow) of every node.

    Unbonding includes the open block's requests; escrow is every deposit
    and fee held in a proposal not yet settled or abandoned.
    """
    s = es.core
    n = s.balance.shape[0]
    unbonding = jnp.sum(s.unbonding, axis=1) + es.unbond_new
    escrow = _escrow_of(n, s.committed, s.voting, es.opened, es.fresh)
    return jnp.stack([s.balance, s.bonded, unbonding, escrow], axis=1)


# -- helpers -------------------------------------------------------------------


def _check(*rules: tuple[jax.Array, int | jax.Array]) -> jax.Array:
    """``int32[]`` the code of the first broken rule (``(broken, code)``), 0 if none."""
    code = jnp.asarray(0, jnp.int32)
    for broken, c in reversed(rules):
        code = jnp.where(broken, jnp.asarray(c, jnp.int32), code)
    return code


def _keep_if(code: jax.Array, new: EventState, old: EventState) -> EventState:
    return jax.tree.map(lambda a, b: jnp.where(code == 0, a, b), new, old)


def _node(es: EventState, node: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(known, index)``: a registered node, and an index safe to gather with."""
    n = es.core.balance.shape[0]
    return (node >= 0) & (node < n), jnp.clip(node, 0, n - 1).astype(jnp.int32)


def _number(es: EventState) -> jax.Array:
    """The chain's block number: the open block, else the last one ended."""
    b = es.core.block
    return jnp.where(es.in_block, b, jnp.maximum(b - 1, 0))


def _find(stage: Pending, pid: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(found, slot)`` of ``pid`` in a stage."""
    hit = stage.valid & (stage.pid == pid)
    return jnp.any(hit), jnp.argmax(hit).astype(jnp.int32)


def _score(units: jax.Array) -> jax.Array:
    return jnp.asarray(units, jnp.float64) / SCORE_ONE


def _vote_of(
    stage: Pending, votes: jax.Array, j: jax.Array, node: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(seats mask bool[C], committed, its first seat)`` of ``node`` in slot ``j``."""
    mask = stage.seats[j] == node
    first = jnp.argmax(mask).astype(jnp.int32)
    return mask, jnp.any(mask) & votes[j, first], first


# -- events ------------------------------------------------------------------


@jax.jit
def _bond(params: Params, es: EventState, node, amount):
    known, i = _node(es, node)
    s = es.core
    code = _check(
        (~known, _E["UnknownNode"]), (s.balance[i] < amount, _E["InsufficientBalance"])
    )
    core = s.replace(
        balance=s.balance.at[i].add(-amount), bonded=s.bonded.at[i].add(amount)
    )
    return _keep_if(code, es.replace(core=core), es), code


@jax.jit
def _unbond(params: Params, es: EventState, node, amount):
    known, i = _node(es, node)
    s = es.core
    code = _check(
        (~known, _E["UnknownNode"]), (s.bonded[i] < amount, _E["InsufficientBond"])
    )
    number = _number(es)
    slot = (number % s.unbonding.shape[1]).astype(jnp.int32)
    add = jnp.where(es.in_block, 0, amount)
    core = s.replace(
        bonded=s.bonded.at[i].add(-amount),
        unbonding=s.unbonding.at[i, slot].add(add),
    )
    new = es.replace(
        core=core,
        unbond_new=es.unbond_new.at[i].add(amount - add),
        last_unbond=es.last_unbond.at[i].set(number + 1),
    )
    return _keep_if(code, new, es), code


@jax.jit
def _begin(params: Params, es: EventState, seats, n_rows, row_len):
    s = es.core
    pend = s.committed
    n, (p, c) = s.balance.shape[0], pend.seats.shape
    n_pending = jnp.sum(pend.valid)
    rows = jnp.arange(p) < n_pending
    need = jnp.maximum(params.min_bond, 1)
    known = (seats >= 0) & (seats < n)
    idx = jnp.clip(seats, 0, n - 1)
    seat_code = jnp.where(
        ~known,
        _E["UnknownNode"],
        jnp.where(
            seats == pend.proposer[:, None],
            _E["ProposerInCommittee"],
            jnp.where(s.bonded[idx] < need, _E["StakeBelowMinimum"], 0),
        ),
    )
    row_code = jnp.where(row_len != c, _E["CommitteeMismatch"], 0)
    flat = jnp.concatenate([row_code[:, None], seat_code], axis=1)
    flat = jnp.where(rows[:, None], flat, 0).reshape(-1)
    first = flat[jnp.argmax(flat != 0)]
    code = _check(
        (es.in_block, _E["BlockOpen"]),
        (n_rows != n_pending, _E["CommitteeMismatch"]),
        (first != 0, first),
    )
    pend = pend.replace(
        seats=jnp.where(rows[:, None], seats, pend.seats).astype(jnp.int32)
    )
    new = es.replace(
        core=s.replace(committed=pend),
        in_block=jnp.asarray(True),
        bond_at_start=s.bonded,
    )
    del n
    return _keep_if(code, new, es), code


@jax.jit
def _finalize(params: Params, es: EventState):
    code = _check((~es.in_block, _E["NoBlockOpen"]))
    s = es.core
    d = s.unbonding.shape[1]
    wide = s.replace(
        unbonding=jnp.concatenate([s.unbonding, es.unbond_new[:, None]], 1)
    )
    settled, outcome, _ = finalize(params, wide)
    core = settled.replace(unbonding=settled.unbonding[:, :d])
    new = es.replace(
        core=core,
        unbond_new=settled.unbonding[:, d],
        settling_votes=jnp.zeros_like(es.settling_votes),
    )
    accepted = outcome.accepted & (code == 0)
    return _keep_if(code, new, es), code, accepted, s.voting.pid


@jax.jit
def _end(params: Params, es: EventState):
    s = es.core
    code = _check(
        (~es.in_block, _E["NoBlockOpen"]),
        (jnp.any(s.voting.valid), _E["NotFinalized"]),
    )
    pend = s.committed
    abandoned = jnp.sum(jnp.where(pend.valid, pend.deposit + pend.fee, 0))
    d = s.unbonding.shape[1]
    slot = (s.block % d).astype(jnp.int32)
    released = jnp.where(s.block >= d, s.unbonding[:, slot], 0)
    unbonding = s.unbonding.at[:, slot].add(es.unbond_new - released)
    p, c = pend.seats.shape
    beacon = jax.random.fold_in(beacon_key(s.beacon), s.block.astype(jnp.uint32))
    core = s.replace(
        block=s.block + 1,
        beacon=beacon_data(beacon),
        balance=s.balance + released,
        unbonding=unbonding,
        committed=es.fresh,
        voting=es.opened,
        burned=s.burned + abandoned,
    )
    new = es.replace(
        core=core,
        opened=empty_pending(p, c),
        fresh=empty_pending(p, c),
        settling_votes=es.opened_votes,
        opened_votes=jnp.zeros_like(es.opened_votes),
        in_block=jnp.asarray(False),
        unbond_new=jnp.zeros_like(es.unbond_new),
    )
    return _keep_if(code, new, es), code


@jax.jit
def _propose_commit(params: Params, es: EventState, node, task, claimed):
    known, i = _node(es, node)
    s, fresh = es.core, es.fresh
    n_slots = fresh.valid.shape[0]
    k = jnp.sum(fresh.valid)
    need = params.deposit + params.fee
    code = _check(
        (~es.in_block, _E["NoBlockOpen"]),
        (~known, _E["UnknownNode"]),
        (
            es.bond_at_start[i] < jnp.maximum(params.min_bond, 1),
            _E["StakeBelowMinimum"],
        ),
        (jnp.any(fresh.valid & (fresh.proposer == node)), _E["OneProposalPerBlock"]),
        (k >= n_slots, _E["NoFreeSlot"]),
        (s.balance[i] < need, _E["InsufficientBalance"]),
    )
    j = jnp.minimum(k, n_slots - 1)
    t = jnp.clip(task, 0, s.best_id.shape[0] - 1)
    score = _score(claimed)
    fresh = fresh.replace(
        valid=fresh.valid.at[j].set(True),
        pid=fresh.pid.at[j].set(s.n_proposals),
        proposer=fresh.proposer.at[j].set(i),
        task=fresh.task.at[j].set(task.astype(jnp.int32)),
        parent=fresh.parent.at[j].set(s.best_id[t]),
        claimed=fresh.claimed.at[j].set(score),
        quality=fresh.quality.at[j].set(score),
        public_error=fresh.public_error.at[j].set(0.0),
        deposit=fresh.deposit.at[j].set(params.deposit),
        fee=fresh.fee.at[j].set(params.fee),
    )
    core = s.replace(balance=s.balance.at[i].add(-need), n_proposals=s.n_proposals + 1)
    return _keep_if(code, es.replace(core=core, fresh=fresh), es), code, s.n_proposals


@jax.jit
def _propose_reveal(params: Params, es: EventState, node, pid, task, claimed):
    known, _ = _node(es, node)
    s, pend, fresh = es.core, es.core.committed, es.fresh
    pending, j = _find(pend, pid)
    young, jf = _find(fresh, pid)
    proposer = jnp.where(pending, pend.proposer[j], fresh.proposer[jf])
    same = (pend.task[j] == task) & (pend.claimed[j] == _score(claimed))
    code = _check(
        (~es.in_block, _E["NoBlockOpen"]),
        (jnp.any(s.voting.valid), _E["NotFinalized"]),
        (~known, _E["UnknownNode"]),
        (~(pending | young), _E["NotCommitted"]),
        (proposer != node, _E["NotProposer"]),
        (~pending, _E["WrongRound"]),
        (task >= s.best_id.shape[0], _E["UnknownTask"]),
        (~same, _E["CommitmentMismatch"]),
    )
    t = jnp.clip(task, 0, s.best_id.shape[0] - 1)
    m = jnp.minimum(jnp.sum(es.opened.valid), pend.valid.shape[0] - 1)
    row = jax.tree.map(lambda x: x[j], pend)
    c = pend.seats.shape[1]
    row = row.replace(
        best_at_vote=s.best_score[t],
        best_true_at_vote=s.best_true[t],
        incumbent_id=s.best_id[t],
        score=jnp.full(c, jnp.nan),
        accept=jnp.zeros(c, bool),
        revealed=jnp.zeros(c, bool),
        equivocated=jnp.zeros(c, bool),
        evaluated=jnp.zeros(c, bool),
        gain=jnp.full(c, jnp.nan),
        incumbent=jnp.full(c, jnp.nan),
    )
    opened = jax.tree.map(lambda x, r: x.at[m].set(r), es.opened, row)
    pend = pend.replace(valid=pend.valid.at[j].set(False))
    new = es.replace(
        core=s.replace(committed=pend),
        opened=opened,
        opened_votes=es.opened_votes.at[m].set(False),
    )
    return _keep_if(code, new, es), code


@jax.jit
def _vote_commit(params: Params, es: EventState, node, pid, accept, score, incumbent):
    known, i = _node(es, node)
    s, op = es.core, es.opened
    settling, js = _find(s.voting, pid)
    opened, j = _find(op, pid)
    proposer = jnp.where(opened, op.proposer[j], s.voting.proposer[js])
    mask, committed, _ = _vote_of(op, es.opened_votes, j, node)
    code = _check(
        (~es.in_block, _E["NoBlockOpen"]),
        (~known, _E["UnknownNode"]),
        (~(settling | opened), _E["VotingClosed"]),
        (proposer == node, _E["SelfVote"]),
        (~opened, _E["VotingClosed"]),
        (~jnp.any(mask), _E["NotInCommittee"]),
        (es.last_unbond[i] > s.block, _E["VotingWhileUnbonding"]),
        (committed, _E["DoubleVote"]),
    )
    op = op.replace(
        accept=op.accept.at[j].set(jnp.where(mask, accept, op.accept[j])),
        score=op.score.at[j].set(jnp.where(mask, _score(score), op.score[j])),
        incumbent=op.incumbent.at[j].set(
            jnp.where(mask, _score(incumbent), op.incumbent[j])
        ),
        gain=op.gain.at[j].set(
            jnp.where(mask, _score(score) - _score(incumbent), op.gain[j])
        ),
    )
    votes = es.opened_votes.at[j].set(es.opened_votes[j] | mask)
    return _keep_if(code, es.replace(opened=op, opened_votes=votes), es), code


def _live(es: EventState, pid: jax.Array):
    """Where ``pid`` is voted on: ``(settling, opened, stage, votes, slot)``."""
    settling, js = _find(es.core.voting, pid)
    opened, jo = _find(es.opened, pid)
    stage = jax.tree.map(
        lambda a, b: jnp.where(settling, a, b), es.core.voting, es.opened
    )
    votes = jnp.where(settling, es.settling_votes, es.opened_votes)
    return settling, opened, stage, votes, jnp.where(settling, js, jo)


def _put(es: EventState, settling: jax.Array, stage: Pending) -> EventState:
    """Write back a stage picked by :func:`_live`."""
    pick = lambda new, old: jax.tree.map(
        lambda a, b: jnp.where(settling, a, b), new, old
    )
    unpick = lambda new, old: jax.tree.map(
        lambda a, b: jnp.where(settling, b, a), new, old
    )
    core = es.core.replace(voting=pick(stage, es.core.voting))
    return es.replace(core=core, opened=unpick(stage, es.opened))


@jax.jit
def _vote_reveal(params: Params, es: EventState, node, pid, accept, score, incumbent):
    known, _ = _node(es, node)
    settling, opened, stage, votes, j = _live(es, pid)
    mask, committed, f = _vote_of(stage, votes, j, node)
    same = (
        (stage.accept[j, f] == accept)
        & (stage.score[j, f] == _score(score))
        & (stage.incumbent[j, f] == _score(incumbent))
    )
    code = _check(
        (~es.in_block, _E["NoBlockOpen"]),
        (~known, _E["UnknownNode"]),
        (~(settling | opened), _E["VotingClosed"]),
        (~committed, _E["RevealWithoutCommit"]),
        (stage.revealed[j, f], _E["DoubleReveal"]),
        (stage.equivocated[j, f], _E["Equivocated"]),
        (~settling, _E["WrongRound"]),
        (~same, _E["CommitmentMismatch"]),
    )
    stage = stage.replace(revealed=stage.revealed.at[j].set(stage.revealed[j] | mask))
    return _keep_if(code, _put(es, settling, stage), es), code


@jax.jit
def _evidence(params: Params, es: EventState, offender, pid):
    known, _ = _node(es, offender)
    settling, opened, stage, votes, j = _live(es, pid)
    mask, committed, f = _vote_of(stage, votes, j, offender)
    open_vote = committed & ~stage.revealed[j, f] & ~stage.equivocated[j, f]
    code = _check(
        (~known, _E["UnknownNode"]),
        (~(settling | opened), _E["VotingClosed"]),
        (~open_vote, _E["NoOpenVote"]),
    )
    stage = stage.replace(
        equivocated=stage.equivocated.at[j].set(stage.equivocated[j] | mask)
    )
    return _keep_if(code, _put(es, settling, stage), es), code


# -- driver --------------------------------------------------------------------


def _i64(x: int) -> jax.Array:
    return jnp.asarray(x, jnp.int64)


def _seats(es: EventState, seats: Sequence[Sequence[int]]):
    p, c = es.core.committed.seats.shape
    arr = np.zeros((p, c), np.int64)
    lens = np.zeros(p, np.int64)
    for j, row in enumerate(list(seats)[:p]):
        row = list(row)
        lens[j] = len(row)
        arr[j, : min(len(row), c)] = row[:c]
    return jnp.asarray(arr), _i64(len(seats)), jnp.asarray(lens)


def _result(code: jax.Array, **extra: Any) -> Result:
    return Result(ERRORS[int(code)], **extra)


_HANDLERS: dict[type, Callable[[Params, EventState, Any], tuple[EventState, Result]]]


def _h_begin(params: Params, es: EventState, ev: BeginBlock):
    es, code = _begin(params, es, *_seats(es, ev.seats))
    return es, _result(code)


def _h_finalize(params: Params, es: EventState, ev: Finalize):
    es, code, accepted, pids = _finalize(params, es)
    got = tuple(int(p) for p in np.asarray(pids)[np.asarray(accepted)])
    return es, _result(code, accepted=got)


def _h_end(params: Params, es: EventState, ev: EndBlock):
    es, code = _end(params, es)
    return es, _result(code)


def _h_bond(params: Params, es: EventState, ev: Bond):
    es, code = _bond(params, es, _i64(ev.node), _i64(ev.amount))
    return es, _result(code)


def _h_unbond(params: Params, es: EventState, ev: Unbond):
    es, code = _unbond(params, es, _i64(ev.node), _i64(ev.amount))
    return es, _result(code)


def _h_commit(params: Params, es: EventState, ev: ProposeCommit):
    es, code, pid = _propose_commit(
        params, es, _i64(ev.node), _i64(ev.task), _i64(ev.claimed)
    )
    return es, _result(code, pid=int(pid) if int(code) == 0 else None)


def _h_reveal(params: Params, es: EventState, ev: ProposeReveal):
    args = (_i64(ev.node), _i64(ev.pid), _i64(ev.task), _i64(ev.claimed))
    es, code = _propose_reveal(params, es, *args)
    return es, _result(code)


def _h_vote(params: Params, es: EventState, ev: VoteCommit):
    args = (_i64(ev.node), _i64(ev.pid), jnp.asarray(ev.accept), _i64(ev.score))
    es, code = _vote_commit(params, es, *args, _i64(ev.incumbent))
    return es, _result(code)


def _h_vote_reveal(params: Params, es: EventState, ev: VoteReveal):
    args = (_i64(ev.node), _i64(ev.pid), jnp.asarray(ev.accept), _i64(ev.score))
    es, code = _vote_reveal(params, es, *args, _i64(ev.incumbent))
    return es, _result(code)


def _h_evidence(params: Params, es: EventState, ev: Evidence):
    es, code = _evidence(params, es, _i64(ev.offender), _i64(ev.pid))
    return es, _result(code)


_HANDLERS = {
    BeginBlock: _h_begin,
    Finalize: _h_finalize,
    EndBlock: _h_end,
    Bond: _h_bond,
    Unbond: _h_unbond,
    ProposeCommit: _h_commit,
    ProposeReveal: _h_reveal,
    VoteCommit: _h_vote,
    VoteReveal: _h_vote_reveal,
    Evidence: _h_evidence,
}


def apply_event(
    params: Params, es: EventState, event: Event
) -> tuple[EventState, Result]:
    """Apply one event: the new state (unchanged if rejected) and the result.

    Args:
        params: Core parameters (any rule).
        es: The state before the event.
        event: The event; node ids, pids, tasks, amounts and scores are
            non-negative integers below ``2**63``.

    Returns:
        ``(state, Result)``.
    """
    with x64_mode():
        return _HANDLERS[type(event)](params, es, event)


def apply_events(
    params: Params, es: EventState, events: Sequence[Event]
) -> tuple[EventState, list[Result]]:
    """Apply events in order (:func:`apply_event` each).

    Returns:
        ``(final state, one Result per event)``.
    """
    results = []
    for ev in events:
        es, res = apply_event(params, es, ev)
        results.append(res)
    return es, results


@x64
def draw_seats(params: Params, es: EventState) -> tuple[tuple[int, ...], ...]:
    """The stake-weighted committees of the pending proposals (the core's
    sortition, :func:`nasjax.protocol.step.committees`, from the state's
    beacon), as a ``BeginBlock`` wants them."""
    seats = np.asarray(committees(params, es.core))
    valid = np.asarray(es.core.committed.valid)
    return tuple(tuple(int(x) for x in seats[j]) for j in np.flatnonzero(valid))
