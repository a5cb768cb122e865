"""``benchmarks/peers.py``: helpers (fast) and tiny end-to-end runs (slow).

The peers (AutoKeras, NNI) only run where their environments already exist
under ``benchmarks/.peer-envs`` (made by ``benchmarks/peers.py`` without
``--no-install``); elsewhere those tests are skipped with the reason.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPT = BENCH / "peers.py"
NASJAX_TOOLS = ("bayes_morph", "evolution", "tpe", "random")
TINY = [
    "--task", "synthetic", "--seeds", "1", "--archs", "4", "--population", "2",
    "--steps", "10", "--window", "8", "--max-nodes", "4", "--max-width", "16",
    "--synthetic-steps", "1200", "--val-samples", "256", "--time-budget", "3600",
    "--no-install", "--json",
]  # fmt: skip


def _load_peers():
    spec = importlib.util.spec_from_file_location("peers_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_helpers():
    peers = _load_peers()
    best = peers.best_so_far(np.array([0.5, np.nan, 0.4, 0.6, 0.55]))
    np.testing.assert_allclose(best, [0.5, 0.5, 0.5, 0.6, 0.6])
    assert np.isnan(peers.best_so_far(np.array([np.nan]))[0])
    curve = pl.DataFrame({"end_s": [1.0, 2.0, 3.0], "best_so_far": [0.5, 0.6, 0.6]})
    assert np.isnan(peers.best_at(curve, 0.5))
    assert peers.best_at(curve, 2.5) == 0.6
    a = {"fitness": [0.5, 0.6], "test_accuracy": 0.55, "fingerprints": ["a", "b"]}
    assert peers.compare_records(a, dict(a))["reproduced"]
    b = a | {"fitness": [0.5, 0.61]}
    cmp = peers.compare_records(a, b)
    assert not cmp["reproduced"] and cmp["max_abs_val_diff"] == pytest.approx(0.01)
    args = peers.parse_args(["--archs", "6", "--population", "4", "--steps", "20"])
    cfg = peers.task_config(args, "synthetic")
    assert cfg.data.n_folds == 1 and cfg.search.max_evaluations == 6
    assert cfg.search.rounds == 2
    assert cfg.train.n_steps == 20 and cfg.train.eval_every == 10
    assert cfg.search.time_budget_s == args.time_budget


def test_missing_env_is_skipped_with_reason(tmp_path):
    peers = _load_peers()
    python, why = peers.ensure_env("nni", tmp_path, install=False)
    assert python is None and "no environment" in why


@pytest.mark.slow
def test_peers_tiny_nasjax(tmp_path):
    out = tmp_path / "peers"
    cmd = [sys.executable, str(SCRIPT), *TINY, "--tools", *NASJAX_TOOLS]
    cmd += ["--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    runs = pl.read_parquet(out / "runs.parquet")
    curves = pl.read_parquet(out / "curves.parquet")
    repro = pl.read_parquet(out / "repro.parquet")
    assert runs.height == len(NASJAX_TOOLS)
    assert (runs["n_evaluations"] == 4).all()
    assert curves.height == runs.height * 4
    for _, g in curves.group_by(["tool", "seed"]):
        g = g.sort("evaluation")
        assert np.all(np.diff(g["best_so_far"].to_numpy()) >= 0)
        assert np.all(np.diff(g["end_s"].to_numpy()) >= 0)
    assert runs["test_accuracy"].is_between(0, 1).all()
    assert runs["test_mcc"].is_between(-1, 1).all()
    assert (runs["test_accuracy_low"] <= runs["test_accuracy_high"]).all()
    assert (runs["peak_rss_mb"] > 0).all()
    # nasjax runs with a rounds/evaluations budget are deterministic.
    assert set(repro["tool"]) == set(NASJAX_TOOLS)
    assert repro["reproduced"].all() and repro["same_architectures"].all()
    task = summary["tasks"]["synthetic"]
    assert set(task["tools"]) == set(NASJAX_TOOLS)
    assert task["bayes_accuracy"] == pytest.approx(0.6)
    with np.load(out / "data" / "synthetic.npz") as z:
        assert z["x_train"].ndim == 3 and z["x_train"].shape[1:] == (
            8,
            z["x_val"].shape[2],
        )
        assert len(z["x_val"]) == len(z["y_val"]) == 256
        assert set(np.unique(z["y_test"])) <= {0, 1}
    assert (out / "peers.png").stat().st_size > 0
    assert "| bayes_morph |" in (out / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["autokeras", "autokeras_rnn", "nni"])
def test_peers_tiny_peer(tmp_path, tool):
    peers = _load_peers()
    env = peers.PEERS[tool].env
    python, why = peers.ensure_env(env, peers.ENV_DIR, install=False)
    if python is None:
        pytest.skip(f"{tool}: {why}")
    out = tmp_path / "peers"
    cmd = [sys.executable, str(SCRIPT), *TINY, "--tools", tool, "--archs", "2"]
    cmd += ["--rerun-seed", "-1", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    assert not summary["errors"], summary["errors"]
    runs = pl.read_parquet(out / "runs.parquet")
    assert runs.height == 1 and runs["n_evaluations"][0] >= 1
    assert runs["test_accuracy"].is_between(0, 1).all()
    assert (runs["gap_median_s"].is_nan() | (runs["gap_median_s"] >= 0)).all()
    result = json.loads(
        (out / "runs" / "synthetic" / tool / "seed0" / "result.json").read_text()
    )
    assert result["trials"] and result["has_test_proba"]
