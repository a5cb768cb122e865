"""``benchmarks/pareto.py`` runs end to end on a tiny configuration."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pareto.py"


@pytest.mark.slow
def test_pareto_tiny(tmp_path):
    out = tmp_path / "pareto"
    cmd = [
        sys.executable, str(SCRIPT), "--task", "synthetic", "--population", "3",
        "--rounds", "2", "--steps", "9", "--window", "8", "--max-nodes", "4",
        "--max-width", "16", "--baselines", "tcn", "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    points = pl.read_parquet(out / "pareto.parquet")
    assert summary["n_evaluations"] == 6
    assert set(points["kind"]) >= {"pareto", "baseline"}
    assert {"tcn", "logistic"} <= set(points["model"])
    front = points.filter(pl.col("kind") == "pareto").sort("params")
    assert front.height == summary["front_size"] >= 1
    # A front: more parameters only for more validation accuracy.
    acc = front["val_accuracy"].to_list()
    assert all(b >= a for a, b in itertools.pairwise(acc))
    best = points.filter(pl.col("model").str.starts_with("best "))
    assert best.height == 1 and 0 <= best["test_accuracy"][0] <= 1
    assert (
        points.filter(pl.col("kind") == "baseline")["test_accuracy"]
        .is_between(0, 1)
        .all()
    )
    assert (out / "pareto_synthetic.png").stat().st_size > 0
