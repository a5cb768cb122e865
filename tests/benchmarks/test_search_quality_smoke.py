"""``benchmarks/search_quality.py`` runs end to end on a tiny configuration."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "search_quality.py"
SEARCHERS = ("bayes_morph", "random", "evolution", "tpe")


@pytest.mark.slow
def test_search_quality_tiny(tmp_path):
    out = tmp_path / "sq"
    cmd = [
        sys.executable, str(SCRIPT), "--task", "synthetic", "--seeds", "2",
        "--population", "2", "--rounds", "2", "--steps", "10",
        "--window", "8", "--max-nodes", "4", "--max-width", "16",
        "--synthetic-steps", "1200", "--baselines", "lstm", "transformer",
        "--searchers", *SEARCHERS, "--out", str(out), "--json",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    assert summary == json.loads((out / "summary.json").read_text())
    curves = pl.read_parquet(out / "curves.parquet")
    runs = pl.read_parquet(out / "runs.parquet")
    base = pl.read_parquet(out / "baselines.parquet")
    assert runs.height == 2 * len(SEARCHERS)
    assert curves.height == runs.height * 2 * 2  # population x rounds each
    for _, g in curves.group_by(["searcher", "seed"]):
        best = g.sort("evaluation")["best_so_far"].to_numpy()
        assert np.all(np.diff(best) >= 0)
        assert best[-1] == pytest.approx(np.nanmax(g["fitness"].to_numpy()))
    assert set(base["baseline"]) == {"lstm", "transformer"} and base.height == 4
    assert runs["test_accuracy"].is_between(0, 1).all()
    task = summary["tasks"]["synthetic"]
    assert task["budget"] == 4 and task["bayes_accuracy"] == pytest.approx(0.6)
    ev = task["searchers"]["bayes_morph"]["evals_to_random_final_best"]
    assert ev["n_seeds"] == 2 and len(ev["per_seed"]) == 2
    assert (out / "search_quality.png").stat().st_size > 0
    assert "| bayes_morph |" in (out / "report.md").read_text()
