"""nasjax.report: per-group means and Student-t intervals over runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from nasjax.app.report import aggregate, collect, main, mean_ci


def test_mean_ci_matches_scipy():
    x = np.array([0.51, 0.53, 0.52, 0.55, np.nan])
    mean, low, high = mean_ci(x)
    ref = stats.t.interval(0.95, 3, loc=np.nanmean(x), scale=stats.sem(x[:-1]))
    assert mean == pytest.approx(np.nanmean(x))
    assert (low, high) == pytest.approx(ref)
    assert np.isnan(mean_ci(np.array([0.5]))[1])


def _summary(searcher: str, fitness: float, acc: float) -> dict:
    return {
        "searcher": searcher,
        "n_evaluations": 8,
        "data": {"source": "synthetic"},
        "progress": [fitness - 0.01, fitness],
        "best": {"fitness": fitness, "test": {"accuracy": {"value": acc}}},
        "baselines": {"majority": {"metrics": {"accuracy": {"value": 0.5}}}},
    }


def test_collect_and_aggregate_group_runs(tmp_path, capsys):
    values = {"random": [0.52, 0.54], "bayes_morph": [0.56, 0.58, 0.57]}
    job = 0
    for searcher, accs in values.items():
        for acc in accs:
            (tmp_path / str(job)).mkdir()
            summary = _summary(searcher, acc + 0.01, acc)
            (tmp_path / str(job) / "summary.json").write_text(json.dumps(summary))
            job += 1
    runs = collect(tmp_path)
    assert runs.height == 5
    groups = aggregate(runs)
    row = groups.filter(groups["searcher"] == "bayes_morph").row(0, named=True)
    assert row["n_runs"] == 3
    assert row["test_accuracy_mean"] == pytest.approx(0.57)
    assert row["test_accuracy_low"] < 0.57 < row["test_accuracy_high"]
    assert row["baseline_majority_accuracy_mean"] == pytest.approx(0.5)
    main([str(tmp_path)])
    assert "bayes_morph" in capsys.readouterr().out
    assert (tmp_path / "report.png").is_file()


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path)])
    assert info.value.code == 2


def _write_run(root, job: int, summary: dict, config: dict) -> None:
    run = root / str(job)
    (run / ".hydra").mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(summary))
    from omegaconf import OmegaConf

    OmegaConf.save(OmegaConf.create(config), run / ".hydra" / "config.yaml")


def test_report_groups_by_a_swept_config_key(tmp_path, capsys):
    accs = {True: [0.55, 0.57], False: [0.51, 0.52, 0.53]}
    job = 0
    for inherit, values in accs.items():
        for acc in values:
            config = {"seed": job, "search": {"inherit": inherit, "name": "random"}}
            _write_run(tmp_path, job, _summary("random", acc, acc), config)
            job += 1
    main([str(tmp_path), "--by", "search.inherit"])
    out = capsys.readouterr().out
    assert "search.inherit" in out
    import polars as pl

    groups = pl.read_parquet(tmp_path / "report_groups.parquet")
    means = dict(
        zip(groups["search.inherit"], groups["test_accuracy_mean"], strict=True)
    )
    assert means[True] == pytest.approx(0.56)
    assert means[False] == pytest.approx(0.52)
    runs = pl.read_parquet(tmp_path / "report.parquet")
    assert runs["seed"].to_list() == [0, 1, 2, 3, 4]


def test_grouping_by_an_unknown_key_is_a_clear_error(tmp_path, capsys):
    _write_run(tmp_path, 0, _summary("random", 0.5, 0.5), {"seed": 0})
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path), "--by", "search.nothing"])
    assert info.value.code == 2
    assert "search.nothing" in capsys.readouterr().err
