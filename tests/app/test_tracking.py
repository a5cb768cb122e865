"""Experiment tracking (nasjax.app.tracking, nasjax.app.trackers) against the
real MLflow and TensorBoard: what a run logs is read back with their own
readers."""

from __future__ import annotations

import json
import logging
import math
import struct
import sys
import zlib
from importlib.util import find_spec
from pathlib import Path

import pytest

from nasjax.app.config import AppConfig
from nasjax.app.trackers import make_tracker
from nasjax.app.tracking import (
    Guarded,
    TrackerConfig,
    final_metrics,
    flat_params,
    round_metrics,
)

needs_mlflow = pytest.mark.skipif(
    find_spec("mlflow") is None, reason="needs mlflow: pip install 'nasjax[track]'"
)
needs_tensorboard = pytest.mark.skipif(
    find_spec("tensorboard") is None,
    reason="needs tensorboard: pip install 'nasjax[track]'",
)


def png(width: int = 3, height: int = 2) -> bytes:
    """A valid RGB PNG of black pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\0" + b"\0" * 3 * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def ci(value: float) -> dict[str, float]:
    return {"value": value, "low": value - 0.02, "high": value + 0.02}


SUMMARY = {
    "answer": "ensemble",
    "best": {
        "fingerprint": "ab" * 16,
        "fitness": 0.53,
        "test": {"accuracy": ci(0.52), "log_loss": ci(0.69), "mcc": ci(0.04)},
        "test_trading": {"sharpe": 1.5, "cumulative_return": float("nan")},
    },
    "ensemble": {"test": {"accuracy": ci(0.54), "log_loss": ci(0.68)}},
    "baselines": {
        "majority": {"metrics": {"accuracy": ci(0.5)}},
        "logistic": {"metrics": {"accuracy": ci(0.51)}, "trading": {"sharpe": 0.2}},
    },
    "n_evaluations": 4,
    "n_failed": 0,
    "n_test": 1196,
    "searcher": "bayes_morph",
    "budget": {"rounds_done": 2, "stopped_by": "rounds", "search_seconds": 30.5},
    "buy_and_hold": {"sharpe": -0.3, "n_bars": 299},
    "warnings": [],
}
ROUNDS = [
    {"round": 1, "n_evaluations": 2, "best": 0.51, "elapsed_s": 3.0},
    {"round": 2, "n_evaluations": 4, "best": 0.53, "elapsed_s": 6.0},
]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished run folder: summary, report, plots, export, Hydra config."""
    out = tmp_path / "run"
    for name in ("plots", "best", ".hydra"):
        (out / name).mkdir(parents=True)
    (out / "summary.json").write_text(json.dumps(SUMMARY))
    (out / "report.html").write_text("<!DOCTYPE html><title>run</title>")
    (out / "report.md").write_text("# run\n\nanswer: ensemble")
    (out / "best_arch.png").write_bytes(png())
    (out / "plots" / "equity.png").write_bytes(png(5, 4))
    (out / "best" / "ensemble.json").write_text("{}")
    (out / ".hydra" / "config.yaml").write_text("seed: 0\n")
    return out


def track(tracker, params: dict, summary: dict, out: Path) -> None:
    tracker.start(params, {"nasjax.overrides": "tracker=x"})
    for info in ROUNDS:
        tracker.log_round({**info, "checkpoint_dir": None})
    tracker.log_summary(summary, out)
    tracker.close("FINISHED")


def test_final_metrics_of_a_summary():
    metrics = final_metrics(SUMMARY)
    assert metrics["test/answer/accuracy"] == 0.54  # the ensemble: the answer
    assert metrics["test/best/accuracy"] == 0.52
    assert metrics["test/answer/log_loss_low"] == pytest.approx(0.66)
    assert metrics["test/baseline/majority/accuracy_high"] == pytest.approx(0.52)
    assert metrics["trading/baseline/logistic/sharpe"] == 0.2
    assert metrics["trading/buy_and_hold/n_bars"] == 299
    assert metrics["val/best_fitness"] == 0.53
    assert metrics["budget/seconds"] == 30.5
    assert not set(metrics) & set(round_metrics(ROUNDS[0]))  # no shared names
    assert "trading/best/cumulative_return" not in metrics  # NaN: left out
    assert all(math.isfinite(v) for v in metrics.values())
    answer_is_best = final_metrics({**SUMMARY, "answer": "best"})
    assert answer_is_best["test/answer/accuracy"] == 0.52


def test_flat_params_read_as_on_the_command_line():
    params = flat_params(AppConfig())
    assert params["search.population"] == 8
    assert params["search.max_evaluations"] == "null"
    assert json.loads(params["evaluation.baselines"])[0] == "majority"
    assert params["progress.bar"] is True and params["tracker.name"] == "none"
    assert not any(k.startswith("protocol.") for k in params)  # not a search's


@needs_mlflow
def test_mlflow_run_holds_params_metrics_tags_and_artifacts(run_dir, caplog):
    from mlflow.tracking import MlflowClient

    params = flat_params(AppConfig())
    track(
        make_tracker(TrackerConfig(name="mlflow"), run_dir, "r1"),
        params,
        SUMMARY,
        run_dir,
    )
    uri = f"sqlite:///{run_dir / 'mlflow.db'}"  # the default store
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("nasjax")
    assert experiment.artifact_location == (run_dir / "mlartifacts").as_uri()
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "r1" and run.info.status == "FINISHED"
    assert run.data.params["search.population"] == "8"
    assert run.data.params["evaluation.baselines"] == params["evaluation.baselines"]
    assert len(run.data.params) == len(params)
    history = client.get_metric_history(run.info.run_id, "search/best_fitness")
    assert [(m.step, m.value) for m in history] == [(1, 0.51), (2, 0.53)]
    assert run.data.metrics["search/n_evaluations"] == 4
    assert run.data.metrics["test/answer/accuracy"] == 0.54
    assert run.data.metrics["test/baseline/logistic/accuracy"] == 0.51
    assert run.data.tags["nasjax.answer"] == "ensemble"
    assert run.data.tags["nasjax.overrides"] == "tracker=x"
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.json", "report.html", "best_arch.png", "plots", "best"} <= top
    assert ".hydra" in top
    nested = [a.path for a in client.list_artifacts(run.info.run_id, "plots")]
    assert nested == ["plots/equity.png"]
    assert (run_dir / "mlartifacts").is_dir()

    # A rerun in the folder (a resume) continues the same MLflow run; a
    # changed budget is kept as a tag (MLflow refuses to change a param).
    longer = {**params, "search.rounds": 5}
    more = [{"round": 3, "n_evaluations": 6, "best": 0.55, "elapsed_s": 9.0}]
    again = make_tracker(TrackerConfig(name="mlflow"), run_dir, "r1")
    again.start(longer, {})
    again.log_round(more[0])
    again.close("FINISHED")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.data.tags["resumed.search.rounds"] == "5"
    assert run.data.params["search.rounds"] == str(params["search.rounds"])
    history = client.get_metric_history(run.info.run_id, "search/best_fitness")
    assert [m.step for m in history] == [1, 2, 3]

    # A run deleted from the store mid-search: the tracker logs a warning
    # and stops; nothing is raised into the search.
    other = run_dir.parent / "other"
    other.mkdir()
    shared = TrackerConfig(name="mlflow", uri=uri, experiment="nasjax")
    broken = make_tracker(shared, other, "r2")
    assert isinstance(broken, Guarded)
    broken.start(params, {})
    client.delete_run(broken.tracker.run_id)  # pyright: ignore[reportAttributeAccessIssue]
    with caplog.at_level(logging.WARNING, logger="nasjax.tracking"):
        broken.log_round(ROUNDS[0])
        broken.log_summary(SUMMARY, run_dir)
        broken.close("FINISHED")
    assert broken.broken
    assert "tracker=mlflow failed in log_round" in caplog.text
    assert "log_summary" not in caplog.text  # off after the first failure
    # A rerun there starts a new MLflow run rather than the deleted one.
    fresh = make_tracker(shared, other, "r2")
    fresh.start(params, {})
    fresh.close("FINISHED")
    deleted = broken.tracker.run_id  # pyright: ignore[reportAttributeAccessIssue]
    assert fresh.tracker.run_id not in (None, deleted)  # pyright: ignore[reportAttributeAccessIssue]


@needs_tensorboard
def test_tensorboard_events_hold_scalars_hparams_text_and_images(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    params = flat_params(AppConfig())
    track(
        make_tracker(TrackerConfig(name="tensorboard"), run_dir, "r1"),
        params,
        SUMMARY,
        run_dir,
    )
    events = run_dir / "tensorboard"
    assert len(list(events.glob("events.out.tfevents.*"))) == 1
    acc = EventAccumulator(str(events), size_guidance={"tensors": 0}).Reload()
    best = [(e.step, e.value) for e in acc.Scalars("search/best_fitness")]
    assert best == [(1, pytest.approx(0.51)), (2, pytest.approx(0.53))]
    assert acc.Scalars("test/answer/accuracy")[0].value == pytest.approx(0.54)
    assert acc.Scalars("test/baseline/majority/accuracy")[0].value == 0.5
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.group_name == "r1"
    assert start.hparams["search.population"].number_value == 8
    assert start.hparams["search.name"].string_value == "bayes_morph"
    assert start.hparams["progress.bar"].bool_value is True

    def text(tag: str) -> str:
        [event] = acc.Tensors(tag)
        return tensor_util.make_ndarray(event.tensor_proto).item().decode()

    assert "| `search.population` | `8` |" in text("config")
    assert "nasjax.answer: `ensemble`" in text("summary")
    assert text("report") == "# run\n\nanswer: ensemble"
    image = acc.Images("plots/equity")[0]
    assert (image.width, image.height) == (5, 4)
    assert image.encoded_image_string == png(5, 4)
    assert set(acc.Tags()["images"]) == {"plots/best_arch", "plots/equity"}


@needs_tensorboard
def test_tensorboard_runs_share_a_log_folder_by_run_name(tmp_path, run_dir):
    shared = TrackerConfig(name="tensorboard", uri=str(tmp_path / "tb"))
    tracker = make_tracker(shared, run_dir, "../sweep/0")
    tracker.start({"seed": 0}, {})
    tracker.close("FINISHED")
    assert list((tmp_path / "tb" / "sweep" / "0").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("name", ["mlflow", "tensorboard"])
def test_a_missing_library_fails_at_start_naming_the_extra(monkeypatch, name, tmp_path):
    monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    with pytest.raises(ImportError, match=r"tracker=.*pip install 'nasjax\[track\]'"):
        make_tracker(TrackerConfig(name=name), tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written


def test_an_unknown_tracker_is_refused():
    with pytest.raises(ValueError, match=r"tracker\.name must be one of"):
        TrackerConfig(name="wandb")


def test_no_tracker_writes_nothing(run_dir, tmp_path):
    before = sorted(p.name for p in run_dir.iterdir())
    track(make_tracker(TrackerConfig(), run_dir), {"seed": 0}, SUMMARY, run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == before


@needs_mlflow
@needs_tensorboard
@pytest.mark.slow  # a whole tiny search, then its resume (about 1.5 minutes)
def test_the_command_line_tracks_a_run(tmp_path):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    from tests.app.test_cli import TINY, nasjax_cli

    run_dir = tmp_path / "run"
    proc = nasjax_cli(
        *TINY,
        "tracker=mlflow",
        "logger=quiet",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "logger=quiet is deprecated" in proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("report: ")
    summary = json.loads((run_dir / "summary.json").read_text())
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("nasjax").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["search.population"] == "2"
    assert run.data.params["progress.bar"] == "False"  # logger=quiet
    history = client.get_metric_history(run.info.run_id, "search/n_evaluations")
    assert [(m.step, m.value) for m in history] == [(1, 2.0), (2, 4.0)]
    answer = summary[summary["answer"]]["test"]["accuracy"]["value"]
    assert run.data.metrics["test/answer/accuracy"] == pytest.approx(answer)
    assert "tracker=mlflow" in run.data.tags["nasjax.overrides"]
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.json", "report.html", "plots", "best", ".hydra"} <= top

    # The tracker is not part of a run's identity: the same folder resumes
    # (nothing is searched again) and the finished run goes to TensorBoard.
    proc = nasjax_cli(
        *TINY,
        "tracker=tensorboard",
        "progress=quiet",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    answer = summary[summary["answer"]]["test"]["accuracy"]["value"]
    acc = EventAccumulator(str(run_dir / "tensorboard")).Reload()
    assert not acc.Scalars("test/answer/accuracy")[0].step
    assert acc.Scalars("test/answer/accuracy")[0].value == pytest.approx(answer)
    assert "search/round" not in acc.Tags()["scalars"]  # no round was run again
    assert any(tag.startswith("plots/") for tag in acc.Tags()["images"])
