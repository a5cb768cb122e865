"""The market on a real node: anvil + one OS process per protocol node.

Fast tests cover the pure parts (the node's atomic state file and key, the
dev-mnemonic accounts, the proposal schedule, event decoding and replay,
finding anvil, the config checks). The slow test runs anvil with four node
processes doing real nasjax evaluations, ``kill -9``'s one mid-block,
restarts it, and verifies the chain by replaying its events.
"""

import dataclasses
import json
import os
import stat

import pytest

pytest.importorskip("eth_account")

from nasjax.protocol.anvil import (
    DEV_MNEMONIC,
    AnvilNotFound,
    dev_key,
    find_anvil,
)
from nasjax.protocol.config import PRESETS, ConsensusConfig
from nasjax.protocol.evm import ChainError, replay_events
from nasjax.protocol.node import (
    arch_salt,
    proposal_commitment,
    scheduled,
)
from nasjax.protocol.node_state import (
    StateError,
    load_key,
    load_state,
    new_state,
    save_key,
    save_state,
)
from nasjax.protocol.rpc import Market

ADDR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_state_round_trip_and_leftover_temp(tmp_path):
    assert load_state(tmp_path) is None
    state = new_state(1, ADDR, CONTRACT)
    state["proposals"]["ab"] = {"block": 3, "salt": "00" * 32, "claimed": 7}
    save_state(tmp_path, state)
    # A write killed before its rename leaves a temp file; it is ignored.
    (tmp_path / ".state.json.999.tmp").write_text('{"torn":')
    assert load_state(tmp_path, ADDR.lower(), CONTRACT) == state
    assert not list(tmp_path.glob("*.tmp"))
    state["last_block"] = 4
    save_state(tmp_path, state)
    assert load_state(tmp_path)["last_block"] == 4


def test_state_refuses_corrupt_tampered_or_foreign(tmp_path):
    save_state(tmp_path, new_state(1, ADDR, CONTRACT))
    with pytest.raises(StateError, match="address"):
        load_state(tmp_path, address=CONTRACT)
    doc = json.loads((tmp_path / "state.json").read_text())
    doc["state"]["last_block"] = 99
    (tmp_path / "state.json").write_text(json.dumps(doc))
    with pytest.raises(StateError, match="checksum"):
        load_state(tmp_path)
    (tmp_path / "state.json").write_text('{"state": {"las')
    with pytest.raises(StateError, match=r"state\.json"):
        load_state(tmp_path)


def test_key_file_is_private_and_never_replaced(tmp_path):
    key = dev_key(1)
    save_key(tmp_path, key)
    save_key(tmp_path, key)  # idempotent
    assert load_key(tmp_path) == key
    assert stat.S_IMODE(os.stat(tmp_path / "key.hex").st_mode) == 0o600
    with pytest.raises(StateError, match="another key"):
        save_key(tmp_path, dev_key(2))


def test_dev_accounts_follow_the_mnemonic():
    from eth_account import Account

    # anvil's (and hardhat's) well-known first two dev accounts.
    assert Account.from_key(dev_key(0)).address == (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    )
    assert Account.from_key(dev_key(1, DEV_MNEMONIC)).address == ADDR
    assert dev_key(2) != dev_key(1)


def test_schedule_fills_the_slots_and_drains():
    n, slots, blocks = 4, 2, 8
    for t in range(blocks):
        who = [i for i in range(n) if scheduled(i, t, n, slots, blocks)]
        assert len(who) == (slots if t < blocks - 2 else 0)
    assert {i for t in range(4) for i in range(n) if scheduled(i, t, n, slots, 8)} == {
        0,
        1,
        2,
        3,
    }


def test_published_architecture_is_bound_to_the_commitment():
    salt = arch_salt("fp", b"\x01" * 32)
    c = proposal_commitment(0, 500_000, salt, ADDR)
    assert c != proposal_commitment(0, 500_000, arch_salt("other", b"\x01" * 32), ADDR)
    assert c != proposal_commitment(0, 500_001, salt, ADDR)


MOVE_ABI = [
    {
        "type": "event",
        "name": "Move",
        "anonymous": False,
        "inputs": [
            {"name": "node", "type": "uint256", "indexed": True},
            {"name": "src", "type": "uint8", "indexed": False},
            {"name": "dst", "type": "uint8", "indexed": False},
            {"name": "amount", "type": "uint256", "indexed": False},
        ],
    }
]


def _move_log(market, node, src, dst, amount, block=1):
    from eth_abi.abi import encode

    topic = next(iter(market.events))
    return {
        "topics": ["0x" + topic.hex(), "0x" + encode(["uint256"], [node]).hex()],
        "data": "0x" + encode(["uint8", "uint8", "uint256"], [src, dst, amount]).hex(),
        "blockNumber": hex(block),
    }


def test_logs_decode_to_replayable_event_rows():
    market = Market(None, CONTRACT, MOVE_ABI)  # type: ignore[arg-type]
    logs = [
        _move_log(market, 0, 4, 0, 1000),  # genesis: minted liquid
        _move_log(market, 0, 0, 1, 700),  # bond
        _move_log(market, 1, 4, 0, 500),
        _move_log(market, 0, 1, 5, 7),  # slashed from the bond
    ]
    rows = [market.decode_log(x) for x in logs]
    assert rows[1] == {"event": "Move", "node": 0, "src": 0, "dst": 1, "amount": 700}
    r = replay_events(rows, 2)
    assert r["holdings"].tolist() == [[300, 693, 0, 0], [500, 0, 0, 0]]
    assert r["minted"] == 1500 and r["burned"] == 7 and r["supply"] == 1493
    rows[1]["amount"] = 1001  # bond more than held
    with pytest.raises(ChainError, match="node 0 liquid"):
        replay_events(rows, 2)


def test_missing_anvil_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("NASJAX_CACHE", str(tmp_path / "cache"))
    with pytest.raises(AnvilNotFound, match="npm install @foundry-rs/anvil"):
        find_anvil(install=False)


def test_rpc_chain_is_validated():
    real = PRESETS["real"]
    assert dataclasses.replace(real, chain="rpc").consensus.rule == "paired"
    consensus = ConsensusConfig(proposals_per_block=4, committee_size=3, rule="median")
    with pytest.raises(ValueError, match="proposals_per_block < n_nodes"):
        dataclasses.replace(real, chain="rpc", n_nodes=4, consensus=consensus)
    ok = dataclasses.replace(consensus, proposals_per_block=2)
    assert (
        dataclasses.replace(real, chain="rpc", n_nodes=4, consensus=ok).chain == "rpc"
    )


@pytest.fixture(scope="module")
def anvil_binary():
    try:
        return find_anvil()
    except AnvilNotFound as err:
        pytest.skip(f"no anvil: {err}")


def _four_nodes(n_blocks: int, unbonding_delay: int | None = None, rule="median"):
    """The ``real`` preset on anvil: 4 nodes, 2 proposals per block, 3-seat
    committees, ``rule``, ``n_blocks`` blocks."""
    real = PRESETS["real"]
    econ = real.economics
    if unbonding_delay is not None:
        econ = dataclasses.replace(econ, unbonding_delay=unbonding_delay)
    return dataclasses.replace(
        real,
        n_nodes=4,
        n_blocks=n_blocks,
        chain="rpc",
        plots=False,
        consensus=dataclasses.replace(
            real.consensus, proposals_per_block=2, committee_size=3, rule=rule
        ),
        economics=econ,
    )


@pytest.mark.slow
def test_four_node_processes_survive_a_kill_9(anvil_binary, tmp_path):
    """anvil + 4 node processes (real training); node 1 is killed with
    ``kill -9`` in block 1 right after committing its proposal, restarted,
    and reveals it from its saved salt; the chain replays exactly."""
    from nasjax.protocol.rpc_run import run_rpc

    cfg = _four_nodes(n_blocks=5)
    s = run_rpc(cfg, tmp_path, kill=(1, 1), phase_timeout=240.0, log=lambda _: None)
    assert s["chain_report"]["ok"]
    assert s["supply"]["supply"] == s["supply"]["expected"]
    killed = s["killed"]
    assert killed["node"] == 1 and killed["block"] == 1 and killed["after_commit"]
    victim = s["nodes"][1]
    assert victim["starts"] == 2 and victim["last_block"] >= cfg.n_blocks - 2
    assert victim["holdings"][1] == victim["bonded_at_join"]  # stake intact
    lines = (tmp_path / "chain_events.jsonl").read_text().splitlines()
    events = [json.loads(x) for x in lines]
    pid = killed["after_commit"][0]
    revealed = {e["pid"] for e in events if e["event"] == "ProposalRevealed"}
    assert pid in revealed  # revealed after the restart, from the saved salt
    # No bond slashed (equivocation, deviation); an over-claim on its own
    # shard may cost part of a deposit, by the rules.
    bond_slashes = [
        e for e in events if e["event"] == "Slashed" and e["cause"] in (1, 2)
    ]
    assert not bond_slashes
    assert s["outcomes"]["abandoned"] == 0 and s["outcomes"]["expired"] == 0
    assert all(n["last_block"] >= cfg.n_blocks - 2 for n in s["nodes"])


@pytest.mark.slow
def test_a_node_process_unbonds_and_withdraws(anvil_binary, tmp_path):
    """anvil + 4 node processes (hash evaluator, the paired rule: each vote
    also scores the incumbent); node 2 unbonds its whole bond in block 1 and,
    once the 2-block delay has released it, withdraws its balance to its
    address; the chain replays exactly and settles proposals."""
    from nasjax.protocol.rpc_run import run_rpc

    cfg = _four_nodes(n_blocks=6, unbonding_delay=2, rule="paired")
    s = run_rpc(
        cfg, tmp_path, evaluator="hash", leave=(2, 1), phase_timeout=60.0,
        log=lambda _: None,
    )  # fmt: skip
    assert s["chain_report"]["ok"]
    assert s["supply"]["supply"] == s["supply"]["expected"]
    leaver = s["nodes"][2]
    assert leaver["unbonded"] == leaver["bonded_at_join"] > 0
    assert leaver["withdrawn"] > 0
    liquid, bonded, unbonding, _ = leaver["holdings"]
    assert bonded == unbonding == 0 and liquid < leaver["withdrawn"]
    lines = (tmp_path / "chain_events.jsonl").read_text().splitlines()
    events = [json.loads(x) for x in lines]
    moves = [e for e in events if e["event"] == "Move" and e["node"] == 2]
    paid_out = sum(e["amount"] for e in moves if e["dst"] == 6)  # -> OUTSIDE
    assert paid_out == leaver["withdrawn"]
    log = (tmp_path / "nodes" / "node2" / "node.log").read_text()
    assert "reverted" not in log  # no vote after its unbond request
    assert all(n["last_block"] >= cfg.n_blocks - 2 for n in s["nodes"])
    # Paired votes: each reveals its score of the incumbent beside the
    # candidate's, and the committees decided on the gains.
    reveals = [e for e in events if e["event"] == "VoteRevealed"]
    assert reveals and all(e["incumbent"] > 0 for e in reveals)
    assert s["outcomes"]["accepted"] + s["outcomes"]["rejected"] > 0
