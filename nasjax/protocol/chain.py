"""Host side of the chain: turn each block's events into signed transactions.

:class:`ChainRecorder` owns the nodes' keys (a simulation signs for every
agent), their nonces and salts, and a :class:`LedgerWriter`. Per block it
writes, in order: the vote reveals of the proposals being finalised (or, for
an equivocating validator, the producer's evidence carrying its two
conflicting signed votes), a ``finalize`` receipt per proposal, the reveals
of last block's proposals with their committees' vote commitments, and the
commitments of the new proposals. Every transaction passes the chain rules
before its block is written.

Salts are derived from the seed (so ledgers are reproducible); a real
deployment would draw them from a CSPRNG.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nasjax.protocol.commit_reveal import commitment
from nasjax.protocol.crypto import GENESIS, Keyring, sha256_hex
from nasjax.protocol.ledger import LedgerWriter, make_tx
from nasjax.protocol.rules import vote_payload
from nasjax.protocol.types import BlockEvents, Outcome, Pending

OUTCOMES = ("accepted", "rejected", "expired")


def _num(x: Any) -> float | None:
    """A JSON-safe float (None for NaN / inf)."""
    v = float(x)
    return v if np.isfinite(v) else None


def surrogate_candidate(seed: int, pid: int) -> dict[str, Any]:
    """The candidate descriptor of a surrogate proposal (no architecture)."""
    ident = hashlib.sha256(f"nasjax-surrogate-{seed}-{pid}".encode()).hexdigest()
    return {"kind": "surrogate", "id": ident[:32]}


class ChainRecorder:
    """Writes a simulation's blocks to a ledger.

    Args:
        path: Ledger file (created).
        seed: Run seed (keys and salts).
        endowment: ``int64[N]`` genesis endowments.
        supply: Genesis supply counters ``{initial, emitted, burned, total}``.
        info: Extra genesis data (e.g. the configuration).
        fsync: ``fsync`` after every block.
        candidate: ``pid -> candidate descriptor`` (default: surrogate ids).
    """

    def __init__(
        self,
        path: str | Path,
        seed: int,
        endowment: np.ndarray,
        supply: Mapping[str, int],
        *,
        info: dict[str, Any] | None = None,
        fsync: bool = True,
        candidate: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        self.seed = int(seed)
        self.keys = Keyring(seed)
        self.nonces: dict[int, int] = {}
        self.emitted = int(supply["emitted"])
        self.burned = int(supply["burned"])
        self.initial = int(supply["initial"])
        self.candidate = candidate or (lambda pid: surrogate_candidate(self.seed, pid))
        self._payloads: dict[int, tuple[dict[str, Any], str]] = {}
        accounts = [
            {"id": i, "public": self.keys.public(i), "endowment": int(e)}
            for i, e in enumerate(np.asarray(endowment))
        ]
        self.writer = LedgerWriter.create(
            path,
            self.keys.key(GENESIS),
            accounts,
            supply=dict(supply),
            info=info,
            fsync=fsync,
        )

    @property
    def head_hash(self) -> str:
        """Hash of the last written block."""
        return self.writer.head_hash

    def close(self) -> str:
        """Seal the ledger at a clean stop (its close block); returns its hash."""
        return self.writer.close(self.keys.key(GENESIS))

    def _nonce(self, node: int) -> int:
        n = self.nonces.get(node, -1) + 1
        self.nonces[node] = n
        return n

    def _salt(self, *parts: Any) -> str:
        return sha256_hex(f"nasjax-salt-{self.seed}-{parts}".encode())[:32]

    def _tx(self, node: int, body: dict[str, Any]) -> dict[str, Any]:
        body = {"sender": int(node), "nonce": self._nonce(node), **body}
        return make_tx(body, self.keys.key(node))

    @staticmethod
    def _vote(stage: Any, j: int, c: int) -> dict[str, Any]:
        """A seat's vote: its score, verdict, paired gain and incumbent score."""
        return {
            "score": _num(stage.score[j, c]),
            "accept": bool(stage.accept[j, c]),
            "gain": _num(stage.gain[j, c]),
            "incumbent": _num(stage.incumbent[j, c]),
        }

    def block(self, block: int, events: BlockEvents, metrics: Mapping[str, Any]) -> str:
        """Write one block; returns its hash.

        Args:
            block: Block index of the simulation.
            events: The block's :class:`~nasjax.protocol.types.BlockEvents`
                (host numpy leaves).
            metrics: The block's metrics row (``BlockMetrics`` fields).
        """
        producer = int(events.producer)
        txs = self._settled(events.finalized, events.outcome, producer)
        txs += self._revealed(events.voting)
        txs += self._committed(events.committed)
        self.emitted += int(metrics["emitted"])
        self.burned += int(metrics["burned"])
        summary = {
            "block": int(block),
            "best": [float(x) for x in np.atleast_1d(metrics["best_score"])],
            "accepted": int(metrics["accepted"]),
            "rejected": int(metrics["rejected"]),
            "expired": int(metrics["expired"]),
        }
        return self.writer.append(
            producer,
            self.keys.key(producer),
            txs,
            beacon=[int(x) for x in np.asarray(events.beacon)],
            supply=self._supply(metrics),
            body=summary,
        )

    def _settled(self, fin: Pending, out: Outcome, producer: int) -> list[dict]:
        """Vote reveals (or equivocation evidence) and a receipt per proposal."""
        txs: list[dict[str, Any]] = []
        for j in np.flatnonzero(fin.valid):
            pid = int(fin.pid[j])
            seats = np.asarray(fin.seats[j]).tolist()
            for c, v in enumerate(seats):
                if seats.index(v) != c:
                    continue  # one vote per validator, whatever its seats
                vote = self._vote(fin, j, c)
                salt = self._salt("vote", pid, v)
                if fin.equivocated[j, c]:
                    signed = [
                        make_tx(
                            {
                                "type": "vote_reveal",
                                "sender": v,
                                "nonce": None,
                                "pid": pid,
                                "vote": x,
                                "salt": salt,
                            },
                            self.keys.key(v),
                        )
                        for x in (vote, {**vote, "accept": not vote["accept"]})
                    ]
                    body = {
                        "type": "evidence",
                        "offender": v,
                        "pid": pid,
                        "votes": signed,
                    }
                    txs.append(self._tx(producer, body))
                elif fin.revealed[j, c]:
                    body = {
                        "type": "vote_reveal",
                        "pid": pid,
                        "vote": vote,
                        "salt": salt,
                    }
                    txs.append(self._tx(v, body))
            flags = [out.accepted[j], out.rejected[j], out.expired[j]]
            receipt = {
                "type": "finalize",
                "pid": pid,
                "outcome": OUTCOMES[int(np.argmax(flags))],
                "certified": _num(out.certified[j]),
                "reward": int(out.reward[j]),
                "slash": int(out.slash[j]),
                "new_best": bool(out.new_best[j]),
            }
            txs.append(self._tx(producer, receipt))
            self._payloads.pop(pid, None)
        return txs

    def _revealed(self, vot: Pending) -> list[dict]:
        """Proposal reveals and their committees' vote commitments."""
        txs: list[dict[str, Any]] = []
        for j in np.flatnonzero(vot.valid):
            pid, who = int(vot.pid[j]), int(vot.proposer[j])
            payload, salt = self._payloads[pid]
            reveal = {
                "type": "propose_reveal",
                "pid": pid,
                "payload": payload,
                "salt": salt,
            }
            txs.append(self._tx(who, reveal))
            seats = np.asarray(vot.seats[j]).tolist()
            for c, v in enumerate(seats):
                if seats.index(v) != c:
                    continue
                vote = self._vote(vot, j, c)
                salt_v = self._salt("vote", pid, v)
                value = commitment(self.keys.public(v), vote_payload(pid, vote), salt_v)
                body = {
                    "type": "vote_commit",
                    "pid": pid,
                    "seats": seats.count(v),
                    "commitment": value,
                }
                txs.append(self._tx(v, body))
        return txs

    def _committed(self, com: Pending) -> list[dict]:
        """Commitments of the new proposals (payloads kept for their reveal)."""
        txs: list[dict[str, Any]] = []
        for j in np.flatnonzero(com.valid):
            pid, who = int(com.pid[j]), int(com.proposer[j])
            payload = {
                "task": int(com.task[j]),
                "parent": int(com.parent[j]),
                "claimed": _num(com.claimed[j]),
                "candidate": self.candidate(pid),
            }
            salt = self._salt("proposal", pid, who)
            self._payloads[pid] = (payload, salt)
            body = {
                "type": "propose_commit",
                "pid": pid,
                "commitment": commitment(self.keys.public(who), payload, salt),
                "deposit": int(com.deposit[j]),
                "fee": int(com.fee[j]),
            }
            txs.append(self._tx(who, body))
        return txs

    def checkpoint(
        self,
        start: int,
        stop: int,
        rows: Mapping[str, np.ndarray],
        state_digest: str | None = None,
    ) -> str:
        """Write one summary block covering simulation blocks ``[start, stop)``.

        Args:
            start: First block covered.
            stop: One past the last block covered.
            rows: The metric columns of those blocks (host arrays).
            state_digest: Digest of the state after ``stop`` (optional).
        """
        producer = int(rows["producer"][-1])
        totals = {
            k: int(np.sum(rows[k]))
            for k in (
                "proposed",
                "accepted",
                "rejected",
                "expired",
                "bad",
                "bad_accepted",
                "good",
                "good_rejected",
                "emitted",
                "burned",
            )
        }
        digest = sha256_hex(
            b"".join(np.ascontiguousarray(rows[k]).tobytes() for k in sorted(rows))
        )
        body = {
            "type": "checkpoint",
            "start": int(start),
            "stop": int(stop),
            "totals": totals,
            "metrics_digest": digest,
            "state_digest": state_digest,
        }
        tx = self._tx(producer, body)
        self.emitted += totals["emitted"]
        self.burned += totals["burned"]
        last = {k: v[-1] for k, v in rows.items()}
        return self.writer.append(
            producer,
            self.keys.key(producer),
            [tx],
            supply=self._supply(last),
            body={"start": int(start), "stop": int(stop)},
            kind="checkpoint",
        )

    def _supply(self, metrics: Mapping[str, Any]) -> dict[str, int]:
        return {
            "initial": self.initial,
            "emitted": self.emitted,
            "burned": self.burned,
            "total": int(metrics["supply"]),
        }
