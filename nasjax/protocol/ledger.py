"""Append-only, hash-chained, Ed25519-signed ledger file (JSON Lines).

One block per line, canonical JSON (sorted keys, no spaces)::

    {"hash": ..., "header": {...}, "sig": ..., "txs": [{"body": ..., "sig": ...}]}

``hash`` is SHA-256 of the canonical header; the header holds the block
index, the previous block's hash, the producer, the beacon, the root of the
transaction ids and the supply counters; ``sig`` is the producer's signature
of the hash. Block 0 (genesis) lists every account's public key and is signed
by the genesis key it names (pin its hash to trust a ledger).

Durability: a block is written with one ``write`` of the line and its
newline, then ``fsync``; the newline is the commit mark. A crash can only
leave a torn last line (no newline), which :func:`recover_ledger` (and
:meth:`LedgerWriter.open`) truncate, reporting how many bytes were dropped;
nothing whose newline reached the disk is lost.

Closing: a writer that stops cleanly appends a *close* block
(:meth:`LedgerWriter.close`), signed by the genesis key, that seals the
height and head hash. A ledger whose last block is not a close block was cut
off (its last blocks or bytes removed) or its writer crashed: verification
refuses it unless told that the writer crashed (``crashed=True``; ``verify
--crashed`` on the command line). Reopening a closed ledger to append is
allowed; the next clean stop closes it again.

Verification (:func:`verify_ledger`) re-checks every line: canonical bytes,
index, previous hash, header hash, transaction root, block and transaction
signatures, the chain rules of :mod:`nasjax.protocol.rules` (replays, double
votes, commit-reveal binding, equivocation evidence), supply conservation
and the closing block; optionally it compares the head with an anchor kept
elsewhere (the run's ``summary.json``). Any failure raises
:class:`LedgerError` naming the block index and reason.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nasjax import safe_json
from nasjax.protocol.crypto import (
    GENESIS,
    canonical,
    public_hex,
    sha256_hex,
    sign,
    verify,
)
from nasjax.protocol.rules import ChainRules, RuleError, tx_id, tx_message

ZERO_HASH = "0" * 64
CLOSE_KIND = "close"
"""``kind`` of the block that seals a ledger at a clean stop."""
_BLOCK_TAG = b"nasjax-block-v1"


class LedgerError(Exception):
    """A damaged or invalid ledger.

    Attributes:
        index: Index of the first bad block.
        reason: What is wrong with it.
    """

    def __init__(self, index: int, reason: str, path: str | os.PathLike | None = None):
        where = f"ledger {path}: " if path is not None else ""
        super().__init__(f"{where}block {index}: {reason}")
        self.index = index
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class LedgerReport:
    """What verification (or recovery) found.

    Attributes:
        path: The ledger file.
        n_blocks: Sound blocks, genesis included.
        n_txs: Transactions in them.
        genesis_hash: Hash of block 0 (pin it to trust the ledger).
        head_hash: Hash of the last block.
        supply: Supply counters of the last block.
        torn_bytes: Bytes of an unterminated last write (0 if none).
        truncated: Whether those bytes were cut off (recovery only).
        closed: Whether the last block is a close block (a clean stop).
    """

    path: str
    n_blocks: int
    n_txs: int
    genesis_hash: str
    head_hash: str
    supply: dict[str, int] | None
    torn_bytes: int = 0
    truncated: bool = False
    closed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        return dataclasses.asdict(self)


def make_tx(body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """A transaction: ``body`` signed by ``key``."""
    return {"body": body, "sig": sign(key, tx_message(body))}


def tx_root(txs: list[dict[str, Any]]) -> str:
    """Hex root of a block's transactions (hash of their ordered ids)."""
    return sha256_hex(b"nasjax-txroot-v1", "".join(tx_id(t) for t in txs).encode())


def _fsync_dir(folder: Path) -> None:
    """Make a new file's directory entry durable (POSIX; skipped elsewhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _split(data: bytes) -> tuple[list[bytes], int]:
    """Complete lines (without newline) and the torn tail's length."""
    end = data.rfind(b"\n") + 1
    lines = data[:end].split(b"\n")[:-1] if end else []
    return lines, len(data) - end


class _Chain:
    """Incremental verifier: feed it blocks in order."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rules: ChainRules | None = None
        self.genesis_hash = ZERO_HASH
        self.head_hash = ZERO_HASH
        self.index = 0
        self.n_txs = 0
        self.supply: dict[str, int] | None = None
        self.genesis_public = ""
        self.closed = False

    def fail(self, reason: str) -> LedgerError:
        return LedgerError(self.index, reason, self.path)

    def feed_line(self, raw: bytes) -> None:
        try:
            record = safe_json.loads(raw)
        except (ValueError, RecursionError):  # bad JSON or UTF-8, a 4300+ digit
            # integer, or nesting deeper than the parser's stack
            raise self.fail("malformed record (not valid JSON)") from None
        if not isinstance(record, dict):
            raise self.fail("malformed record (not an object)")
        try:
            if canonical(record) != raw:
                raise self.fail("non-canonical encoding (bytes altered)")
        except ValueError:
            raise self.fail("malformed record (non-finite number)") from None
        self.feed(record)

    def feed(self, record: dict[str, Any]) -> None:
        header, txs = record.get("header"), record.get("txs")
        if not isinstance(header, dict) or not isinstance(txs, list):
            raise self.fail("malformed record (header or txs missing)")
        if set(record) != {"hash", "header", "sig", "txs"}:
            raise self.fail("malformed record (unexpected fields)")
        if header.get("index") != self.index:
            raise self.fail(
                f"index {header.get('index')} where {self.index} was expected "
                "(block removed, duplicated or reordered)"
            )
        if header.get("prev") != self.head_hash:
            raise self.fail(
                "previous-hash link broken (a block before it was removed or altered)"
            )
        digest = sha256_hex(canonical(header))
        if record["hash"] != digest:
            raise self.fail("hash mismatch (header altered)")
        if not all(isinstance(t, dict) and "body" in t for t in txs):
            raise self.fail("malformed transaction list")
        if header.get("tx_root") != tx_root(txs) or header.get("n_txs") != len(txs):
            raise self.fail("transaction root mismatch (transactions altered)")
        if self.index == 0:
            self._genesis(header)
        assert self.rules is not None
        producer = header.get("producer")
        if not isinstance(producer, int) or isinstance(producer, bool):
            raise self.fail(f"malformed block producer {producer!r}")
        closing = header.get("kind") == CLOSE_KIND
        if closing and (txs or producer != GENESIS):
            raise self.fail("malformed close block (transactions or producer)")
        if closing and header.get("body") != {
            "n_blocks": self.index + 1,
            "head": self.head_hash,
        }:
            raise self.fail("close block does not seal this height and head")
        public = (
            header["body"]["genesis_public"]
            if self.index == 0
            else self.genesis_public
            if closing
            else self.rules.public.get(producer)
        )
        if public is None:
            raise self.fail(f"unknown block producer {producer!r}")
        message = _BLOCK_TAG + bytes.fromhex(digest)
        if not isinstance(record["sig"], str) or not verify(
            public, message, record["sig"]
        ):
            raise self.fail("bad block signature (forged or altered)")
        for k, tx in enumerate(txs):
            try:
                self.rules.apply(tx, self.index, producer)
            except (RuleError, KeyError, TypeError, ValueError) as err:
                raise self.fail(f"transaction {k}: {err}") from None
        self._supply(header.get("supply"))
        if self.index == 0:
            self.genesis_hash = digest
            self.genesis_public = str(header["body"]["genesis_public"])
        self.closed = closing
        self.head_hash = digest
        self.n_txs += len(txs)
        self.index += 1

    def _genesis(self, header: dict[str, Any]) -> None:
        body = header.get("body")
        if header.get("kind") != "genesis" or not isinstance(body, dict):
            raise self.fail("block 0 is not a genesis block")
        try:
            public = {int(a["id"]): str(a["public"]) for a in body["accounts"]}
        except (KeyError, TypeError, ValueError):
            raise self.fail("malformed genesis accounts") from None
        if not isinstance(body.get("genesis_public"), str):
            raise self.fail("malformed genesis key (genesis_public is not a string)")
        self.rules = ChainRules(public=public)

    def _supply(self, supply: Any) -> None:
        if supply is None:
            return
        try:
            initial, emitted = int(supply["initial"]), int(supply["emitted"])
            burned, total = int(supply["burned"]), int(supply["total"])
        except (KeyError, TypeError, ValueError):
            raise self.fail("malformed supply counters") from None
        if total != initial + emitted - burned:
            raise self.fail(
                f"supply not conserved: total {total} != initial {initial} + "
                f"emitted {emitted} - burned {burned}"
            )
        prev = self.supply
        if prev is not None and (
            initial != prev["initial"]
            or emitted < prev["emitted"]
            or burned < prev["burned"]
        ):
            raise self.fail("supply counters changed initial or went backwards")
        self.supply = {
            "initial": initial,
            "emitted": emitted,
            "burned": burned,
            "total": total,
        }

    def report(self, torn: int = 0, truncated: bool = False) -> LedgerReport:
        return LedgerReport(
            path=self.path,
            n_blocks=self.index,
            n_txs=self.n_txs,
            genesis_hash=self.genesis_hash,
            head_hash=self.head_hash,
            supply=self.supply,
            torn_bytes=torn,
            truncated=truncated,
            closed=self.closed,
        )


def _verify(path: str | os.PathLike) -> tuple[_Chain, int]:
    p = Path(path)
    if not p.exists():
        raise LedgerError(0, "ledger file does not exist", p)
    lines, torn = _split(p.read_bytes())
    chain = _Chain(str(p))
    for raw in lines:
        chain.feed_line(raw)
    if chain.index == 0:
        raise LedgerError(0, "no complete genesis block", p)
    return chain, torn


def verify_ledger(
    path: str | os.PathLike,
    *,
    crashed: bool = False,
    anchor: Mapping[str, Any] | None = None,
) -> LedgerReport:
    """Verify a ledger file without changing it.

    A ledger that its writer closed ends with a close block sealing its
    height and head hash. Without one, the end of the file was cut off (its
    last blocks or bytes), or the writer crashed; a torn last write (a final
    line without its newline) means the same. Both are errors unless
    ``crashed``: then the sound blocks are verified, the torn bytes
    reported in ``torn_bytes`` and left in place (see :func:`recover_ledger`).

    Args:
        path: The ledger file.
        crashed: The writer is known to have crashed: accept an unclosed
            ledger and a torn last write.
        anchor: The head recorded elsewhere, ``{"head_hash": ...,
            "n_blocks": ...}`` (e.g. the run summary's ``ledger_report``);
            a ledger that does not end there is refused.

    Returns:
        A :class:`LedgerReport` of the sound ledger.

    Raises:
        LedgerError: Naming the first bad block and the reason.
    """
    chain, torn = _verify(path)
    advice = (
        "if its writer crashed, verify with crashed=True (verify --crashed) and "
        "recover it with `python -m nasjax.protocol recover LEDGER`"
    )
    if torn and not crashed:
        raise chain.fail(
            f"torn last write ({torn} bytes after the last complete block): the "
            f"file was cut off or its writer crashed; {advice}"
        )
    if not chain.closed and not crashed:
        raise chain.fail(
            "missing close block: the ledger's last blocks were cut off or its "
            f"writer did not stop cleanly; {advice}"
        )
    if anchor is not None:
        want = (anchor.get("n_blocks"), anchor.get("head_hash"))
        if want != (chain.index, chain.head_hash):
            raise chain.fail(
                f"the ledger ends at height {chain.index} with head "
                f"{chain.head_hash[:16]}..., but its anchor records height "
                f"{want[0]} with head {str(want[1])[:16]}... (blocks cut off "
                "or replaced)"
            )
    return chain.report(torn)


def recover_ledger(path: str | os.PathLike) -> LedgerReport:
    """Truncate a torn last write (if any), ``fsync``, then verify.

    The recovered ledger stays unclosed (only its writer's key can close it;
    :meth:`LedgerWriter.open` continues it and closes it at its next clean
    stop); until then it verifies with ``crashed=True``.

    Returns:
        The report; ``truncated`` and ``torn_bytes`` say what was dropped.

    Raises:
        LedgerError: If the complete blocks do not verify.
    """
    p = Path(path)
    data = p.read_bytes() if p.exists() else b""
    _, torn = _split(data)
    if torn:
        with open(p, "r+b") as f:
            f.truncate(len(data) - torn)
            f.flush()
            os.fsync(f.fileno())
    chain, _ = _verify(p)
    return chain.report(torn, truncated=bool(torn))


class LedgerWriter:
    """Appends blocks to a ledger file, enforcing the chain rules first.

    Use :meth:`create` for a new ledger and :meth:`open` to continue one.
    """

    def __init__(self, path: Path, chain: _Chain, fsync: bool) -> None:
        self.path = path
        self._chain = chain
        self._fsync = fsync

    @property
    def index(self) -> int:
        """Index the next block will get."""
        return self._chain.index

    @property
    def head_hash(self) -> str:
        """Hash of the last block."""
        return self._chain.head_hash

    @property
    def rules(self) -> ChainRules:
        """The chain rules as of the last block."""
        assert self._chain.rules is not None
        return self._chain.rules

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        genesis_key: Ed25519PrivateKey,
        accounts: list[dict[str, Any]],
        *,
        supply: dict[str, int] | None = None,
        info: dict[str, Any] | None = None,
        fsync: bool = True,
    ) -> LedgerWriter:
        """Start a new ledger with its genesis block.

        Args:
            path: New file (must not exist).
            genesis_key: Key that signs block 0 (its public key is recorded).
            accounts: ``[{"id": int, "public": hex, ...}]`` every node.
            supply: Supply counters at genesis.
            info: Extra genesis data (e.g. the configuration).
            fsync: ``fsync`` after every block.

        Raises:
            FileExistsError: If ``path`` exists.
        """
        p = Path(path)
        if p.exists():
            raise FileExistsError(f"ledger {p} already exists; open it to append")
        p.parent.mkdir(parents=True, exist_ok=True)
        writer = cls(p, _Chain(str(p)), fsync)
        body = {
            "chain": "nasjax-protocol",
            "version": 1,
            "genesis_public": public_hex(genesis_key),
            "accounts": accounts,
            "info": info or {},
        }
        writer._write(
            {"kind": "genesis", "producer": GENESIS, "body": body, "supply": supply},
            [],
            genesis_key,
        )
        if fsync:
            _fsync_dir(p.parent)
        return writer

    @classmethod
    def open(
        cls, path: str | os.PathLike, *, fsync: bool = True
    ) -> tuple[LedgerWriter, LedgerReport]:
        """Recover (truncate a torn tail), verify and open for appending."""
        report = recover_ledger(path)
        chain, _ = _verify(path)
        return cls(Path(path), chain, fsync), report

    def close(self, genesis_key: Ed25519PrivateKey) -> str:
        """Append the close block that seals the height and head (a clean stop).

        Args:
            genesis_key: The ledger's genesis key (signs the close block).

        Returns:
            The close block's hash.
        """
        body = {"n_blocks": self._chain.index + 1, "head": self._chain.head_hash}
        header = {"kind": CLOSE_KIND, "producer": GENESIS, "beacon": None}
        header.update({"supply": None, "body": body})
        return self._write(header, [], genesis_key)

    def append(
        self,
        producer: int,
        key: Ed25519PrivateKey,
        txs: list[dict[str, Any]],
        *,
        beacon: list[int] | None = None,
        supply: dict[str, int] | None = None,
        body: dict[str, Any] | None = None,
        kind: str = "block",
        check: bool = True,
    ) -> str:
        """Seal and append one block; returns its hash.

        Args:
            producer: Producing node (signs the block with ``key``).
            key: The producer's private key.
            txs: Signed transactions (see :func:`make_tx`).
            beacon: The block's randomness beacon.
            supply: Supply counters after the block.
            body: Extra header data.
            kind: ``"block"`` or ``"checkpoint"``.
            check: Apply the chain rules first (a breaking block raises
                :class:`LedgerError` and nothing is written). ``False``
                writes whatever it is given, as a malicious producer could;
                tests use it to build damaged ledgers.

        Returns:
            The new block's hash.
        """
        header = {"kind": kind, "producer": int(producer), "beacon": beacon}
        header.update({"supply": supply, "body": body or {}})
        return self._write(header, txs, key, check=check)

    def _write(
        self,
        fields: dict[str, Any],
        txs: list[dict[str, Any]],
        key: Ed25519PrivateKey,
        check: bool = True,
    ) -> str:
        header = dict(fields)
        header.update(
            index=self._chain.index,
            prev=self._chain.head_hash,
            tx_root=tx_root(txs),
            n_txs=len(txs),
        )
        digest = sha256_hex(canonical(header))
        record = {
            "hash": digest,
            "header": header,
            "sig": sign(key, _BLOCK_TAG + bytes.fromhex(digest)),
            "txs": txs,
        }
        if check:
            try:
                self._chain.feed(record)
            except LedgerError:
                # Nothing is written; rebuild the rules from the file as it is.
                self._chain, _ = _verify(self.path)
                raise
        else:
            self._chain.index += 1
            self._chain.head_hash = digest
            self._chain.n_txs += len(txs)
        line = canonical(record) + b"\n"
        with open(self.path, "ab") as f:
            f.write(line)
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())
        return digest
