"""The Hydra command line end to end (subprocesses, as users run it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from nasjax.app.report import lookup
from nasjax.app.run_report import RUN_SECTIONS
from nasjax.app.sweep_report import SWEEP_SECTIONS
from tests.helpers import ParsedReport, ragged_sample, write_freqtrade

# A tiny synthetic run: the pipeline, not the result, is under test.
TINY = [
    "debug=smoke",
    "data=synthetic",
    "data.synthetic_steps=1500",
    "search.population=2",
    "train.n_steps=10",
    "train.eval_every=10",
    "evaluation.baselines=[majority,logistic]",
]


def nasjax_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HYDRA_FULL_ERROR="0", COLUMNS="120")
    return subprocess.run(
        [sys.executable, "-m", "nasjax", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_smoke_run_writes_well_formed_outputs(tmp_path):
    run_dir = tmp_path / "run"
    proc = nasjax_cli(*TINY, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nasjax best" in proc.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("best", "baselines", "n_evaluations", "searcher", "data"):
        assert key in summary
    assert summary["searcher"] == "bayes_morph"
    assert summary["n_evaluations"] == 4
    assert set(summary["baselines"]) == {"majority", "logistic"}
    assert {"fingerprint", "arch", "test", "fitness"} <= set(summary["best"])
    acc = summary["best"]["test"]["accuracy"]
    assert acc["low"] <= acc["value"] <= acc["high"]
    assert set(summary["data"]) >= {"symbols", "test_start", "test_end", "n_bars"}
    results = pl.read_parquet(run_dir / "results.parquet")
    assert results.height == 4
    assert results["fitness"].is_not_nan().all()
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "best_arch.png").is_file()
    assert any((run_dir / "plots").glob("*.png"))
    best = run_dir / "best"
    assert (best / "arch.json").is_file() or (best / "ensemble.json").is_file()
    assert (run_dir / "best" / "predict.jax_export").is_file()
    assert (run_dir / "checkpoints").is_dir()
    # The last line links the report, which shows every section.
    report = run_dir / "report.html"
    assert proc.stdout.strip().splitlines()[-1] == f"report: {report.absolute()}"
    page = ParsedReport(report.read_text())
    assert page.headings == list(RUN_SECTIONS)
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert len(page.images) == len(summary["plots"])

    # The same command on the same folder resumes: nothing is trained again.
    again = nasjax_cli(*TINY, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert pl.read_parquet(run_dir / "results.parquet").equals(results)
    assert not (run_dir / ".hydra" / "staged").exists()
    before = tree_state(run_dir)
    changed = nasjax_cli(
        *TINY, "train.learning_rate=0.01", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert changed.returncode != 0
    assert "train.learning_rate" in changed.stderr
    # A refused rerun changes nothing: not the config, not the results.
    assert tree_state(run_dir) == before


def tree_state(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> content)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("search.colour=1", "colour"),
        ("seed=abc", "seed"),
        ("search=nope", "nope"),
        ("data=freqtrade", "needs data.path"),
    ],
)
def test_bad_override_exits_non_zero_with_a_clear_message(tmp_path, override, message):
    proc = nasjax_cli(override, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (tmp_path / "run" / "results.parquet").exists()


def test_help_and_cfg_job(tmp_path):
    proc = nasjax_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "nasjax" in proc.stdout
    search_line = next(
        line for line in proc.stdout.splitlines() if line.startswith("search:")
    )
    for option in ("bayes_morph", "evolution", "random", "tpe"):
        assert option in search_line
    groups = proc.stdout.split("== Config ==")[0]
    assert "tracker: mlflow, none, tensorboard" in groups
    assert "progress: quiet, rich" in groups
    assert "logger:" not in groups  # the deprecated alias is not advertised
    assert "mode: protocol, search" in groups
    assert "debug_mode" not in groups  # chosen by the defaults list, not users
    # The structured-config schemas are not options a user picks.
    assert "_schema" not in proc.stdout.split("== Config ==")[0]
    proc = nasjax_cli("--cfg", "job", "search=random", cwd=tmp_path)
    assert proc.returncode == 0
    assert "name: random" in proc.stdout
    # a search run's configuration has no protocol keys
    assert "protocol: null" in proc.stdout and "n_nodes" not in proc.stdout


@pytest.mark.slow  # two whole runs in a sweep (test_config composes the launcher)
def test_multirun_with_the_joblib_launcher_and_report(tmp_path):
    sweep = tmp_path / "sweep"
    proc = nasjax_cli(
        "--multirun",
        *TINY,
        "search.rounds=1",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "search=random,evolution",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = sorted(sweep.glob("*/summary.json"))
    assert len(summaries) == 2
    searchers = {json.loads(p.read_text())["searcher"] for p in summaries}
    assert searchers == {"random", "evolution"}

    from nasjax.app.report import report

    out = report(sweep)
    assert out["groups"].height == 2
    assert set(out["groups"]["n_runs"].to_list()) == {1}
    assert (sweep / "report.png").is_file()
    assert (sweep / "report.parquet").is_file()
    page = ParsedReport(out["html"].read_text())
    assert page.headings == list(SWEEP_SECTIONS)
    runs = page.tables[-1]
    assert sorted(row[-1] for row in runs[1:]) == ["0/report.html", "1/report.html"]


def test_lookup_reads_dotted_summary_entries():
    summary = {"best": {"fitness": 0.53, "test": {"accuracy": {"value": 0.51}}}}
    assert lookup(summary, "best.fitness") == 0.53
    assert lookup(summary, "best.test.accuracy") == 0.51
    assert lookup(summary, "best.nothing") != lookup(summary, "best.nothing")  # NaN


@pytest.mark.slow  # a protocol run through the CLI (tests/protocol run it in-process)
def test_protocol_mode_runs_the_protocol_simulation(tmp_path):
    run_dir = tmp_path / "proto"
    proc = nasjax_cli(
        "mode=protocol", "debug=smoke", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    supply = summary["supply"]
    assert supply["final"] == supply["initial"] + supply["emitted"] - supply["burned"]
    assert "honest" in summary["roi"]
    assert (run_dir / "metrics.parquet").is_file()
    from nasjax.protocol import verify_ledger

    verify_ledger(summary["ledger"])
    # A rerun into the folder of a finished protocol run is refused, and
    # changes nothing there.
    before = tree_state(run_dir)
    again = nasjax_cli(
        "mode=protocol",
        "debug=smoke",
        "protocol.seed=3",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert again.returncode != 0
    assert "append-only" in again.stderr
    assert tree_state(run_dir) == before


@pytest.mark.slow
def test_local2_distributed_run_equals_one_process(tmp_path):
    """``distributed=local2``: two local processes x 2 CPU devices (one
    jax.distributed run) give process 0's outputs, equal to one process's."""
    one = nasjax_cli(*TINY, f"hydra.run.dir={tmp_path / 'one'}", cwd=tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    two = nasjax_cli(
        *TINY, "distributed=local2", f"hydra.run.dir={tmp_path / 'two'}", cwd=tmp_path
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert "starting 2 local processes" in two.stdout
    assert "nasjax best" in two.stdout
    run = tmp_path / "two"
    for rank in (0, 1):
        assert (run / ".hydra" / f"process{rank}" / "config.yaml").is_file()
    assert (run / "best" / "predict.jax_export").is_file()
    a = pl.read_parquet(tmp_path / "one" / "results.parquet")
    b = pl.read_parquet(run / "results.parquet")
    assert a["fingerprint"].to_list() == b["fingerprint"].to_list()
    assert a["fitness"].to_numpy() == pytest.approx(b["fitness"].to_numpy(), abs=1e-5)
    sa = json.loads((tmp_path / "one" / "summary.json").read_text())
    sb = json.loads((run / "summary.json").read_text())
    assert sa["best"]["fingerprint"] == sb["best"]["fingerprint"]


def test_the_implicit_basic_config_handler_is_dropped():
    import logging

    from nasjax.app.cli import drop_implicit_root_handlers

    root = logging.getLogger()
    implicit = logging.StreamHandler()
    implicit.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    ours = logging.StreamHandler()
    ours.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(implicit)
    root.addHandler(ours)
    try:
        drop_implicit_root_handlers()
        assert implicit not in root.handlers
        assert ours in root.handlers
    finally:
        root.removeHandler(implicit)
        root.removeHandler(ours)


@pytest.mark.slow
def test_freqtrade_folder_with_a_late_listing_uses_every_coin(tmp_path):
    """``data=freqtrade`` on a folder where one coin was listed late: the panel
    spans every coin's full history and summary.json says so per coin."""
    n_bars, late = 3000, "SOL/USDT"
    frame = ragged_sample(n_bars=n_bars, listed={late: 0.6})
    folder = write_freqtrade(frame, tmp_path / "binance")
    run_dir = tmp_path / "run"
    proc = nasjax_cli(
        *TINY[:1],
        *TINY[3:],
        "data=freqtrade",
        f"data.path={folder}",
        "data.timeframe=5m",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((run_dir / "summary.json").read_text())["data"]
    assert data["n_bars"] == n_bars and data["dropped_coins"] == {}
    coins = data["coins"]
    assert set(coins) == {"BTC/USDT", "ETH/USDT", late}
    for sym, entry in coins.items():
        listed = late if sym == late else None
        assert entry["bars"] == (1200 if listed else n_bars)
        assert entry["absent"] == (1800 if listed else 0)
        assert entry["dropped"] == entry["filled"] == 0
        assert entry["samples"] > 0
    assert coins[late]["first"] == frame.filter(pl.col("symbol") == late)["timestamp"][
        0
    ].strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.slow
def test_side_fear_greed_from_the_command_line(tmp_path):
    """``side=fear_greed``: the index becomes the last feature, the export
    keeps its series and predicts new candles with it."""
    from nasjax.app.export import load_model
    from nasjax.data import synthetic

    run_dir = tmp_path / "run"
    proc = nasjax_cli(
        *TINY, "side=fear_greed", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "side feature fng_value" in proc.stdout + proc.stderr
    model = load_model(run_dir / "best")
    assert model.preprocess.feature_names[-1] == "fng_value"
    assert model.preprocess.side[0].path == "fear_greed"
    frame = synthetic(0, n_symbols=4, n_steps=1500).frame
    assert model.predict(frame).height > 0


def test_the_last_line_links_the_report(tmp_path):
    import io

    from rich.console import Console

    from nasjax.app.cli import print_summary

    metric = {"value": 0.52, "low": 0.5, "high": 0.54}
    summary = {
        "n_test": 10,
        "answer": "best",
        "best": {"test": {"accuracy": metric}, "fingerprint": "f" * 32,
                 "params_count": 10, "fitness": 0.5},
        "baselines": {"majority": {"metrics": {"accuracy": metric}}},
        "n_evaluations": 4,
        "searcher": "random",
        "warnings": ["a warning"],
    }  # fmt: skip
    deep = tmp_path / ("a-long-folder-name-" * 6) / "[run]"
    deep.mkdir(parents=True)
    (deep / "report.html").write_text("<!DOCTYPE html>")
    out = io.StringIO()
    print_summary(summary, deep, Console(file=out, width=80))
    assert out.getvalue().splitlines()[-1] == f"report: {deep.absolute()}/report.html"
