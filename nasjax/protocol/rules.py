"""Transaction rules of the chain, applied in ledger order.

The same rules run when the simulator assembles a block (a transaction that
breaks one is never written) and when :func:`nasjax.protocol.verify_ledger`
replays a ledger (a ledger that breaks one is rejected). Transaction bodies::

    propose_commit  sender, nonce, pid, commitment, deposit, fee
    propose_reveal  sender, nonce, pid, payload, salt
    vote_commit     sender, nonce, pid, seats, commitment
    vote_reveal     sender, nonce, pid, vote {score, accept, gain, incumbent}, salt
    evidence        sender, nonce, offender, pid, votes [2 signed vote_reveals]
    finalize        sender, nonce, pid, outcome, certified, reward, slash, new_best
    checkpoint      sender, nonce, start, stop, totals, state_digest
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nasjax.protocol.commit_reveal import CommitBook, CommitRevealError, commitment
from nasjax.protocol.crypto import canonical, sha256_hex, verify

TX_TYPES: tuple[str, ...] = (
    "propose_commit",
    "propose_reveal",
    "vote_commit",
    "vote_reveal",
    "evidence",
    "finalize",
    "checkpoint",
)
PRODUCER_TXS: frozenset[str] = frozenset({"evidence", "finalize", "checkpoint"})


class RuleError(ValueError):
    """A transaction breaks a chain rule (the message says which)."""


def tx_id(tx: dict[str, Any]) -> str:
    """Hex id of a transaction: SHA-256 of its canonical body."""
    return sha256_hex(b"nasjax-tx-v1", canonical(tx["body"]))


def tx_message(body: dict[str, Any]) -> bytes:
    """The bytes a transaction's signature signs."""
    return b"nasjax-tx-v1" + canonical(body)


def vote_payload(pid: int, vote: dict[str, Any]) -> dict[str, Any]:
    """What a vote commitment binds: the proposal and the vote."""
    return {"pid": int(pid), "vote": vote}


def proposal_content(payload: dict[str, Any]) -> Any:
    """The part of a proposal that identifies the work (copy detection)."""
    return {
        "task": payload.get("task"),
        "parent": payload.get("parent"),
        "candidate": payload.get("candidate"),
    }


@dataclasses.dataclass
class _Vote:
    block: int
    value: str
    revealed: bool = False


@dataclasses.dataclass
class ChainRules:
    """Replayable chain rules over a growing ledger.

    Attributes:
        public: Public key (hex) per node id.
        seen: Transaction id -> block it appeared in.
        nonces: Last nonce per sender.
        book: Proposal commit-reveal registry.
        proposals: pid -> ``{"proposer", "block", "revealed", "finalized"}``.
        votes: ``(pid, validator) -> vote commitment record``.
    """

    public: dict[int, str]
    seen: dict[str, int] = dataclasses.field(default_factory=dict)
    nonces: dict[int, int] = dataclasses.field(default_factory=dict)
    book: CommitBook = dataclasses.field(default_factory=CommitBook)
    proposals: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    votes: dict[tuple[int, int], _Vote] = dataclasses.field(default_factory=dict)

    def check_signature(self, tx: dict[str, Any]) -> None:
        """Raise unless the tx is well formed and signed by its sender."""
        body = tx.get("body")
        if not isinstance(body, dict) or not isinstance(tx.get("sig"), str):
            raise RuleError("malformed transaction")
        if body.get("type") not in TX_TYPES:
            raise RuleError(f"unknown transaction type {body.get('type')!r}")
        sender = body.get("sender")
        if sender not in self.public:
            raise RuleError(f"unknown sender {sender!r}")
        if not verify(self.public[sender], tx_message(body), tx["sig"]):
            raise RuleError(f"forged or invalid signature (sender {sender})")

    def apply(self, tx: dict[str, Any], block: int, producer: int) -> None:
        """Check ``tx`` against every rule and record its effects.

        Raises:
            RuleError: Naming the broken rule.
        """
        self.check_signature(tx)
        body = tx["body"]
        ident = tx_id(tx)
        if ident in self.seen:
            raise RuleError(
                f"replayed transaction (already included in block {self.seen[ident]})"
            )
        sender, nonce = body["sender"], body.get("nonce")
        if not isinstance(nonce, int) or nonce <= self.nonces.get(sender, -1):
            raise RuleError(
                f"replayed transaction (nonce {nonce} of node {sender} already used)"
            )
        kind = body["type"]
        if kind in PRODUCER_TXS and sender != producer:
            raise RuleError(f"{kind} not issued by the block producer {producer}")
        getattr(self, f"_{kind}")(body, block)
        self.seen[ident] = block
        self.nonces[sender] = nonce

    # -- per type -----------------------------------------------------------

    def _propose_commit(self, body: dict[str, Any], block: int) -> None:
        pid = int(body["pid"])
        if pid in self.proposals:
            raise RuleError(f"proposal id {pid} reused")
        try:
            self.book.commit(body["sender"], body["commitment"], block, pid)
        except CommitRevealError as err:
            raise RuleError(str(err)) from None
        self.proposals[pid] = {
            "proposer": body["sender"],
            "block": block,
            "revealed": False,
            "finalized": False,
        }

    def _propose_reveal(self, body: dict[str, Any], block: int) -> None:
        sender, pid = body["sender"], int(body["pid"])
        try:
            self.book.reveal(
                sender,
                self.public[sender],
                body["payload"],
                body["salt"],
                block,
                proposal_content(body["payload"]),
                pid,
            )
        except CommitRevealError as err:
            raise RuleError(str(err)) from None
        self.proposals[pid]["revealed"] = True
        self.proposals[pid]["reveal_block"] = block

    def _vote_commit(self, body: dict[str, Any], block: int) -> None:
        pid, voter = int(body["pid"]), body["sender"]
        prop = self.proposals.get(pid)
        if prop is None or not prop["revealed"]:
            raise RuleError(f"vote on proposal {pid}, which is not revealed")
        if (pid, voter) in self.votes:
            raise RuleError(f"double vote by validator {voter} on proposal {pid}")
        self.votes[(pid, voter)] = _Vote(block, body["commitment"])

    def _vote_reveal(self, body: dict[str, Any], block: int) -> None:
        pid, voter = int(body["pid"]), body["sender"]
        rec = self.votes.get((pid, voter))
        if rec is None:
            raise RuleError(f"vote reveal by {voter} on {pid} without a commitment")
        if rec.revealed:
            raise RuleError(f"double vote by validator {voter} on proposal {pid}")
        if block <= rec.block:
            raise RuleError(f"vote on {pid} revealed in its commit block")
        value = commitment(
            self.public[voter], vote_payload(pid, body["vote"]), body["salt"]
        )
        if value != rec.value:
            raise RuleError(
                f"vote reveal by {voter} on {pid} does not match its commitment"
            )
        rec.revealed = True

    def _evidence(self, body: dict[str, Any], block: int) -> None:
        offender, pid = body["offender"], int(body["pid"])
        votes = body.get("votes")
        if (
            offender not in self.public
            or not isinstance(votes, list)
            or len(votes) != 2
        ):
            raise RuleError("invalid equivocation evidence (malformed)")
        bodies = []
        for v in votes:
            b = v.get("body", {}) if isinstance(v, dict) else {}
            ok = verify(self.public[offender], tx_message(b), v.get("sig", ""))
            if not ok or b.get("sender") != offender or int(b.get("pid", -1)) != pid:
                raise RuleError("invalid equivocation evidence (bad signature or vote)")
            bodies.append(canonical(b["vote"]))
        if bodies[0] == bodies[1]:
            raise RuleError("invalid equivocation evidence (votes do not conflict)")
        rec = self.votes.get((pid, offender))
        if rec is None or rec.revealed:
            raise RuleError("invalid equivocation evidence (no open vote)")
        rec.revealed = True

    def _finalize(self, body: dict[str, Any], block: int) -> None:
        pid = int(body["pid"])
        prop = self.proposals.get(pid)
        if prop is None or not prop["revealed"]:
            raise RuleError(f"finalize of proposal {pid}, which is not revealed")
        if prop["finalized"]:
            raise RuleError(f"proposal {pid} finalized twice")
        if body.get("outcome") not in ("accepted", "rejected", "expired"):
            raise RuleError(f"unknown outcome {body.get('outcome')!r}")
        prop["finalized"] = True

    def _checkpoint(self, body: dict[str, Any], block: int) -> None:
        if int(body["stop"]) < int(body["start"]):
            raise RuleError("checkpoint range is empty")
