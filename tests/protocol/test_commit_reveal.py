"""Commit-reveal binding: front-running and copy-and-resubmit fail."""

import pytest

from nasjax.protocol import CommitBook, CommitRevealError, LedgerError, verify_ledger
from nasjax.protocol.commit_reveal import commitment
from nasjax.protocol.crypto import Keyring
from nasjax.protocol.rules import proposal_content

KEYS = Keyring(seed=3)
VICTIM, THIEF = 0, 1
WORK = {"task": 0, "parent": 0, "claimed": 0.61, "candidate": {"arch": "victim's"}}
SALT, SALT2 = "11" * 16, "22" * 16


def reveal(book, who, payload, salt, block, pid=None):
    return book.reveal(
        who, KEYS.public(who), payload, salt, block, proposal_content(payload), pid
    )


def test_honest_commit_then_reveal():
    book = CommitBook()
    book.commit(VICTIM, commitment(KEYS.public(VICTIM), WORK, SALT), block=1, pid=9)
    reveal(book, VICTIM, WORK, SALT, block=2, pid=9)
    with pytest.raises(CommitRevealError, match="revealed twice"):
        reveal(book, VICTIM, WORK, SALT, block=3)


def test_front_running_a_copied_commitment_fails():
    """The thief copies the victim's commitment from the mempool and commits it
    first; later it even learns the payload and salt: its reveal still fails,
    because the commitment binds the victim's key."""
    book = CommitBook()
    c = commitment(KEYS.public(VICTIM), WORK, SALT)
    book.commit(THIEF, c, block=1)
    book.commit(VICTIM, c, block=1)  # the victim is not blocked
    with pytest.raises(CommitRevealError, match="node 1 matches none"):
        reveal(book, THIEF, WORK, SALT, block=2)
    reveal(book, VICTIM, WORK, SALT, block=2)


def test_copy_and_resubmit_fails():
    """After the victim's reveal, the thief commits the same work under its own
    key and reveals it a block later: the content was already revealed."""
    book = CommitBook()
    book.commit(VICTIM, commitment(KEYS.public(VICTIM), WORK, SALT), block=1)
    reveal(book, VICTIM, WORK, SALT, block=2)
    copied = {**WORK, "claimed": 0.99}  # even with a different claim
    book.commit(THIEF, commitment(KEYS.public(THIEF), copied, SALT2), block=2)
    with pytest.raises(CommitRevealError, match="copy-and-resubmit"):
        reveal(book, THIEF, copied, SALT2, block=3)


def test_altered_payload_or_early_reveal_fails():
    book = CommitBook()
    book.commit(VICTIM, commitment(KEYS.public(VICTIM), WORK, SALT), block=4, pid=1)
    with pytest.raises(CommitRevealError, match="matches none"):
        reveal(book, VICTIM, {**WORK, "claimed": 0.7}, SALT, block=5)
    with pytest.raises(CommitRevealError, match="not after its commit block"):
        reveal(book, VICTIM, WORK, SALT, block=4)
    with pytest.raises(CommitRevealError, match="reserved 1"):
        reveal(book, VICTIM, WORK, SALT, block=5, pid=2)


def test_ledger_rejects_a_front_run_reveal(small_run, tmp_path):
    """Swap the sender of a proposal reveal in a real ledger (re-signing it as
    the thief and re-sealing the block): verification names the block."""
    import json

    from nasjax.protocol.crypto import canonical, sha256_hex, sign
    from nasjax.protocol.ledger import make_tx, tx_root

    out, summary = small_run
    raw = (out / "ledger.jsonl").read_bytes().split(b"\n")[:-1]
    keys = Keyring(summary["config"]["seed"])
    for i, line in enumerate(raw):
        rec = json.loads(line)
        txs = rec["txs"]
        k = next(
            (k for k, t in enumerate(txs) if t["body"]["type"] == "propose_reveal"),
            None,
        )
        if k is None:
            continue
        body = dict(txs[k]["body"])
        thief = (body["sender"] + 1) % summary["n_nodes"]
        body["sender"] = thief
        txs[k] = make_tx(body, keys.key(thief))
        header = rec["header"]
        header["tx_root"] = tx_root(txs)
        digest = sha256_hex(canonical(header))
        rec["hash"] = digest
        rec["sig"] = sign(
            keys.key(header["producer"]), b"nasjax-block-v1" + bytes.fromhex(digest)
        )
        raw[i] = canonical(rec)
        break
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b"\n".join(raw) + b"\n")
    with pytest.raises(
        LedgerError, match=f"block {i}: transaction {k}: .*matches none"
    ):
        verify_ledger(path)
