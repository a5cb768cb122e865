"""Truncated or tampered protocol ledgers: `verify_ledger` names the block
and the reason with a `LedgerError`, never another exception, and a sound
closed ledger verifies with every block."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasjax.protocol import LedgerError, LedgerWriter, recover_ledger, verify_ledger
from nasjax.protocol.crypto import GENESIS, Keyring, canonical, sha256_hex

KEYS = Keyring(seed=11)


def _build(path: Path) -> bytes:
    accounts = [{"id": i, "public": KEYS.public(i)} for i in range(3)]
    writer = LedgerWriter.create(path, KEYS.key(GENESIS), accounts, fsync=False)
    for _ in range(4):
        writer.append(2, KEYS.key(2), [])
    writer.close(KEYS.key(GENESIS))
    return path.read_bytes()


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> bytes:
    """A closed ledger: genesis, four blocks and the close block."""
    return _build(tmp_path_factory.mktemp("ledger") / "l.jsonl")


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")[:-1]


def _edit(index: int, change: Callable[[dict], None], rehash: bool) -> Callable:
    def make(data: bytes) -> bytes:
        lines = _lines(data)
        record = json.loads(lines[index])
        change(record)
        if rehash:  # a forger recomputing the header hash
            record["hash"] = sha256_hex(canonical(record["header"]))
        lines[index] = canonical(record)
        return b"\n".join(lines) + b"\n"

    return make


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda r: r["header"].__setitem__(key, value)


# case -> (damage of the ledger bytes, block index named, reason substring)
CASES: dict[str, tuple[Callable[[bytes], bytes], int, str]] = {
    "last-block-cut": (
        lambda d: b"".join(ln + b"\n" for ln in _lines(d)[:-1]),
        5,
        "missing close",
    ),
    "last-3-blocks-cut": (
        lambda d: b"".join(ln + b"\n" for ln in _lines(d)[:-3]),
        3,
        "missing close",
    ),
    "last-200-bytes-cut": (lambda d: d[:-200], 5, "torn last write"),
    "final-newline-cut": (lambda d: d[:-1], 5, "torn last write"),
    "empty-file": (lambda d: b"", 0, "no complete genesis"),
    "only-newline": (lambda d: b"\n", 0, "not valid JSON"),
    "nul-bytes": (lambda d: b"\0" * 64 + b"\n", 0, "not valid JSON"),
    "deep-nesting": (  # parsed or not, depending on the recursion limit
        lambda d: b"[" * 50_000 + b"]" * 50_000 + b"\n",
        0,
        "malformed record",
    ),
    "huge-integer": (
        lambda d: _lines(d)[0] + b"\n1" + b"0" * 5000 + b"\n",
        1,
        "not valid JSON",
    ),
    "json-array-line": (lambda d: b"[1,2]\n", 0, "not an object"),
    "crlf-line-ends": (lambda d: d.replace(b"\n", b"\r\n"), 0, "non-canonical"),
    "duplicated-block": (lambda d: d + _lines(d)[-1] + b"\n", 6, "index 5 where 6"),
    "garbage-appended": (lambda d: d + b"garbage\n", 6, "not valid JSON"),
    "blocks-swapped": (
        lambda d: (
            b"\n".join([*_lines(d)[:1], _lines(d)[2], _lines(d)[1], *_lines(d)[3:]])
            + b"\n"
        ),
        1,
        "index 2 where 1",
    ),
    "header-edited": (_edit(1, _set("beacon", "00"), False), 1, "hash mismatch"),
    "header-forged-rehashed": (
        _edit(2, _set("beacon", "00"), True),
        2,
        "bad block signature",
    ),
    "txs-replaced-by-text": (
        _edit(1, lambda r: r.__setitem__("txs", "x"), False),
        1,
        "malformed record",
    ),
    "signature-not-hex": (
        _edit(3, lambda r: r.__setitem__("sig", "zz"), False),
        3,
        "bad block signature",
    ),
    "producer-text-rehashed": (
        _edit(1, _set("producer", "x"), True),
        1,
        "malformed block producer",
    ),
    "genesis-key-int-rehashed": (
        _edit(0, lambda r: r["header"]["body"].__setitem__("genesis_public", 5), True),
        0,
        "malformed genesis key",
    ),
    "genesis-accounts-dict-rehashed": (
        _edit(0, lambda r: r["header"]["body"].__setitem__("accounts", {"a": 1}), True),
        0,
        "malformed genesis accounts",
    ),
    "close-block-resealed": (_edit(5, _set("body", "x"), True), 5, "does not seal"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_ledger_names_block_and_reason(
    good: bytes, tmp_path: Path, case: str
) -> None:
    damage, index, reason = CASES[case]
    path = tmp_path / "l.jsonl"
    path.write_bytes(damage(good))
    with pytest.raises(LedgerError) as err:
        verify_ledger(path)
    assert err.value.index == index, str(err.value)
    assert reason in str(err.value) and str(path) in str(err.value)


def test_anchor_of_another_head_is_refused(good: bytes, tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_bytes(good)
    report = verify_ledger(path)
    assert report.closed and report.n_blocks == 6
    anchor = {"n_blocks": 6, "head_hash": "ab" * 32}
    with pytest.raises(LedgerError, match="its anchor records height 6"):
        verify_ledger(path, anchor=anchor)


def test_torn_write_recovers_every_complete_block(good: bytes, tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    lines = _lines(good)
    path.write_bytes(b"".join(ln + b"\n" for ln in lines[:-1]) + lines[-1][:40])
    report = recover_ledger(path)
    assert report.truncated and report.torn_bytes == 40 and report.n_blocks == 5
    assert verify_ledger(path, crashed=True).head_hash == report.head_hash


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_any_cut_or_flip_fails_verify_with_a_ledger_error(
    good: bytes, tmp_path_factory, data
) -> None:
    """Cut anywhere, or one byte changed: a `LedgerError` (also with
    ``crashed=True``, unless only whole blocks remain)."""
    raw = bytearray(good)
    if data.draw(st.booleans(), label="cut"):
        raw = raw[: data.draw(st.integers(0, len(good) - 1), label="at")]
    else:
        pos = data.draw(st.integers(0, len(good) - 2), label="pos")
        raw[pos] = data.draw(
            st.integers(0, 255).filter(lambda v: v != good[pos]), label="v"
        )
    path = tmp_path_factory.mktemp("cut") / "l.jsonl"
    path.write_bytes(bytes(raw))
    with pytest.raises(LedgerError):
        verify_ledger(path)
    try:
        report = verify_ledger(path, crashed=True)
    except LedgerError:
        return
    assert good.startswith(bytes(raw)[: len(raw) - report.torn_bytes])
