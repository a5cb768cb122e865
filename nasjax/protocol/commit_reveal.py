"""Commit-reveal: commitments bound to the sender's key and first-reveal wins.

A commitment is ``SHA-256(tag || sender public key || canonical(payload) ||
salt)``. Because the sender's key is inside the hash:

* *Front-running*: copying someone's commitment and committing it under your
  own key gets you nothing: no payload and salt you could reveal hashes to it
  under your key.
* *Copy-and-resubmit*: once a payload is revealed, committing the same
  content under your own key is possible, but its reveal comes later than the
  original's, and the chain accepts a content only at its first reveal.

Commitments are looked up per (sender, commitment), never by slot or index,
so nobody can inherit another node's commitment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from nasjax.protocol.crypto import canonical, sha256_hex

_TAG = b"nasjax-commit-v1"


class CommitRevealError(ValueError):
    """A commit or reveal the chain rejects (the message says why)."""


def commitment(sender_public: str, payload: Mapping[str, Any], salt: str) -> str:
    """Hex commitment of ``payload`` by the key ``sender_public`` with ``salt``."""
    return sha256_hex(
        _TAG,
        bytes.fromhex(sender_public),
        canonical(dict(payload)),
        bytes.fromhex(salt),
    )


def content_id(content: Any) -> str:
    """Hex id of a revealed content (who revealed it does not matter)."""
    return sha256_hex(b"nasjax-content-v1", canonical(content))


@dataclasses.dataclass
class _Commit:
    block: int
    pid: int | None
    revealed: bool = False


@dataclasses.dataclass
class CommitBook:
    """The chain's commit-reveal registry (host-side, grows as blocks apply).

    Attributes:
        commits: ``(sender, commitment) -> commit record``.
        contents: ``content id -> (sender, block)`` of its first reveal.
    """

    commits: dict[tuple[int, str], _Commit] = dataclasses.field(default_factory=dict)
    contents: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)

    def commit(
        self, sender: int, value: str, block: int, pid: int | None = None
    ) -> None:
        """Record ``sender``'s commitment ``value`` in ``block``.

        Raises:
            CommitRevealError: If the sender already committed this value.
        """
        if (sender, value) in self.commits:
            raise CommitRevealError(f"node {sender} committed {value[:12]} twice")
        self.commits[(sender, value)] = _Commit(block, pid)

    def reveal(
        self,
        sender: int,
        sender_public: str,
        payload: Mapping[str, Any],
        salt: str,
        block: int,
        content: Any,
        pid: int | None = None,
    ) -> str:
        """Check and record a reveal; returns the content id.

        Args:
            sender: Revealing node.
            sender_public: Its public key (hex).
            payload: The committed payload.
            salt: The commitment's salt (hex).
            block: The reveal's block.
            content: The part of the payload that identifies the work (e.g.
                the architecture), for copy detection.
            pid: Proposal id the reveal claims (must match the commit's).

        Raises:
            CommitRevealError: If no commitment of this sender matches
                (front-running, tampering), the reveal is early or repeated,
                its pid differs, or the content was already revealed
                (copy-and-resubmit).
        """
        value = commitment(sender_public, payload, salt)
        rec = self.commits.get((sender, value))
        if rec is None:
            raise CommitRevealError(
                f"reveal by node {sender} matches none of its commitments "
                "(front-running or altered payload)"
            )
        if rec.revealed:
            raise CommitRevealError(f"commitment {value[:12]} revealed twice")
        if block <= rec.block:
            raise CommitRevealError(
                f"revealed in block {block}, not after its commit block {rec.block}"
            )
        if pid is not None and rec.pid is not None and pid != rec.pid:
            raise CommitRevealError(
                f"reveal claims proposal {pid}, its commitment reserved {rec.pid}"
            )
        cid = content_id(content)
        first = self.contents.get(cid)
        if first is not None:
            raise CommitRevealError(
                f"content {cid[:12]} was already revealed by node {first[0]} in "
                f"block {first[1]} (copy-and-resubmit)"
            )
        rec.revealed = True
        self.contents[cid] = (sender, block)
        return cid
