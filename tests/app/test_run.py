"""End-to-end search driver on tiny synthetic data."""

import itertools
import json
import math

import numpy as np
import polars as pl
import pytest

import nasjax  # (must precede jax initialisation)
from nasjax.app import run as run_module
from nasjax.app.answer import stop_and_select
from nasjax.app.checkpoint import committed_steps
from nasjax.app.config import (
    override,
)
from nasjax.app.loop import LoopState, next_population
from nasjax.app.run import run_search
from nasjax.data import FoldedData, load_data, synthetic
from nasjax.evaluate.metrics import accuracy, brier
from nasjax.train import split_ids
from tests.helpers import tiny_app_config

CFG = tiny_app_config(
    {
        # Aging evolution: morphs parents (exercises lineage and weight
        # inheritance) and compiles much less than the GP of bayes_morph.
        "search.name": "evolution",
        "search.aging_window": 8,
        "search.tournament_size": 2,
        "search.morphs": ("widen", "deepen"),
        "train.max_eval_samples": 512,
        "evaluation.baselines": ("majority", "logistic"),
    }
)


SEEN: list = []  # the data each run's search loop was given (run a, run b)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    a = tmp_path_factory.mktemp("run_a")
    b = tmp_path_factory.mktemp("run_b")
    real_loop = run_module.search_loop

    def recording_loop(cfg, searcher, loop, key, data, *args, **kwargs):
        SEEN.append(data)
        return real_loop(cfg, searcher, loop, key, data, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run_module, "search_loop", recording_loop)
        summary = run_search(CFG, a, progress=False)
        run_search(CFG, b, progress=False)
    return a, b, summary


def test_the_search_never_sees_the_selection_block(runs):
    full = FoldedData(*load_data(CFG.data, CFG.features, CFG.seed))
    _, select = stop_and_select(full, CFG)
    selection = set(select.folds.val[-1][select.folds.val_mask[-1]].tolist())
    assert selection
    seen = SEEN[0].folds
    for k in range(CFG.data.n_folds):
        ids = seen.val[k][seen.val_mask[k]]
        assert len(ids) and not selection & set(ids.tolist())
    # The rest of the search's data is the whole data's.
    np.testing.assert_array_equal(seen.train[-1], full.folds.train[-1])
    np.testing.assert_array_equal(seen.test, full.folds.test)


def test_results_parquet(runs):
    a, _, _ = runs
    df = pl.read_parquet(a / "results.parquet")
    assert df.height == CFG.search.population * CFG.search.rounds
    expected = {
        "round",
        "arch_json",
        "fingerprint",
        "parent_fingerprint",
        "morphs",
        "params_count",
        "macs",
        "fitness",
        "train_seconds",
        "failed",
        "failure_reason",
        "rung",
        "budget_steps",
        "best_step",
        "fitness_std",
        "fitness_se",
        "select_score",
        "val_curve",
        "elapsed_s",
    } | {
        f"{m}_fold{k}"
        for m in ("val_accuracy", "val_loss", "best_step")
        for k in range(CFG.data.n_folds)
    }
    assert expected <= set(df.columns)
    assert sorted(df["round"].unique().to_list()) == list(range(CFG.search.rounds))
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
    assert summary["n_evaluations"] == CFG.search.population * CFG.search.rounds
    assert set(summary["baselines"]) == set(CFG.evaluation.baselines)
    assert len(summary["progress"]) == CFG.search.rounds
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
    # Every coin's bars: all kept on the (dense) synthetic panel.
    assert list(data["coins"]) == data["symbols"] and data["dropped_coins"] == {}
    for coin in data["coins"].values():
        assert coin["bars"] == data["n_bars"] == CFG.data.synthetic_steps
        assert coin["dropped"] == coin["filled"] == coin["absent"] == 0
        assert 0 < coin["samples"] < coin["bars"]
    assert (a / "best_arch.png").stat().st_size > 0
    assert summary["budget"]["stopped_by"] == "rounds"
    assert summary["budget"]["rounds_done"] == CFG.search.rounds
    front = summary["pareto_front"]
    assert front["objectives"] == ["accuracy", "params"]
    assert best["fingerprint"] in front["fingerprints"]  # the most accurate is on it
    counts = dict(zip(df["fingerprint"], df["params_count"], strict=True))
    for fp, (acc_value, n_params) in zip(
        front["fingerprints"], front["values"], strict=True
    ):
        assert counts[fp] == n_params
        dominated = df.filter(
            (pl.col("fitness") > acc_value) & (pl.col("params_count") < n_params)
        )
        assert dominated.height == 0


def _check_ci(entry):
    assert entry["low"] <= entry["value"] <= entry["high"]


def test_summary_answer_ensemble_and_final_fit(runs):
    """``answer`` names the better of ``best`` and ``ensemble`` on the last
    validation block; both carry validation and test metrics with CIs, a
    calibration (test log loss and Brier before / after) and paired tests
    against every baseline; every fitted model records its kept step."""
    _, _, summary = runs
    ev = CFG.evaluation
    assert summary["answer"] in ("best", "ensemble")
    best, ens = summary["best"], summary["ensemble"]
    for entry in (best, ens):
        assert set(entry["vs_baselines"]) == set(ev.baselines)
        for test in entry["vs_baselines"].values():
            assert {"diff", "low", "high", "p_value"} <= set(test)
        _check_ci(entry["validation_block"]["log_loss"])
        _check_ci(entry["test"]["accuracy"])
        cal = entry["calibration"]
        assert cal["method"] == ev.calibration
        for metric in ("test_log_loss", "test_brier"):
            _check_ci(cal[metric]["before"])
            _check_ci(cal[metric]["after"])
        # The delivered test metrics are the calibrated ones.
        assert entry["test"]["log_loss"]["value"] == pytest.approx(
            cal["test_log_loss"]["after"]["value"]
        )
    val_loss = {
        k: summary[k]["validation_block"]["log_loss"]["value"]
        for k in ("best", "ensemble")
    }
    expected = "ensemble" if val_loss["ensemble"] < val_loss["best"] - 1e-12 else "best"
    assert summary["answer"] == expected
    # Greedy selection never does worse than its best single candidate.
    assert val_loss["ensemble"] <= val_loss["best"] + 1e-9
    weights = [m["weight"] for m in ens["members"]]
    assert sum(weights) == pytest.approx(1.0) and min(weights) > 0
    assert len(ens["validation_log_loss_curve"]) == ev.ensemble.rounds
    names = {c["name"] for c in ens["candidates"]}
    assert best["fingerprint"] in names and {"logistic", "gbdt"} <= names
    assert len(names) <= ev.ensemble.top_k + len(ev.ensemble.classical)
    fit = best["final_fit"]
    assert fit["start"] == "searched"
    assert fit["budget_steps"] == ev.final_fit.n_steps
    assert 0 <= fit["best_step"] <= fit["steps_trained"] <= fit["budget_steps"]
    assert fit["best_step"] % ev.final_fit.eval_every == 0
    assert fit["untrained"] is False
    assert fit["kept_start"] == (fit["best_step"] == 0)
    assert summary["final_fit"]["n_steps"] == ev.final_fit.n_steps
    assert isinstance(summary["warnings"], list)
    ref = summary["answer"]
    for name in ev.baselines:
        assert summary["baselines"][name]["vs_reference"]["diff"] == pytest.approx(
            -summary[ref]["vs_baselines"][name]["diff"]
        )


def test_summary_validation_metrics(runs):
    a, _, summary = runs
    val = summary["best"]["validation"]
    row = pl.read_parquet(a / "results.parquet").filter(
        pl.col("fingerprint") == summary["best"]["fingerprint"]
    )
    assert val["search_fold_accuracy"] == [
        row[f"val_accuracy_fold{k}"].item() for k in range(CFG.data.n_folds)
    ]
    assert len(val["fold_accuracy"]) == len(val["fold_n"]) == CFG.data.n_folds
    assert all(0.0 <= x <= 1.0 for x in val["fold_accuracy"])
    acc = val["accuracy"]
    assert acc["value"] == pytest.approx(np.mean(val["fold_accuracy"]))
    assert 0.0 <= acc["low"] <= acc["value"] <= acc["high"] <= 1.0
    assert acc["low"] < acc["high"]
    assert "bootstrap" in val["ci"]


def test_plots(runs):
    a, _, summary = runs
    names = {"search_progress.png", "accuracy_vs_params.png"}
    names |= {"equity.png", "calibration.png"}
    names |= {"learning_curves.png", "best_vs_time.png"}
    for name in names:
        assert (a / "plots" / name).stat().st_size > 0
    assert {p.split("/")[-1] for p in summary["plots"]} == names | {"best_arch.png"}
    # Paths in the summary are relative to the run folder (it can be moved).
    assert summary["export"] == "best"
    for p in summary["plots"]:
        assert not p.startswith("/") and (a / p).is_file()


def test_checkpoints_every_round(runs):
    a, _, _ = runs
    assert committed_steps(a / "checkpoints") == [1, 2]


def test_export_lineage(runs):
    a, _, summary = runs
    model = nasjax.load_model(a / "best")
    fp = summary["best"]["fingerprint"]
    answer = summary["answer"]
    if answer == "best":
        assert model.arch.fingerprint() == fp and not model.members
    else:
        assert [m.name for m in model.members] == [
            m["name"] for m in summary["ensemble"]["members"]
        ]
    assert model.metrics["answer"] == answer
    assert model.calibration.to_dict() == {
        k: summary[answer]["calibration"][k] for k in ("method", "a", "b")
    }
    chain = model.lineage
    assert [s["fingerprint"] for s in chain] == summary["best"]["lineage"]
    assert chain[-1]["fingerprint"] == fp
    assert chain[0]["parent_fingerprint"] == "" and chain[0]["origin"] == "seed"
    for parent, child in itertools.pairwise(chain):
        assert child["parent_fingerprint"] == parent["fingerprint"]
        assert child["morphs"] and child["round"] > parent["round"]
    assert model.metrics["test"] == summary[answer]["test"]
    assert model.metrics["validation"] == summary["best"]["validation"]


def test_exported_model_reproduces_the_test_report(runs):
    """The loaded model, fed raw candles, scores exactly what the run scored."""
    a, _, summary = runs
    model = nasjax.load_model(a / "best")
    frame = synthetic(
        CFG.seed,
        n_symbols=CFG.data.synthetic_symbols,
        n_steps=CFG.data.synthetic_steps,
        signal=CFG.data.synthetic_signal,
    ).frame
    ds, folds, _ = load_data(CFG.data, CFG.features, CFG.seed)
    _, _, test_ids = split_ids(folds, "test")
    n_sym = len(ds.meta.symbols)
    keys = pl.DataFrame(
        {
            "timestamp": pl.Series(ds.meta.timestamps[test_ids // n_sym]),
            "symbol": [ds.meta.symbols[s] for s in test_ids % n_sym],
            "label": np.asarray(ds.labels).reshape(-1)[test_ids],
        }
    ).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
    for use_export in (True, False):
        pred = model.predict(frame, use_export=use_export)
        joined = keys.join(pred, on=["timestamp", "symbol"], how="left")
        assert joined["p_up"].null_count() == 0
        y, p = joined["label"].to_numpy(), joined["p_up"].to_numpy()
        test = summary[summary["answer"]]["test"]
        assert accuracy(y, p) == test["accuracy"]["value"]
        assert brier(y, p) == pytest.approx(test["brier"]["value"], abs=1e-6)


def test_budgets():
    """rounds, max_evaluations (cuts the last round) and time_budget_s."""
    empty = LoopState(None, (), (), -1, None, 0.0)  # type: ignore[arg-type]

    def after(n_rows, n_rounds, elapsed=0.0):
        rows = tuple({} for _ in range(n_rows))
        return empty._replace(rows=rows, progress=(0.5,) * n_rounds, elapsed_s=elapsed)

    cfg = override(CFG, {"search.population": 4, "search.rounds": 3})
    assert next_population(cfg, empty) == (4, None)
    assert next_population(cfg, after(12, 3)) == (0, "rounds")
    cfg = override(cfg, {"search.max_evaluations": 10})
    assert next_population(cfg, after(8, 2)) == (2, None)
    assert next_population(cfg, after(10, 2)) == (0, "max_evaluations")
    cfg = override(cfg, {"search.max_evaluations": None, "search.time_budget_s": 5.0})
    assert next_population(cfg, after(4, 1, elapsed=4.9)) == (4, None)
    assert next_population(cfg, after(4, 1, elapsed=5.0)) == (0, "time_budget_s")
    with pytest.raises(ValueError, match="max_evaluations"):
        override(CFG, {"search.max_evaluations": 0})
    with pytest.raises(ValueError, match="time_budget_s"):
        override(CFG, {"search.time_budget_s": 0.0})


def test_deterministic(runs):
    a, b, _ = runs
    fa = pl.read_parquet(a / "results.parquet")
    fb = pl.read_parquet(b / "results.parquet")
    assert fa["fingerprint"].to_list() == fb["fingerprint"].to_list()
    np.testing.assert_array_equal(fa["fitness"].to_numpy(), fb["fitness"].to_numpy())
