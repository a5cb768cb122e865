"""``benchmarks/ucr.py`` runs end to end on a tiny configuration."""

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import polars as pl
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ucr.py"


@pytest.mark.slow
@pytest.mark.skipif(find_spec("aeon") is None, reason="needs aeon (nasjax[ucr])")
def test_ucr_benchmark_tiny(tmp_path):
    out = tmp_path / "ucr"
    cmd = [
        sys.executable, str(SCRIPT), "--datasets", "ItalyPowerDemand",
        "--population", "2", "--rounds", "1", "--steps", "8", "--n-boot", "50",
        "--baselines", "majority", "logistic", "--mo-dataset", "ItalyPowerDemand",
        "--mo-rounds", "1", "--mo-baselines", "tcn", "--out", str(out), "--json",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads(proc.stdout)
    assert summary["runs"][0]["dataset"] == "ItalyPowerDemand"
    results = pl.read_parquet(out / "results.parquet")
    methods = set(results["method"])
    assert "nasjax bayes_morph (best arch)" in methods
    assert "MiniRocket (aeon, this machine)" in methods
    assert "1-NN DTW (aeon, this machine)" in methods
    measured = results.filter(pl.col("source").str.starts_with("this machine"))
    assert measured["accuracy"].is_between(0, 1).all()
    cited = results.filter(pl.col("method") == "ROCKET (published)")
    assert cited["accuracy"].to_list() == [pytest.approx(0.96958212)]
    pareto = pl.read_parquet(out / "pareto.parquet")
    assert {"pareto", "baseline"} <= set(pareto["kind"])
    assert (out / "pareto_ItalyPowerDemand.png").stat().st_size > 0
    assert (out / "ucr_accuracy.png").stat().st_size > 0
    assert "| nasjax bayes_morph (best arch) |" in (out / "report.md").read_text()
