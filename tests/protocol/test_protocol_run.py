"""run_protocol outputs, summary-mode ledgers, the sweep and the command line."""

import json

import numpy as np
import polars as pl
import pytest
from protocol_configs import SMALL, small

from nasjax.protocol import (
    AGENT_TYPES,
    PRESETS,
    LedgerConfig,
    SweepConfig,
    run_protocol,
    sweep,
    verify_ledger,
)
from nasjax.protocol.cli import main


def test_outputs_and_summary(small_run):
    out, summary = small_run
    assert json.loads((out / "summary.json").read_text()) == summary
    for key in (
        "roi",
        "false_accept_rate",
        "false_reject_rate",
        "supply",
        "best_score",
    ):
        assert key in summary
    assert set(summary["roi"]) == set(AGENT_TYPES)
    s = summary["supply"]
    assert {"initial", "emitted", "burned", "final"} <= set(s)
    assert s["final"] == s["initial"] + s["emitted"] - s["burned"] and s["conserved"]
    assert set(summary["best_score"]) >= {"start", "end"}
    assert summary["ledger"] == str(out / "ledger.jsonl")
    assert 0 <= summary["false_accept_rate"] <= 1
    frame = pl.read_parquet(out / "metrics.parquet")
    assert frame.height == SMALL.n_blocks
    assert (frame["supply_units"] == frame["supply_expected_units"]).all()
    shares = frame.select(pl.col("^stake_share_.*$")).to_numpy().sum(axis=1)
    assert np.allclose(shares, 1.0)
    assert frame["accepted"].sum() == summary["counts"]["accepted"]
    for name in ("best_score", "stake", "roi", "proposals"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 5000


def test_out_dir_with_a_ledger_is_refused(small_run):
    out, _ = small_run
    with pytest.raises(FileExistsError, match="append-only"):
        run_protocol(SMALL, out)


def test_summary_ledger_checkpoints(tmp_path):
    cfg = small(ledger=LedgerConfig(mode="summary", every=25, fsync=False))
    summary = run_protocol(cfg, tmp_path)
    report = verify_ledger(tmp_path / "ledger.jsonl")
    assert report.n_blocks == 1 + 3 + 1  # genesis, [0,25) [25,50) [50,60), close
    assert report.supply["total"] == summary["supply"]["final"]
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["header"]["kind"] == "close"
    last = json.loads(lines[-2])["txs"][0]["body"]
    assert last["type"] == "checkpoint" and last["state_digest"]
    assert last["totals"]["accepted"] >= 0


def test_no_ledger(tmp_path):
    summary = run_protocol(small(ledger=LedgerConfig(mode="none")), tmp_path)
    assert summary["ledger"] is None and not (tmp_path / "ledger.jsonl").exists()


def test_sweep_maps_where_it_breaks(tmp_path):
    """The attack preset's setting (a 45% ring, 4-seat committees) breaks."""
    attack = PRESETS["attack"]
    grid = SweepConfig(
        attacker="ring",
        shares=(0.1, attack.agents.ring),
        committee_sizes=(attack.consensus.committee_size,),
        slash_fractions=(0.5,),
        noises=(1.0,),
        seeds=1,
        n_nodes=SMALL.n_nodes,
        n_blocks=SMALL.n_blocks,
    )
    frame = sweep(SMALL, grid, tmp_path)
    assert frame.height == 2
    low, high = sorted(frame.iter_rows(named=True), key=lambda r: r["attacker_share"])
    assert not high["holds"]
    assert high["false_accept_rate"] > max(0.01, low["false_accept_rate"])
    assert high["attacker_roi"] > high["honest_roi"]
    assert (tmp_path / "phase.png").stat().st_size > 5000
    assert pl.read_parquet(tmp_path / "sweep.parquet").height == 2


def test_cli_runs_and_verifies(tmp_path, capsys):
    out = tmp_path / "cli"
    args = [
        "n_nodes=40",
        "n_blocks=60",
        "consensus.proposals_per_block=2",
        "consensus.committee_size=8",
        "economics.unbonding_delay=4",
        "ledger.fsync=False",
        "plots=False",
        f"out={out}",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "ROI: honest" in printed and "conserved: True" in printed
    assert main(["verify", str(out / "ledger.jsonl")]) == 0
    assert '"n_blocks": 62' in capsys.readouterr().out  # + genesis and close
    data = bytearray((out / "ledger.jsonl").read_bytes())
    data[len(data) // 2] ^= 0x20
    (out / "ledger.jsonl").write_bytes(bytes(data))
    assert main(["verify", str(out / "ledger.jsonl")]) == 1
    assert "INVALID" in capsys.readouterr().out
