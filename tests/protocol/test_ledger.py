"""Ledger: a genuine run verifies; every kind of damage is named by block and reason."""

import shutil

import pytest
from protocol_configs import SMALL

from nasjax.protocol import LedgerError, LedgerWriter, recover_ledger, verify_ledger
from nasjax.protocol.commit_reveal import commitment
from nasjax.protocol.crypto import GENESIS, Keyring
from nasjax.protocol.ledger import make_tx
from nasjax.protocol.rules import vote_payload


@pytest.fixture
def ledger(small_run, tmp_path):
    """A private copy of the small run's ledger."""
    out, _ = small_run
    path = tmp_path / "ledger.jsonl"
    shutil.copy(out / "ledger.jsonl", path)
    return path


def lines(path):
    return path.read_bytes().split(b"\n")[:-1]


def test_genuine_ledger_verifies(small_run, ledger):
    _, summary = small_run
    report = verify_ledger(ledger)
    assert report.n_blocks == summary["n_blocks"] + 2  # + genesis and close
    assert report.closed
    assert report.n_txs > 500 and report.torn_bytes == 0
    assert report.supply["total"] == summary["supply"]["final"]
    assert report.supply["burned"] == summary["supply"]["burned"]
    expected = {**summary["ledger_report"], "path": str(ledger)}
    assert report.to_dict() == expected


@pytest.mark.parametrize("seed", range(12))
def test_flipped_byte_names_its_block(ledger, seed):
    data = bytearray(ledger.read_bytes())
    ends = [i for i, b in enumerate(data) if b == 0x0A]
    # Any byte but the final newline (that would only look like a torn write).
    pos = (seed * 7919 * 104729) % (len(data) - 1)
    data[pos] ^= 1 << (seed % 8)
    ledger.write_bytes(bytes(data))
    block = sum(1 for e in ends if e < pos)
    with pytest.raises(LedgerError, match=f"block {block}: ") as err:
        verify_ledger(ledger)
    assert err.value.index == block


def test_removed_block(ledger):
    raw = lines(ledger)
    ledger.write_bytes(b"\n".join(raw[:10] + raw[11:]) + b"\n")
    with pytest.raises(LedgerError, match="block 10: index 11 where 10") as err:
        verify_ledger(ledger)
    assert err.value.index == 10


def test_reordered_blocks(ledger):
    raw = lines(ledger)
    raw[5], raw[6] = raw[6], raw[5]
    ledger.write_bytes(b"\n".join(raw) + b"\n")
    with pytest.raises(LedgerError, match="block 5: index 6 where 5"):
        verify_ledger(ledger)


def test_torn_last_write_is_truncated_with_a_report(ledger):
    before = verify_ledger(ledger)
    size = ledger.stat().st_size
    last = lines(ledger)[-1]
    with open(ledger, "ab") as f:  # a crash in the middle of appending a block
        f.write(last[: len(last) // 2])
    with pytest.raises(LedgerError, match="torn last write"):
        verify_ledger(ledger)
    # read-only: reports, keeps every block
    report = verify_ledger(ledger, crashed=True)
    assert report.torn_bytes == len(last) // 2 and not report.truncated
    assert report.n_blocks == before.n_blocks
    assert ledger.stat().st_size == size + len(last) // 2
    recovered = recover_ledger(ledger)
    assert recovered.truncated and recovered.torn_bytes == len(last) // 2
    assert recovered.n_blocks == before.n_blocks  # nothing accepted is lost
    assert recovered.head_hash == before.head_hash
    assert ledger.stat().st_size == size
    writer, report = LedgerWriter.open(ledger)
    assert not report.truncated and writer.index == before.n_blocks
    # Reopened, the ledger is closed again at the next clean stop.
    writer.close(Keyring(seed=SMALL.seed).key(GENESIS))
    assert verify_ledger(ledger).n_blocks == before.n_blocks + 1


def test_missing_or_empty_ledger(tmp_path):
    with pytest.raises(LedgerError, match="block 0: ledger file does not exist"):
        verify_ledger(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_bytes(b'{"hash": "x"')
    with pytest.raises(LedgerError, match="no complete genesis"):
        verify_ledger(tmp_path / "empty.jsonl")


# -- hand-built chains: a producer that signs whatever it is given ------------

KEYS = Keyring(seed=7)
SALT = "5a" * 16


def tx(node, body, nonce, signer=None):
    body = {"sender": node, "nonce": nonce, **body}
    return make_tx(body, KEYS.key(node if signer is None else signer))


def new_chain(path):
    accounts = [{"id": i, "public": KEYS.public(i)} for i in range(4)]
    return LedgerWriter.create(path, KEYS.key(GENESIS), accounts, fsync=False)


def payload():
    return {"task": 0, "parent": 0, "claimed": 0.6, "candidate": {"id": "abc"}}


def proposal_chain(path):
    """Block 1: node 0 commits; block 2: reveal and node 1's vote commitment."""
    w = new_chain(path)
    c = commitment(KEYS.public(0), payload(), SALT)
    w.append(
        3,
        KEYS.key(3),
        [
            tx(
                0,
                {
                    "type": "propose_commit",
                    "pid": 5,
                    "commitment": c,
                    "deposit": 1,
                    "fee": 1,
                },
                0,
            )
        ],
    )
    vote = {"score": 0.61, "accept": True}
    vc = commitment(KEYS.public(1), vote_payload(5, vote), SALT)
    reveal = tx(
        0, {"type": "propose_reveal", "pid": 5, "payload": payload(), "salt": SALT}, 1
    )
    commit = tx(1, {"type": "vote_commit", "pid": 5, "seats": 2, "commitment": vc}, 0)
    w.append(3, KEYS.key(3), [reveal, commit])
    return w, vote, vc


def test_hand_built_chain_verifies(tmp_path):
    w, vote, _ = proposal_chain(tmp_path / "l.jsonl")
    w.append(
        3,
        KEYS.key(3),
        [tx(1, {"type": "vote_reveal", "pid": 5, "vote": vote, "salt": SALT}, 1)],
    )
    with pytest.raises(LedgerError, match="block 4: missing close block"):
        verify_ledger(tmp_path / "l.jsonl")
    assert verify_ledger(tmp_path / "l.jsonl", crashed=True).n_blocks == 4
    w.close(KEYS.key(GENESIS))
    report = verify_ledger(tmp_path / "l.jsonl")
    assert report.n_blocks == 5 and report.closed


def test_forged_transaction_signature(tmp_path):
    w, vote, _ = proposal_chain(tmp_path / "l.jsonl")
    forged = tx(
        1, {"type": "vote_reveal", "pid": 5, "vote": vote, "salt": SALT}, 1, signer=2
    )
    w.append(3, KEYS.key(3), [forged], check=False)
    with pytest.raises(LedgerError, match=r"block 3: transaction 0: forged"):
        verify_ledger(tmp_path / "l.jsonl")


def test_forged_block_signature(tmp_path):
    w, _, _ = proposal_chain(tmp_path / "l.jsonl")
    w.append(3, KEYS.key(2), [], check=False)  # claims producer 3, signed by 2
    with pytest.raises(LedgerError, match="block 3: bad block signature"):
        verify_ledger(tmp_path / "l.jsonl")


def test_replayed_transaction(tmp_path):
    w, vote, _ = proposal_chain(tmp_path / "l.jsonl")
    reveal = tx(1, {"type": "vote_reveal", "pid": 5, "vote": vote, "salt": SALT}, 1)
    w.append(3, KEYS.key(3), [reveal])
    w.append(3, KEYS.key(3), [reveal], check=False)  # the same signed tx again
    with pytest.raises(LedgerError, match="block 4: transaction 0: replayed") as err:
        verify_ledger(tmp_path / "l.jsonl")
    assert "block 3" in err.value.reason  # where it first appeared


def test_reused_nonce_is_a_replay(tmp_path):
    w, vote, _ = proposal_chain(tmp_path / "l.jsonl")
    stale = tx(1, {"type": "vote_reveal", "pid": 5, "vote": vote, "salt": SALT}, 0)
    w.append(3, KEYS.key(3), [stale], check=False)
    with pytest.raises(LedgerError, match=r"block 3: transaction 0: replayed.*nonce 0"):
        verify_ledger(tmp_path / "l.jsonl")


def test_double_vote(tmp_path):
    w, _, _ = proposal_chain(tmp_path / "l.jsonl")
    other = commitment(
        KEYS.public(1), vote_payload(5, {"score": 0.4, "accept": False}), SALT
    )
    again = tx(1, {"type": "vote_commit", "pid": 5, "seats": 2, "commitment": other}, 1)
    w.append(3, KEYS.key(3), [again], check=False)
    with pytest.raises(
        LedgerError,
        match="block 3: transaction 0: double vote by validator 1 on proposal 5",
    ):
        verify_ledger(tmp_path / "l.jsonl")


def test_double_reveal_is_a_double_vote(tmp_path):
    w, vote, _ = proposal_chain(tmp_path / "l.jsonl")
    first = tx(1, {"type": "vote_reveal", "pid": 5, "vote": vote, "salt": SALT}, 1)
    second = tx(1, {"type": "vote_reveal", "pid": 5, "vote": vote, "salt": SALT}, 2)
    w.append(3, KEYS.key(3), [first, second], check=False)
    with pytest.raises(LedgerError, match="block 3: transaction 1: double vote"):
        verify_ledger(tmp_path / "l.jsonl")


def test_equivocation_evidence_is_checked(tmp_path):
    w, vote, _ = proposal_chain(tmp_path / "l.jsonl")
    signed = [
        make_tx(
            {
                "type": "vote_reveal",
                "sender": 1,
                "nonce": None,
                "pid": 5,
                "vote": v,
                "salt": SALT,
            },
            KEYS.key(1),
        )
        for v in (vote, {**vote, "accept": False})
    ]
    good = tx(3, {"type": "evidence", "offender": 1, "pid": 5, "votes": signed}, 0)
    w.append(3, KEYS.key(3), [good])
    assert verify_ledger(tmp_path / "l.jsonl", crashed=True).n_blocks == 4
    w2, _, _ = proposal_chain(tmp_path / "m.jsonl")
    fake = tx(
        3,
        {"type": "evidence", "offender": 1, "pid": 5, "votes": [signed[0], signed[0]]},
        0,
    )
    with pytest.raises(LedgerError, match="votes do not conflict"):
        w2.append(3, KEYS.key(3), [fake])


def test_checked_append_refuses_and_writes_nothing(tmp_path):
    path = tmp_path / "l.jsonl"
    w, vote, _ = proposal_chain(path)
    size = path.stat().st_size
    bad = tx(2, {"type": "vote_reveal", "pid": 5, "vote": vote, "salt": SALT}, 0)
    with pytest.raises(LedgerError, match="without a commitment"):
        w.append(3, KEYS.key(3), [bad])
    assert path.stat().st_size == size
    good = tx(1, {"type": "vote_reveal", "pid": 5, "vote": vote, "salt": SALT}, 1)
    w.append(3, KEYS.key(3), [good])  # the writer is still usable
    assert verify_ledger(path, crashed=True).n_blocks == 4


def test_altered_supply_is_not_conserved(tmp_path):
    w = new_chain(tmp_path / "l.jsonl")
    supply = {"initial": 100, "emitted": 5, "burned": 1, "total": 105}
    w.append(3, KEYS.key(3), [], supply=supply, check=False)
    with pytest.raises(LedgerError, match="block 1: supply not conserved"):
        verify_ledger(tmp_path / "l.jsonl")


# -- truncation: the close block and the summary's anchor ---------------------


@pytest.mark.parametrize(
    "cut", ["last block", "last 10 blocks", "last 200 bytes", "last byte"]
)
def test_a_ledger_cut_off_at_the_end_does_not_verify(ledger, cut):
    assert verify_ledger(ledger).closed
    raw = ledger.read_bytes()
    if cut.endswith("bytes") or cut.endswith("byte"):
        n = 200 if cut.endswith("bytes") else 1
        ledger.write_bytes(raw[:-n])
    else:
        n = 1 if cut == "last block" else 10
        ledger.write_bytes(b"\n".join(lines(ledger)[:-n]) + b"\n")
    with pytest.raises(LedgerError, match=r"torn last write|missing close block"):
        verify_ledger(ledger)
    report = verify_ledger(ledger, crashed=True)  # told the writer crashed
    assert not report.closed


def test_verify_command_checks_the_summary_anchor(small_run, tmp_path, capsys):
    from nasjax.protocol.cli import main

    out, summary = small_run
    for name in ("ledger.jsonl", "summary.json"):
        shutil.copy(out / name, tmp_path / name)
    path = tmp_path / "ledger.jsonl"
    assert main(["verify", str(path)]) == 0
    assert '"anchor": "summary.json"' in capsys.readouterr().out
    # Cut three blocks and re-close with the genesis key: sound on its own,
    # but not the ledger the run's summary recorded.
    path.write_bytes(b"\n".join(lines(path)[:-3]) + b"\n")
    writer, _ = LedgerWriter.open(path, fsync=False)
    writer.close(Keyring(seed=summary["config"]["seed"]).key(GENESIS))
    assert verify_ledger(path).closed
    assert main(["verify", str(path)]) == 1
    assert "anchor records height" in capsys.readouterr().out


def test_recover_command_cuts_a_torn_write(ledger, capsys):
    from nasjax.protocol.cli import main

    raw = ledger.read_bytes()
    ledger.write_bytes(raw[:-50])
    assert main(["verify", str(ledger)]) == 1
    assert "INVALID" in capsys.readouterr().out
    assert main(["verify", "--crashed", str(ledger)]) == 0
    assert main(["recover", str(ledger)]) == 0
    assert '"truncated": true' in capsys.readouterr().out
    assert ledger.read_bytes().endswith(b"\n")


def test_a_close_block_must_seal_its_height(tmp_path):
    w = new_chain(tmp_path / "l.jsonl")
    w.append(3, KEYS.key(3), [])
    with pytest.raises(LedgerError, match="close block does not seal"):
        w.append(GENESIS, KEYS.key(GENESIS), [], kind="close", body={"n_blocks": 9})
