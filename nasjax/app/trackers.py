"""The MLflow and TensorBoard trackers of :mod:`nasjax.app.tracking`, and
:func:`make_tracker`, which picks one from the ``tracker`` configuration.

Their libraries are optional (``pip install 'nasjax[track]'``) and imported
when a tracker is made, never at import time of this module.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from nasjax.app.tracking import (
    ARTIFACTS,
    INSTALL_HINT,
    Guarded,
    NoTracker,
    Params,
    Tracker,
    TrackerConfig,
    default_run_name,
    final_metrics,
    round_metrics,
    summary_tags,
)

logger = logging.getLogger("nasjax.tracking")

__all__ = ["MlflowTracker", "TensorBoardTracker", "make_tracker"]


def _require(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f"tracker={what} needs the optional {what} package, which is not "
            f"installed ({e}): {INSTALL_HINT}"
        ) from e


def _chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URI (None: another store)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or len(uri) == len(prefix):
        return None
    return Path(uri[len(prefix) :].split("?")[0])


class MlflowTracker:
    """``tracker=mlflow``: one MLflow run per run folder.

    A rerun in the same folder (a resume) continues the same MLflow run,
    found through ``<run folder>/mlflow_run.json``: parameters already
    logged keep their first value (MLflow refuses changes; a changed budget
    is recorded as a ``resumed.<key>`` tag) and the round metrics go on.
    """

    RUN_FILE = "mlflow_run.json"

    def __init__(self, cfg: TrackerConfig, out_dir: Path, run_name: str) -> None:
        _require("mlflow", "mlflow")
        from mlflow.tracking import MlflowClient

        self.cfg = cfg
        self.out = Path(out_dir)
        self.run_name = run_name
        db = (self.out / "mlflow.db").absolute()
        self.uri = cfg.uri or f"sqlite:///{db}"
        self.run_id: str | None = None
        self._client_type = MlflowClient
        self._client: Any = None

    def start(self, params: Params, tags: Mapping[str, str]) -> None:
        path = _sqlite_path(self.uri)
        if path is not None:
            path.absolute().parent.mkdir(parents=True, exist_ok=True)
        client = self._client = self._client_type(self.uri)
        experiment_id = self._experiment(client, path)
        run = self._previous_run(client)
        if run is None:
            run = client.create_run(
                experiment_id, run_name=self.run_name, tags=dict(tags)
            )
            self.run_id = run.info.run_id
            logged: Mapping[str, str] = {}
        else:
            self.run_id = run.info.run_id
            client.update_run(run.info.run_id, status="RUNNING")
            logged = run.data.params
            self._log(tags={**tags, "nasjax.resumed": "true"})
        (self.out / self.RUN_FILE).write_text(
            json.dumps({"uri": self.uri, "run_id": self.run_id}, indent=1)
        )
        text = {k: str(v)[:6000] for k, v in params.items()}
        changed = {f"resumed.{k}": v for k, v in text.items() if logged.get(k, v) != v}
        self._log(params={k: v for k, v in text.items() if k not in logged})
        self._log(tags=changed)
        logger.info(
            "mlflow: run %s (%s) of experiment %r in %s",
            self.run_id,
            self.run_name,
            self.cfg.experiment,
            self.uri,
        )

    def _experiment(self, client: Any, db: Path | None) -> str:
        found = client.get_experiment_by_name(self.cfg.experiment)
        if found is not None:
            return found.experiment_id
        location = None
        if db is not None:  # beside the database, not in the working folder
            location = (db.absolute().parent / "mlartifacts").as_uri()
        try:
            return client.create_experiment(
                self.cfg.experiment, artifact_location=location
            )
        except Exception:  # created meanwhile by another job of a sweep
            found = client.get_experiment_by_name(self.cfg.experiment)
            if found is None:
                raise
            return found.experiment_id

    def _previous_run(self, client: Any) -> Any:
        marker = self.out / self.RUN_FILE
        if not marker.is_file():
            return None
        info = json.loads(marker.read_text())
        if info.get("uri") != self.uri:
            return None
        try:
            run = client.get_run(info["run_id"])
        except Exception:  # gone, or another store
            return None
        return run if run.info.lifecycle_stage == "active" else None  # not deleted

    def _log(
        self,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        metrics: Mapping[str, float] | None = None,
        step: int = 0,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        assert self.run_id is not None
        now = int(time.time() * 1000)
        for chunk in _chunks([Param(k, v) for k, v in (params or {}).items()], 100):
            self._client.log_batch(self.run_id, params=chunk)
        for chunk in _chunks([RunTag(k, v) for k, v in (tags or {}).items()], 100):
            self._client.log_batch(self.run_id, tags=chunk)
        points = [Metric(k, v, now, step) for k, v in (metrics or {}).items()]
        for chunk in _chunks(points, 1000):
            self._client.log_batch(self.run_id, metrics=chunk)

    def log_round(self, info: Mapping[str, Any]) -> None:
        if self.run_id is not None:
            self._log(metrics=round_metrics(info), step=int(info["round"]))

    def log_summary(self, summary: Mapping[str, Any], out_dir: Path) -> None:
        if self.run_id is None:
            return
        self._log(metrics=final_metrics(summary), tags=summary_tags(summary))
        if not self.cfg.artifacts:
            return
        for name in ARTIFACTS:
            path = Path(out_dir) / name
            if path.is_file():
                self._client.log_artifact(self.run_id, str(path))
            elif path.is_dir():
                self._client.log_artifacts(self.run_id, str(path), artifact_path=name)

    def close(self, status: str) -> None:
        if self.run_id is not None:
            self._client.set_terminated(self.run_id, status)


def _protos() -> tuple[Any, Any]:
    """TensorBoard's ``event_pb2`` and ``summary_pb2`` (generated protobuf
    modules, untyped)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    return event_pb2, summary_pb2


class TensorBoardTracker:
    """``tracker=tensorboard``: an event file of the run, written with the
    ``tensorboard`` package's own writer (no TensorFlow needed).

    Scalars (round metrics per round, final metrics at step 0), the
    parameters as an HParams session (the TensorBoard HParams tab) and as a
    Markdown table (Text tab), the plots as images, ``report.md`` and the
    run folder as text. A resumed run appends a new event file to the same
    folder; TensorBoard merges them.
    """

    def __init__(self, cfg: TrackerConfig, out_dir: Path, run_name: str) -> None:
        _require("tensorboard", "tensorboard")
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.cfg = cfg
        self.run_name = run_name
        if cfg.uri is None:
            self.log_dir = Path(out_dir) / "tensorboard"
        else:  # the run name as a relative path under the shared folder
            parts = [p for p in PurePath(run_name).parts if p not in ("/", ".", "..")]
            self.log_dir = Path(cfg.uri, *parts)
        self._writer_type = EventFileWriter
        self._writer: Any = None

    def _emit(self, step: int, *values: Any) -> None:
        event_pb2, summary_pb2 = _protos()
        summary = summary_pb2.Summary(value=list(values))
        self._writer.add_event(
            event_pb2.Event(wall_time=time.time(), step=step, summary=summary)
        )

    def _scalars(self, metrics: Mapping[str, float], step: int) -> None:
        summary_pb2 = _protos()[1]
        values = [
            summary_pb2.Summary.Value(tag=k, simple_value=v) for k, v in metrics.items()
        ]
        if values:
            self._emit(step, *values)

    def _text(self, tag: str, text: str) -> None:
        from tensorboard.plugins.text.summary_v2 import text_pb

        self._emit(0, *text_pb(tag, text).value)

    def start(self, params: Params, tags: Mapping[str, str]) -> None:
        from tensorboard.plugins.hparams.summary_v2 import hparams_pb

        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = self._writer_type(str(self.log_dir))
        self._emit(0, *hparams_pb(dict(params), trial_id=self.run_name).value)
        rows = "\n".join(f"| `{k}` | `{v}` |" for k, v in params.items())
        self._text("config", "| key | value |\n|---|---|\n" + rows)
        self._text("tags", "\n".join(f"* {k}: `{v}`" for k, v in tags.items()))
        self._writer.flush()
        logger.info(
            "tensorboard: events in %s (tensorboard --logdir %s)",
            self.log_dir,
            self.log_dir,
        )

    def log_round(self, info: Mapping[str, Any]) -> None:
        if self._writer is not None:
            self._scalars(round_metrics(info), int(info["round"]))
            self._writer.flush()

    def log_summary(self, summary: Mapping[str, Any], out_dir: Path) -> None:
        if self._writer is None:
            return
        self._scalars(final_metrics(summary), 0)
        tags = summary_tags(summary)
        self._text("summary", "\n".join(f"* {k}: `{v}`" for k, v in tags.items()))
        out = Path(out_dir)
        self._text("outputs", f"run folder: `{out.absolute()}`")
        if not self.cfg.artifacts:
            return
        report = out / "report.md"
        if report.is_file():
            self._text("report", report.read_text())
        for png in [out / "best_arch.png", *sorted((out / "plots").glob("*.png"))]:
            if png.is_file():
                self._image(f"plots/{png.stem}", png.read_bytes())

    def _image(self, tag: str, png: bytes) -> None:
        summary_pb2 = _protos()[1]
        # The PNG header: width and height (IHDR), then the colour type.
        width, height = (int.from_bytes(png[i : i + 4], "big") for i in (16, 20))
        channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(png[25], 4)
        image = summary_pb2.Summary.Image(
            height=height, width=width, colorspace=channels, encoded_image_string=png
        )
        self._emit(0, summary_pb2.Summary.Value(tag=tag, image=image))

    def close(self, status: str) -> None:
        del status
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def make_tracker(
    cfg: TrackerConfig, out_dir: str | Path, run_name: str | None = None
) -> Tracker:
    """The tracker of ``cfg`` for the run folder ``out_dir``.

    Nothing is written yet (``start`` opens the store), so a run refused
    later (another configuration in the folder) leaves no trace.

    Args:
        cfg: The ``tracker`` configuration.
        out_dir: The run folder.
        run_name: Overrides ``cfg.run_name`` (None: ``cfg.run_name``, else
            :func:`default_run_name` of the folder).

    Returns:
        :class:`NoTracker` for ``none``; else the tracker wrapped in
        :class:`Guarded`.

    Raises:
        ImportError: If the tracker's library is not installed (the message
            names ``pip install 'nasjax[track]'``).
    """
    if cfg.name == "none":
        return NoTracker()
    out = Path(out_dir)
    name = run_name or cfg.run_name or default_run_name(out)
    kinds = {"mlflow": MlflowTracker, "tensorboard": TensorBoardTracker}
    return Guarded(kinds[cfg.name](cfg, out, name), cfg.name)
