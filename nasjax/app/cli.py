"""The Hydra application: ``python -m nasjax`` (and the ``nasjax`` script).

Configuration lives in ``conf/`` (groups ``data``, ``features``,
``search_space``, ``search``, ``surrogate``, ``acquisition``, ``train``,
``evaluation``, ``checkpoint``, ``progress``, ``tracker``, ``hydra``, ``experiment``,
``protocol``, ``distributed``, ``debug``), validated by the schemas of
:mod:`nasjax.app.config`::

    python -m nasjax                                  # default search, bundled data
    python -m nasjax debug=smoke                      # a tiny run (a minute or two)
    python -m nasjax search=random search.rounds=2 train.n_steps=50
    python -m nasjax data=freqtrade data.path=FOLDER data.timeframe=5m
    python -m nasjax --multirun search=bayes_morph,random,evolution seed=0,1,2
    python -m nasjax --cfg job                        # print the composed config
    python -m nasjax demo                             # the foundation demo
    python -m nasjax export-onnx RUN/best model.onnx  # the answer as ONNX

This module is the only place (with
:func:`nasjax.app.config.register_configs`) that imports Hydra; the library
takes the same frozen dataclasses.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from nasjax.app.report import lookup
from nasjax.app.trackers import make_tracker
from nasjax.app.tracking import NoTracker, flat_params

log = logging.getLogger("nasjax")


def conf_dir() -> Path:
    """The ``conf/`` folder: next to the package in a source checkout, inside
    it (``nasjax/conf``) in an installed wheel."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "conf", package / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no conf/config.yaml next to or inside {package}")


def _fmt(metric: dict | None) -> str:
    if not metric or metric.get("value") is None:
        return "-"
    low, high = metric.get("low"), metric.get("high")
    if low is None or high is None:
        return f"{metric['value']:.3f}"
    return f"{metric['value']:.3f} [{low:.3f}, {high:.3f}]"


def print_summary(summary: dict, out_dir: Path, console: Console) -> None:
    """Best architecture vs baselines on the untouched test period; the last
    line links the run's ``report.html``."""
    table = Table(title=f"test period ({summary.get('n_test', '?')} samples), 95% CI")
    for col in ("model", "accuracy", "balanced acc.", "MCC", "AUC"):
        table.add_column(col)
    answer = summary.get("answer", "best")
    entry = summary[answer]  # a direction answer's "test", a classification one's
    rows = [(f"nasjax {answer} (answer)", entry.get("test") or entry["metrics"])]
    if answer != "best":
        rows.append(("nasjax best arch", summary["best"]["test"]))
    rows += [(name, b.get("metrics", {})) for name, b in summary["baselines"].items()]
    for name, m in rows:
        table.add_row(
            name,
            _fmt(m.get("accuracy")),
            _fmt(m.get("balanced_accuracy")),
            _fmt(m.get("mcc")),
            _fmt(m.get("roc_auc")),
        )
    console.print(table)
    best = summary["best"]
    console.print(
        f"best architecture {best['fingerprint'][:12]} "
        f"({best['params_count']} params), "
        f"validation fitness {best['fitness']:.4f}; {summary['n_evaluations']} "
        f"evaluations by {summary['searcher']}. Outputs in {out_dir}/"
    )
    for warning in summary.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {warning}")
    report = out_dir / "report.html"
    if report.is_file():  # the last line: where a person reads the run
        console.print(
            f"report: {report.absolute()}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


STAGED_SUBDIR = ".hydra/staged"
"""Where Hydra writes a job's ``config.yaml``, ``hydra.yaml`` and
``overrides.yaml`` (``conf/hydra/default.yaml``); :func:`run_app` moves them
to ``.hydra/`` once the run is accepted, so a refused rerun (another
configuration in a folder that holds a run) leaves the folder as it was."""


def promote_staged_config(out: Path) -> None:
    """Move the staged Hydra files of this job into ``out/.hydra``."""
    staged = out / STAGED_SUBDIR
    if not staged.is_dir():
        return
    for path in staged.iterdir():
        os.replace(path, out / ".hydra" / path.name)
    staged.rmdir()


def discard_staged_config(out: Path) -> None:
    """Remove the staged Hydra files (and ``.hydra`` if that leaves it empty)."""
    staged = out / STAGED_SUBDIR
    if not staged.is_dir():
        return
    for path in staged.iterdir():
        path.unlink()
    staged.rmdir()
    with contextlib.suppress(OSError):  # not empty: it holds an earlier run's
        staged.parent.rmdir()


def run_app(cfg: Any) -> float:
    """The Hydra task: compose -> validate -> search -> report.

    Args:
        cfg: The composed ``DictConfig``.

    Returns:
        The ``optimized_metric`` entry of the summary (a validation score), for
        Hydra sweepers.
    """
    from hydra.core.hydra_config import HydraConfig

    from nasjax.app.config import to_app_config
    from nasjax.app.run import run_search

    hydra_cfg = HydraConfig.get()
    out = Path(hydra_cfg.runtime.output_dir)
    try:
        app = to_app_config(cfg)
        # A missing tracking library fails here, before any work.
        tracker = make_tracker(app.tracker, out) if app.mode == "search" else None
    except Exception:
        discard_staged_config(out)
        raise
    logging.getLogger("nasjax").setLevel(app.progress.level)
    warn_deprecated_choices(hydra_cfg.runtime.choices)
    # Not a terminal (a log file, a pipe): wide enough that tables keep one
    # line per row; COLUMNS still decides where it is set.
    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    console = Console(width=None if wide else 160)
    if app.mode == "protocol":
        if app.tracker.name != "none":
            log.warning("tracker=%s: mode=protocol is not tracked", app.tracker.name)
        if app.distributed.local_processes > 1:
            discard_staged_config(out)
            raise ValueError("mode=protocol runs in one process: use distributed=none")
        return run_protocol_app(app, out, console)
    if app.distributed.local_processes > 1 and not is_local_worker():
        promote_staged_config(out)
        return launch_local_workers(app, out, console)
    from nasjax.distributed import initialize

    info = initialize(app.distributed)  # before any JAX computation
    main_process = info.process_index == 0
    if not main_process:  # process 0 reports; the others only warn
        logging.getLogger("nasjax").setLevel(logging.WARNING)
        console = Console(quiet=True)
    console.print(
        f"[bold]nasjax[/] {app.search.name} search -> {out}"
        + (
            f" ({info.process_count} processes, {info.device_count} devices)"
            if info.multi_process
            else ""
        )
    )
    if tracker is None or not main_process:  # process 0 tracks
        tracker = NoTracker()

    def on_start() -> None:
        promote_staged_config(out)
        tracker.start(flat_params(app), run_tags(out, hydra_cfg.overrides.task))

    try:
        summary = run_search(
            app,
            out,
            progress=app.progress.bar and main_process,
            on_round=tracker.log_round,
            on_start=on_start,
        )
    except BaseException as e:
        tracker.close("KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        raise
    finally:  # refused before the start (else already promoted)
        discard_staged_config(out)
    tracker.log_summary(summary, out)  # failures are logged, never raised
    tracker.close("FINISHED")
    print_summary(summary, out, console)
    return lookup(summary, app.optimized_metric)


INTERNAL_GROUPS: tuple[str, ...] = ("debug_mode",)
"""Groups chosen by the defaults list itself (``debug_mode: ${debug}_${mode}``),
not by users: ``--help`` does not list them."""

DEPRECATED_GROUPS: dict[str, str] = {"logger": "progress"}
"""Renamed config groups: old name -> new name. ``conf/<old>/`` keeps an
alias of each option for one release (``logger=quiet`` is ``progress=quiet``)."""


def warn_deprecated_choices(choices: Mapping[str, Any]) -> list[str]:
    """Log (and return) one warning per deprecated group the run chose."""
    messages = [
        f"{old}={choices[old]} is deprecated: the group is renamed, use "
        f"{new}={choices[old]}"
        for old, new in DEPRECATED_GROUPS.items()
        if choices.get(old) is not None
    ]
    for message in messages:
        log.warning(message)
    return messages


DEPRECATED_KEYS: dict[str, str] = {
    "logger.progress": "progress.bar",
    "logger.level": "progress.level",
}
"""Renamed keys: old dotted key -> new one; :func:`main` rewrites them on
the command line for one release."""


def rename_deprecated_keys(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Command-line arguments with the :data:`DEPRECATED_KEYS` renamed.

    ``logger.progress=false`` becomes ``progress.bar=false`` (a ``+`` or
    ``++`` prefix is dropped: the new key exists).

    Returns:
        The arguments, and one warning per renamed key.
    """
    out, messages = [], []
    for arg in args:
        key, sep, value = arg.partition("=")
        bare = key.lstrip("+")
        if sep and bare in DEPRECATED_KEYS:
            new = DEPRECATED_KEYS[bare]
            messages.append(f"{bare} is deprecated: the key is renamed, use {new}")
            arg = f"{new}={value}"
        out.append(arg)
    return out, messages


def run_tags(out: Path, overrides: Sequence[str]) -> dict[str, str]:
    """Tags of a tracked run: its folder and command-line overrides."""
    return {
        "nasjax.out_dir": str(out.absolute()),
        "nasjax.overrides": " ".join(overrides),
    }


def is_local_worker(environ: dict[str, str] | None = None) -> bool:
    """Whether this process was started by :func:`launch_local_workers`."""
    from nasjax.distributed.launch import ENV_PROCESS_ID

    return ENV_PROCESS_ID in (os.environ if environ is None else environ)


def worker_argv(overrides: Sequence[str], out: Path) -> list[str]:
    """The command each local worker runs: this job's overrides, same folder.

    Every worker writes into the launcher's output folder (only process 0
    writes results); each keeps its own resolved config under
    ``.hydra/process<rank>``.
    """
    return [
        sys.executable,
        "-m",
        "nasjax",
        *overrides,
        f"hydra.run.dir={out}",
        "hydra.output_subdir=.hydra/process${oc.env:NASJAX_PROCESS_ID}",
    ]


def launch_local_workers(app: Any, out: Path, console: Console) -> float:
    """``distributed.local_processes > 1``: start the workers here and wait.

    The workers form one ``jax.distributed`` run on 127.0.0.1
    (:func:`nasjax.distributed.run_local`); this process computes nothing.

    Returns:
        ``optimized_metric`` of process 0's summary.

    Raises:
        RuntimeError: If a worker fails (the others are stopped).
    """
    from hydra.core.hydra_config import HydraConfig

    from nasjax.distributed import run_local

    n, per = app.distributed.local_processes, app.distributed.devices_per_process
    console.print(
        f"[bold]nasjax[/] starting {n} local processes"
        + ("" if per is None else f" x {per} CPU devices")
        + f" -> {out}"
    )
    argv = worker_argv(list(HydraConfig.get().overrides.task), out)
    procs = run_local(argv, n, per, capture=False)
    failed = [(rank, p.returncode) for rank, p in enumerate(procs) if p.returncode]
    if failed:
        raise RuntimeError(
            "local worker(s) failed (rank, exit code): "
            + ", ".join(f"({r}, {c})" for r, c in failed)
            + f"; their logs are in {out}"
        )
    summary = json.loads((out / "summary.json").read_text())
    print_summary(summary, out, console)
    return lookup(summary, app.optimized_metric)


def run_protocol_app(app: Any, out: Path, console: Console) -> float:
    """``mode=protocol``: simulate the protocol of ``app.protocol``.

    Returns:
        The certified best score at the end (for sweepers).
    """
    from nasjax.protocol import run_protocol

    ledger = out / app.protocol.ledger.filename
    if app.protocol.ledger.mode != "none" and ledger.exists():
        discard_staged_config(out)
        raise FileExistsError(
            f"{ledger} exists; ledgers are append-only, use another output folder "
            "(hydra.run.dir=...)"
        )
    promote_staged_config(out)
    console.print(
        f"[bold]nasjax protocol[/] {app.protocol.n_nodes} nodes x "
        f"{app.protocol.n_blocks} blocks ({app.protocol.evaluator}) -> {out}"
    )
    summary = run_protocol(app.protocol, out, progress=app.progress.bar)
    if summary["chain"] == "rpc":
        from nasjax.protocol.rpc_run import rpc_line  # needs the chain extra

        console.print(rpc_line(summary))
        return lookup(summary, "best_score.end")
    table = Table(title="ROI by agent type")
    table.add_column("agent")
    table.add_column("ROI")
    for name, roi in summary["roi"].items():
        table.add_row(name, "-" if roi is None else f"{roi:+.2%}")
    console.print(table)
    chain = summary.get("chain_report")
    record = (
        f"ledger {summary['ledger']}"
        if chain is None
        else f"EVM: {chain['transactions']} transactions, supply conserved, "
        f"events replayed ({chain['events']})"
    )
    console.print(
        f"false accepts {format_rate(summary['false_accept_rate'])}, false rejects "
        f"{format_rate(summary['false_reject_rate'])}; best score "
        f"{summary['best_score']['start']:.4f} -> {summary['best_score']['end']:.4f}; "
        + record
    )
    return lookup(summary, "best_score.end")


def format_rate(value: float | None) -> str:
    """A protocol rate for the terminal; ``n/a`` when it has no denominator
    (a short run may decide no proposal of the kind it counts)."""
    return "n/a" if value is None else f"{value:.3f}"


def drop_implicit_root_handlers() -> None:
    """Remove the root handler an import set up behind our back.

    ``absl.logging`` (imported by orbax) calls ``logging.basicConfig()`` when
    it logs before anything configured logging; Hydra then adds its own
    handlers, and every line of ``--info`` and of the run log was printed
    twice. Only handlers with ``basicConfig``'s default format are removed.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        formatter = handler.formatter
        if (
            type(handler) is logging.StreamHandler
            and formatter is not None
            and formatter._fmt == logging.BASIC_FORMAT
        ):
            root.removeHandler(handler)


def hide_schema_options(help_text: str) -> str:
    """``--help`` without the ``*_schema`` entries of the option lists, nor
    the deprecated groups (:data:`DEPRECATED_GROUPS`).

    The structured-config schemas are registered in the config groups (so
    each option file can extend its group's schema) and Hydra lists them as
    options; they are not choices a user makes.
    """
    out = []
    for line in help_text.splitlines():
        group, sep, options = line.partition(": ")
        if sep and (group in DEPRECATED_GROUPS or group in INTERNAL_GROUPS):
            continue
        if sep and group.replace("/", "").replace("_", "").isalnum():
            names = [o for o in options.split(", ") if not o.endswith("_schema")]
            if len(names) != len(options.split(", ")):
                line = f"{group}: {', '.join(names)}"
        out.append(line)
    return "\n".join(out) + ("\n" if help_text.endswith("\n") else "")


def protocol_keys_without_mode(args: Sequence[str]) -> list[str]:
    """Command-line overrides of the ``protocol`` group (``protocol=attack``,
    ``protocol.n_nodes=10``) given without ``mode=protocol`` (a multirun's
    ``mode=search,protocol`` counts), where they have nothing to apply to."""
    if any(a.partition("=")[0] == "mode" and "protocol" in a for a in args):
        return []
    overrides = [a for a in args if not a.startswith("-")]
    keys = [a.partition("=")[0].lstrip("+~") for a in overrides]
    return [
        a
        for a, k in zip(overrides, keys, strict=True)
        if k == "protocol" or k.startswith("protocol.")
    ]


def main(argv: Sequence[str] | None = None) -> Any:
    """Entry point of ``python -m nasjax`` (Hydra command line), ``demo`` and
    ``export-onnx`` (:mod:`nasjax.app.onnx_export`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["demo"]:
        from nasjax.app.demo import run_demo

        run_demo()
        return None
    if args[:1] == ["export-onnx"]:
        from nasjax.app.onnx_export import main as export_onnx_main

        return export_onnx_main(args[1:])
    import hydra

    from nasjax.app.config import register_configs

    register_configs()
    drop_implicit_root_handlers()
    args, renamed = rename_deprecated_keys(args)
    for message in renamed:
        print(f"warning: {message}", file=sys.stderr)
    stray = protocol_keys_without_mode(args)
    if stray:
        print(
            f"error: {', '.join(stray)}: the protocol group is part of the "
            "configuration only with mode=protocol (add mode=protocol)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    saved = sys.argv
    sys.argv = [saved[0] if saved else "nasjax", *args]
    task = hydra.main(
        version_base="1.3", config_path=str(conf_dir()), config_name="config"
    )(run_app)
    try:
        if "--help" not in args and "-h" not in args:
            return task()
        text = io.StringIO()
        try:
            with contextlib.redirect_stdout(text):
                task()
        finally:
            sys.stdout.write(hide_schema_options(text.getvalue()))
        return None
    finally:
        sys.argv = saved
