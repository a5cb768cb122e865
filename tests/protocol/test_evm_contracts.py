"""The market contract against the JAX core: a small differential run.

One ``chain=evm`` run (16 nodes x 14 blocks, every attacker type, frequent
equivocation, offline validators and unbonding) is compared with the JAX
state after every block by :func:`nasjax.protocol.evm_run.run_on_chain`;
the tests then check its outputs, the event replay and its tamper detection.
"""

import copy
import dataclasses
import json

import numpy as np
import pytest

boa = pytest.importorskip("boa")

from nasjax.protocol import (  # noqa: E402
    PRESETS,
    AgentConfig,
    ConsensusConfig,
    EconomicsConfig,
    ProtocolConfig,
    run_protocol,
)
from nasjax.protocol.cli import main  # noqa: E402
from nasjax.protocol.evm import (  # noqa: E402
    SCORE_ONE,
    ChainError,
    chain_snapshot,
    market_params,
    quantize,
    verify_events,
)
from nasjax.protocol.evm_run import run_on_chain  # noqa: E402

CFG = ProtocolConfig(
    n_nodes=16,
    n_blocks=14,
    chain="evm",
    agents=AgentConfig(sybil_split=2, equivocate_prob=0.5, offline_prob=0.1),
    consensus=ConsensusConfig(
        proposals_per_block=2, committee_size=5, rule="supermajority"
    ),
    economics=EconomicsConfig(unbonding_delay=3, unbond_prob=0.1),
    plots=False,
)


@pytest.fixture(scope="module")
def evm_run(tmp_path_factory):
    """(out_dir, summary) of one differential run on the embedded EVM."""
    out = tmp_path_factory.mktemp("evm_run")
    return out, run_protocol(CFG, out)


def _events(out):
    lines = (out / "chain_events.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def _snapshot(out):
    return json.loads((out / "chain_snapshot.json").read_text())


def test_run_equals_jax_and_conserves_supply(evm_run):
    _, summary = evm_run
    report = summary["chain_report"]
    assert summary["chain"] == "evm" and report["ok"]
    assert report["transactions"] > 100
    supply = summary["supply"]
    assert supply["final"] == supply["initial"] + supply["emitted"] - supply["burned"]


def test_run_exercises_the_rules(evm_run):
    out, _ = evm_run
    names = {e["event"] for e in _events(out)}
    assert {"Settled", "VoteRevealed", "Equivocation", "Slashed"} <= names
    causes = {e["cause"] for e in _events(out) if e["event"] == "Slashed"}
    assert 1 in causes  # equivocation slashed on chain as in the JAX core
    assert any(e["event"] == "Move" and e["dst"] == 2 for e in _events(out))


def test_verify_replays_every_balance(evm_run, capsys):
    out, _ = evm_run
    assert main(["verify", str(out / "chain_events.jsonl")]) == 0
    assert '"ok": true' in capsys.readouterr().out


def test_verify_detects_a_tampered_event(evm_run):
    out, _ = evm_run
    events, snapshot = _events(out), _snapshot(out)
    verify_events(events, snapshot)
    forged = copy.deepcopy(events)
    i = next(k for k, e in enumerate(forged) if e["event"] == "Move" and e["src"] == 4)
    forged[i]["amount"] += 1  # one more unit minted to a node
    with pytest.raises(ChainError, match="node"):
        verify_events(forged, snapshot)
    with pytest.raises(ChainError, match="emitted"):
        verify_events(events, dict(snapshot, emitted=snapshot["emitted"] + 1))


def test_score_grid_and_thresholds():
    assert quantize(0.52) * SCORE_ONE == round(0.52 * SCORE_ONE)
    p = market_params(CFG)
    assert p[14] == int(np.ceil(0.001 * SCORE_ONE))  # min_improvement, rounded up
    assert p[15] == int(np.floor(0.012 * SCORE_ONE))  # claim_tolerance, rounded down


def test_evm_chain_is_validated():
    with pytest.raises(ValueError, match="chain"):
        dataclasses.replace(CFG, chain="anvil")
    with pytest.raises(ValueError, match="contract's bounds"):
        dataclasses.replace(
            CFG, consensus=ConsensusConfig(committee_size=65, rule="median")
        )
    with pytest.raises(ValueError, match=r"needs consensus\.commit_reveal"):
        dataclasses.replace(
            CFG, consensus=ConsensusConfig(rule="paired", commit_reveal=False)
        )
    rpc = dataclasses.replace(CFG, chain="rpc", n_nodes=8, consensus=ConsensusConfig())
    assert rpc.consensus.rule == "paired"  # node processes vote under every rule


def test_paired_rule_settles_on_chain_as_in_jax():
    """The default rule on the EVM: every block's balances, bonds, supply,
    bests and accepted set equal the JAX core's (``run_on_chain`` compares
    after every block), with accepted and rejected proposals, a screened-out
    seat's deviation penalty and re-certified bests exercised."""
    cfg = dataclasses.replace(
        CFG,
        consensus=dataclasses.replace(CFG.consensus, rule="paired"),
    )
    run = run_on_chain(cfg)
    metrics = run["metrics"]
    assert metrics["accepted"].sum() > 0 and metrics["rejected"].sum() > 0
    assert metrics["deviations"].sum() > 0
    assert run["accepted"] and run["chain"].n_tx > 100
    # Re-certification: a best that moved in a block that accepted nothing.
    best = metrics["best_score"][:, 0]
    moved = np.flatnonzero(np.diff(best) != 0) + 1
    assert any(metrics["accepted"][t] == 0 for t in moved)


@pytest.mark.slow  # about 2 minutes: 100 nodes x 200 blocks through the EVM
def test_default_preset_on_chain_equals_jax():
    """The default preset (paired rule, 32 seats) on the embedded EVM for
    100 nodes x 200 blocks: the contract equals the JAX state after every
    block, supply is conserved and the replayed events give every balance."""
    cfg = dataclasses.replace(PRESETS["default"], chain="evm", n_blocks=200)
    run = run_on_chain(cfg)
    metrics = run["metrics"]
    assert cfg.n_nodes == 100 and cfg.consensus.rule == "paired"
    assert metrics["accepted"].sum() > 0 and metrics["rejected"].sum() > 0
    assert (metrics["supply"] == metrics["supply_expected"]).all()
    chain = run["chain"]
    verify_events(chain.events, chain_snapshot(chain))
