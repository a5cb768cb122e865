"""End-to-end search driver on tiny synthetic data."""

import json
import math

import numpy as np
import polars as pl
import pytest

import nasjax  # noqa: F401  (must precede jax initialisation)
from nasjax.data import FeatureConfig
from nasjax.run import RunConfig, run_search
from nasjax.train import TrainConfig

FEATURES = FeatureConfig(
    return_lags=(1,),
    vol_windows=(6,),
    volume_window=0,
    market_return=False,
    calendar=False,
    reference_symbol=None,
)
CFG = RunConfig(
    # Aging evolution: morphs parents (exercises lineage and weight
    # inheritance) and compiles much less than the GP of bayes_morph.
    searcher="evolution",
    searcher_options=(
        ("population_size", 8),
        ("sample_size", 2),
        ("morphs", ("widen", "deepen")),
    ),
    population=4,
    rounds=2,
    seed=0,
    max_nodes=4,
    max_width=16,
    ops=("dense_gelu", "conv"),
    window=8,
    data="synthetic",
    synthetic_signal=0.2,
    synthetic_symbols=3,
    synthetic_steps=1200,
    n_folds=2,
    features=FEATURES,
    train=TrainConfig(
        n_steps=20, eval_every=10, batch_size=32, warmup_steps=5, max_eval_samples=512
    ),
    baselines=("majority", "logistic"),
    n_boot=50,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    a = tmp_path_factory.mktemp("run_a")
    b = tmp_path_factory.mktemp("run_b")
    summary = run_search(CFG, a, progress=False)
    run_search(CFG, b, progress=False)
    return a, b, summary


def test_results_parquet(runs):
    a, _, _ = runs
    df = pl.read_parquet(a / "results.parquet")
    assert df.height == CFG.population * CFG.rounds
    expected = {
        "round",
        "arch_json",
        "fingerprint",
        "parent_fingerprint",
        "morphs",
        "params_count",
        "fitness",
        "train_seconds",
        "failed",
        "failure_reason",
    } | {f"val_{m}_fold{k}" for m in ("accuracy", "loss") for k in range(CFG.n_folds)}
    assert expected <= set(df.columns)
    assert sorted(df["round"].unique().to_list()) == list(range(CFG.rounds))
    assert df["fingerprint"].n_unique() == df.height
    # Round 1 children (some may be fresh random) descend from round 0.
    second = df.filter((pl.col("round") == 1) & (pl.col("parent_fingerprint") != ""))
    parents = set(df.filter(pl.col("round") == 0)["fingerprint"].to_list())
    assert second.height > 0
    assert set(second["parent_fingerprint"].to_list()) <= parents
    assert (second["morphs"] != "").all()
    assert (df["params_count"] > 0).all()
    ok = ~df["failed"]
    assert (df.filter(ok)["failure_reason"] == "").all()


def test_summary(runs):
    a, _, summary = runs
    on_disk = json.loads((a / "summary.json").read_text())
    assert on_disk == summary
    for key in ("best", "baselines", "n_evaluations", "searcher", "data", "progress"):
        assert key in summary
    assert summary["n_evaluations"] == CFG.population * CFG.rounds
    assert set(summary["baselines"]) == set(CFG.baselines)
    assert len(summary["progress"]) == CFG.rounds
    assert summary["progress"] == sorted(summary["progress"])
    df = pl.read_parquet(a / "results.parquet")
    fit = df["fitness"].to_numpy()
    best = summary["best"]
    assert best["fitness"] == pytest.approx(float(np.nanmax(fit)))
    assert best["fingerprint"] in df["fingerprint"].to_list()
    assert best["arch"] and best["params_count"] > 0
    acc = best["test"]["accuracy"]
    for v in (acc["value"], acc["low"], acc["high"]):
        assert isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 1.0
    assert acc["low"] <= acc["value"] <= acc["high"]
    data = summary["data"]
    assert len(data["symbols"]) == 3
    assert data["test_start"] < data["test_end"]
    assert (a / "best_arch.png").stat().st_size > 0


def test_deterministic(runs):
    a, b, _ = runs
    fa = pl.read_parquet(a / "results.parquet")
    fb = pl.read_parquet(b / "results.parquet")
    assert fa["fingerprint"].to_list() == fb["fingerprint"].to_list()
    np.testing.assert_array_equal(fa["fitness"].to_numpy(), fb["fitness"].to_numpy())
