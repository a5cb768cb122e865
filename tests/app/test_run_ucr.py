"""A search end to end on a UCR/UEA classification dataset (tiny budget)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from importlib.util import find_spec

import numpy as np
import polars as pl
import pytest

import nasjax  # noqa: F401  (must precede jax initialisation)
from nasjax.app.config import (
    DataConfig,
)
from nasjax.app.run import run_search
from nasjax.app.run_report import RUN_SECTIONS
from nasjax.data import FeatureConfig
from nasjax.evaluate.classification import CLASS_METRICS
from tests.helpers import ParsedReport, tiny_app_config

pytestmark = pytest.mark.skipif(
    find_spec("aeon") is None, reason="needs aeon: pip install 'nasjax[ucr]'"
)

CFG = tiny_app_config(
    {
        "search.population": 1,
        "search.rounds": 1,
        "search_space.max_nodes": 2,  # a tiny bucket keeps the compiles short
        # 9 classes, 12 channels, unequal lengths
        "data": DataConfig(source="ucr", name="JapaneseVowels", n_folds=2),
        "features": FeatureConfig(),
        "evaluation.baselines": ("majority", "persistence", "logistic"),
    }
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ucr_run")
    return out, run_search(CFG, out, progress=False)


def test_summary_has_classification_metrics(run):
    out, summary = run
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["task"] == "classification"
    data = summary["data"]
    assert data["source"] == "ucr" and data["name"] == "JapaneseVowels"
    assert (data["n_train"], data["n_test"], data["n_classes"]) == (270, 370, 9)
    assert data["unequal_length"] and data["window"] == data["length"] == 29
    assert summary["n_test"] == 370
    best = summary["best"]
    assert best["arch"]["spec"]["n_classes"] == 9
    for m in CLASS_METRICS:
        v = best["test"][m]
        for x in (v["value"], v["low"], v["high"]):
            assert isinstance(x, float) and math.isfinite(x)
        assert v["low"] <= v["value"] <= v["high"]
    for m in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert 0.0 <= best["test"][m]["value"] <= 1.0
    assert best["test_trading"] is None
    assert np.asarray(best["test_confusion"]).sum() == 370
    assert len(best["validation"]["fold_accuracy"]) == 2
    assert set(summary["baselines"]) == {"majority", "logistic"}
    assert "persistence" in summary["skipped_baselines"]
    # Majority predicts the most frequent TRAIN class: its test share.
    top = int(np.argmax(data["train_class_counts"]))
    maj = summary["baselines"]["majority"]["metrics"]["accuracy"]["value"]
    assert maj == pytest.approx(data["test_class_counts"][top] / 370)
    assert "accuracy_diff" in summary["baselines"]["logistic"]["vs_reference"]


def test_the_answer_is_an_ensemble_selected_out_of_fold(run):
    out, summary = run
    assert summary["answer"] == "ensemble"
    ens = summary["ensemble"]
    weights = [m["weight"] for m in ens["members"]]
    assert sum(weights) == pytest.approx(1.0) and min(weights) > 0
    names = [c["name"] for c in ens["candidates"]]
    assert names[0] == summary["best"]["fingerprint"]
    assert {"logistic", "minirocket"} <= set(names)
    assert "gbdt" in ens["skipped"]  # a direction-data candidate only
    # selected on the OOF predictions: never worse there than any candidate
    assert ens["oof_log_loss"] <= min(c["oof_log_loss"] for c in ens["candidates"])
    for v in ens["metrics"]["accuracy"].values():
        assert 0.0 <= v <= 1.0
    # the baselines are compared with the answer
    assert summary["baselines"]["logistic"]["vs_reference"]
    saved = json.loads((out / "best" / "ensemble.json").read_text())
    assert saved["members"] == ens["members"]


def test_the_fold_models_are_final_fitted(run):
    _, summary = run
    ff = summary["best"]["final_fit"]
    assert ff["budget_steps"] == CFG.evaluation.final_fit.n_steps
    assert len(ff["best_step"]) == len(ff["best_val_loss"]) == 2  # one per fold
    assert all(0 <= s <= ff["budget_steps"] for s in ff["best_step"])
    assert ff["kept_start"] == (ff["folds_kept_start"] == 2)
    archs = [c for c in summary["ensemble"]["candidates"] if c["kind"] == "arch"]
    assert archs[0]["final_fit"] == ff
    assert "logistic" not in {c["name"] for c in archs}


def test_outputs_on_disk(run):
    out, summary = run
    rows = pl.read_parquet(out / "results.parquet")
    assert rows.height == CFG.search.population * CFG.search.rounds
    assert (out / "plots" / "confusion.png").is_file()
    assert (out / "best" / "arch.json").is_file()
    pre = json.loads((out / "best" / "preprocess.json").read_text())
    assert pre["task"] == "classification" and len(pre["class_names"]) == 9
    assert summary["pareto_front"]["objectives"] == ["accuracy", "params"]
    page = ParsedReport((out / "report.html").read_text())
    assert page.headings == list(RUN_SECTIONS)
    assert len(page.images) == len(summary["plots"])  # the confusion matrix too
    assert "No trading view for this task." in page.text


@pytest.mark.slow
def test_cli_runs_a_ucr_dataset(tmp_path):
    run_dir = tmp_path / "run"
    args = [
        "debug=smoke",
        "data=ucr",
        "data.name=ItalyPowerDemand",
        "search.population=2",
        "train.n_steps=10",
        "train.eval_every=10",
        f"hydra.run.dir={run_dir}",
    ]
    env = dict(os.environ, HYDRA_FULL_ERROR="0", COLUMNS="120")
    proc = subprocess.run(
        [sys.executable, "-m", "nasjax", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["task"] == "classification"
    assert summary["data"]["name"] == "ItalyPowerDemand"
    assert summary["best"]["test"]["accuracy"]["value"] > 0.5
