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
    eq = task["equal_time"]
    assert eq["horizon_s"] > 0 and eq["searchers"]["bayes_morph"]["minus_random"]
    assert (out / "search_quality.png").stat().st_size > 0
    assert "| bayes_morph |" in (out / "report.md").read_text()


def _script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("search_quality_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_best_at_time_is_the_last_result_known_by_then():
    sq = _script()
    times = np.array([10.0, 10.0, 25.0, 40.0])
    best = np.array([0.50, 0.52, 0.52, 0.55])
    assert np.isnan(sq.best_at_time(times, best, 9.9))
    assert sq.best_at_time(times, best, 10.0) == 0.52
    assert sq.best_at_time(times, best, 39.0) == 0.52
    assert sq.best_at_time(times, best, 1e9) == 0.55


def test_equal_time_compares_at_the_shortest_runs_horizon():
    sq = _script()
    rows = []
    # bayes_morph is ahead at every time; its seed-1 run stops first (30 s).
    for searcher, seed, times, best in (
        ("random", 0, [20, 40, 60], [0.50, 0.51, 0.53]),
        ("random", 1, [20, 40, 60], [0.50, 0.50, 0.52]),
        ("bayes_morph", 0, [15, 30, 45], [0.51, 0.53, 0.54]),
        ("bayes_morph", 1, [15, 30], [0.52, 0.52]),
    ):
        for i, (t, b) in enumerate(zip(times, best, strict=True)):
            rows.append(
                {"searcher": searcher, "seed": seed, "evaluation": i + 1,
                 "elapsed_s": float(t), "best_so_far": b}
            )  # fmt: skip
    eq = sq.equal_time(pl.DataFrame(rows), ["bayes_morph", "random"])
    assert eq["horizon_s"] == 30.0
    bm, rnd = eq["searchers"]["bayes_morph"], eq["searchers"]["random"]
    assert rnd["mean"] == pytest.approx(0.50)  # both random runs at 20 s
    assert bm["mean"] == pytest.approx(0.525)
    d = bm["minus_random"]
    assert d["mean"] == pytest.approx(0.025) and d["wins"] == 2 and d["n_seeds"] == 2
    assert "minus_random" not in rnd
    assert sq.equal_time(pl.DataFrame(rows).drop("elapsed_s"), ["random"]) is None
