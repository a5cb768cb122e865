"""Peers: AutoKeras 3, NNI network morphism, Optuna TPE, random and nasjax.

Every tool searches on the **same splits** of a task (``synthetic``: the
planted-signal panel, Bayes accuracy ``0.5 + signal``; ``sample``: the bundled
real 5-minute candles): one walk-forward fold (``n_folds=1``), so training,
validation and test ids are identical for all tools; validation accuracy is
measured on exactly the validation samples nasjax scores on (its evenly
strided ``max_eval_samples`` subset); the test period is touched once per run.

Tools:

* nasjax's searchers ``bayes_morph``, ``evolution``, ``tpe`` (Optuna's TPE
  over the nasjax architecture space through ask/tell) and ``random``, run
  in-process through :func:`nasjax.run_search` (:mod:`nasjax.app.run`, with
  an :class:`~nasjax.app.config.AppConfig`) like
  ``benchmarks/search_quality.py`` (whose configuration helpers are reused);
* ``autokeras`` (``StructuredDataClassifier`` on the flattened windows) and
  ``autokeras_rnn`` (``AutoModel`` with an ``RNNBlock`` on ``[n, W, F]``),
  AutoKeras 3 on the Keras JAX backend;
* ``nni``: NNI's network-morphism tuner (the reference port of AutoKeras'
  classic morphism + GP search) with torch.

Peers run in their own virtual environments under ``benchmarks/.peer-envs/``,
created on demand with pip (``--no-install`` only uses existing ones); a peer
whose environment cannot be made is skipped with the reason, which lands in
the summary. The main process exports the splits to an ``.npz`` and runs a
small runner per peer (``benchmarks/peer_runners/``) with the environment's
python; the runner writes per-trial scores and timestamps, its peak memory and
the test probabilities of its best model. The main process scores every tool's
test predictions with nasjax's own evaluation code (block-bootstrap CIs).

Budgets: every run gets the same number of architectures (``--archs``) and
the same wall-clock budget for its search (``--time-budget``, checked
between rounds / trials), and every architecture the same training: ``--steps``
optimiser steps at batch 64, validation every ``--steps // 2`` steps, best
evaluation kept.

Outputs under ``--out``: ``runs.parquet`` (one row per run), ``curves.parquet``
(one row per evaluation: score, best so far, seconds since the search began),
``repro.parquet`` (same-seed reruns), ``peers.png`` (best-so-far vs
evaluations and vs seconds, mean +- 95% CI over seeds), ``summary.json`` and
``report.md``.

Usage (the recorded run; see benchmarks/README.md)::

    .venv/bin/python benchmarks/peers.py --task both --seeds 5

A tiny run of nasjax's searchers only::

    .venv/bin/python benchmarks/peers.py --task synthetic --seeds 2 --archs 4 \\
        --population 2 --steps 10 --tools bayes_morph random --out /tmp/peers_tiny
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import nasjax  # noqa: F401  (must precede JAX initialisation)
from nasjax.app.config import AppConfig, override
from nasjax.app.run import run_search
from nasjax.data import gather_windows, load_data, normalize
from nasjax.evaluate.report import evaluation_report, split_arrays
from nasjax.train.data import make_train_data, split_ids

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import finite_or_none, machine_info, mean_ci
from peer_runners.common import peak_rss_mb  # VmHWM: since the last reset
from search_quality import base_config, searcher_config
from search_quality import parse_args as sq_parse_args

HERE = Path(__file__).resolve().parent
ENV_DIR = HERE / ".peer-envs"
RUNNERS = HERE / "peer_runners"
TASKS = ("synthetic", "sample")
NASJAX_TOOLS = ("bayes_morph", "evolution", "tpe", "random")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclasses.dataclass(frozen=True)
class PeerEnv:
    """A peer's virtual environment.

    Attributes:
        name: Folder under ``benchmarks/.peer-envs``.
        steps: pip install steps, in order; each step is a tuple of
            alternatives (pip argument lists), the first that installs wins.
        check: Python code that must run in the environment.
    """

    name: str
    steps: tuple[tuple[tuple[str, ...], ...], ...]
    check: str


ENVS: dict[str, PeerEnv] = {
    "autokeras": PeerEnv(
        "autokeras",
        (
            (
                # autokeras 3.0.0 imports six without declaring it; Keras
                # 3.13+ rejects the ``units`` values of its blocks.
                ("autokeras==3.0.0", "keras<3.13", "six", "jax[cpu]"),
            ),
        ),
        "import os; os.environ['KERAS_BACKEND'] = 'jax'; import autokeras, keras; "
        "assert keras.backend.backend() == 'jax'",
    ),
    "nni": PeerEnv(
        "nni",
        (
            # The CPU wheel index first (small); PyPI's wheel (with CUDA) else.
            (
                ("torch", "--index-url", TORCH_CPU_INDEX, "--retries", "0"),
                ("torch",),
            ),
            # nni 3.0 needs numpy < 2.
            (("nni==3.0", "numpy<2"),),
        ),
        "import torch; from nni.algorithms.hpo.networkmorphism_tuner import "
        "networkmorphism_tuner",
    ),
}


@dataclasses.dataclass(frozen=True)
class Peer:
    env: str
    runner: str
    args: tuple[str, ...] = ()


PEERS: dict[str, Peer] = {
    "autokeras": Peer("autokeras", "autokeras_runner.py", ("--variant", "structured")),
    "autokeras_rnn": Peer("autokeras", "autokeras_runner.py", ("--variant", "rnn")),
    "nni": Peer("nni", "nni_runner.py"),
}
TOOLS = (*NASJAX_TOOLS, *PEERS)
#: Options shared with ``search_quality.py`` (its other options keep their
#: defaults in :func:`task_config`).
SHARED_ARGS = (
    "population",
    "steps",
    "max_nodes",
    "max_width",
    "window",
    "signal",
    "synthetic_steps",
    "synthetic_symbols",
    "lr",
    "batch",
    "features",
    "ops",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--task", choices=(*TASKS, "both"), default="both")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. n-1")
    p.add_argument(
        "--first-seed", type=int, default=0, help="seeds first .. first + n - 1"
    )
    p.add_argument("--archs", type=int, default=8, help="architectures per run")
    p.add_argument("--population", type=int, default=4, help="nasjax batch")
    p.add_argument("--steps", type=int, default=40, help="training steps per arch")
    p.add_argument("--time-budget", type=float, default=60.0, help="s per search")
    p.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    p.add_argument("--rerun-seed", type=int, default=0, help="-1: no reruns")
    p.add_argument("--rerun-tasks", nargs="*", default=["synthetic"])
    p.add_argument("--no-install", action="store_true", help="skip missing envs")
    p.add_argument("--env-dir", default=str(ENV_DIR))
    p.add_argument("--out", default="/tmp/nasjax_peers")
    p.add_argument("--json", action="store_true", help="print summary JSON")
    p.add_argument("--max-nodes", type=int, default=4)
    p.add_argument("--max-width", type=int, default=16)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--val-samples", type=int, default=4096)
    p.add_argument("--signal", type=float, default=0.1, help="synthetic signal")
    p.add_argument("--synthetic-steps", type=int, default=4000, help="bars")
    p.add_argument("--synthetic-symbols", type=int, default=4, help="coins")
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="peak learning rate of nasjax and NNI (AutoKeras tunes its own)",
    )
    p.add_argument("--batch", type=int, default=None, help="training batch size")
    p.add_argument("--features", choices=("default", "minimal"), default="default")
    p.add_argument("--ops", nargs="+", default=None, help="nasjax op vocabulary")
    p.add_argument("--report-only", action="store_true", help="rebuild the report")
    p.add_argument(
        "--merge-from",
        nargs="*",
        default=[],
        help="with --report-only: merge the runs of these output folders into --out",
    )
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # TASK:TOOL:SEED
    p.add_argument("--worker-dir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.seeds < 1 or args.archs < 1 or args.population < 1 or args.steps < 2:
        p.error("--seeds, --archs, --population must be >= 1 and --steps >= 2")
    if args.steps % 2:
        p.error("--steps must be even (validation every steps / 2)")
    return args


# ---------------------------------------------------------------- config


def task_config(args: argparse.Namespace, task: str) -> AppConfig:
    """The run configuration of a task (search_quality's, on one fold)."""
    ns = sq_parse_args([])  # search_quality's defaults, then ours
    for k in SHARED_ARGS:
        setattr(ns, k, getattr(args, k))
    ns.rounds = math.ceil(args.archs / args.population)
    return override(
        base_config(ns, task),
        {
            "data.n_folds": 1,
            "search.max_evaluations": args.archs,
            "search.time_budget_s": args.time_budget,
            "train.max_eval_samples": args.val_samples,
        },
    )


# ---------------------------------------------------------------- splits


def split_id_sets(cfg: AppConfig, dataset) -> dict[str, np.ndarray]:
    """Train, (scored) validation and test ids, exactly as nasjax uses them."""
    train, _, test = split_ids(dataset.folds, "test")
    data = make_train_data(
        dataset,
        eval_batch_size=cfg.train.eval_batch_size,
        max_eval_samples=cfg.train.max_eval_samples,
        fold_ids=(0,),
    )
    val = np.asarray(data.val[0])[np.asarray(data.val_mask[0])]
    return {"train": np.asarray(train), "val": val, "test": np.asarray(test)}


def export_splits(cfg: AppConfig, dataset, path: Path) -> dict[str, np.ndarray]:
    """Write the normalised windows and labels of every split to ``path``.

    Returns the id sets. Windows are gathered and normalised with nasjax's own
    functions and fold 0's statistics (those nasjax trains with).
    """
    ds, _, norm = dataset
    ids = split_id_sets(cfg, dataset)
    window = int(ds.meta.window)
    mean, std = np.asarray(norm.mean)[0], np.asarray(norm.std)[0]
    arrays = {}
    for name, sel in ids.items():
        chunks = [
            np.asarray(
                normalize(
                    gather_windows(ds.features, sel[i : i + 8192], window), mean, std
                ),
                np.float32,
            )
            for i in range(0, len(sel), 8192)
        ]
        arrays[f"x_{name}"] = np.concatenate(chunks)
        arrays[f"y_{name}"] = split_arrays(ds, sel)["labels"].astype(np.int32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return ids


# ---------------------------------------------------------------- envs


def _pip(python: Path, args: tuple[str, ...], log) -> bool:
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *args]
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=3600)
    return proc.returncode == 0


def ensure_env(name: str, env_dir: Path, install: bool) -> tuple[Path | None, str]:
    """The python of a peer environment (made if missing), or None and why.

    A ready environment holds a ``.ready`` marker; ``.failed`` records why
    the last attempt failed (removed to retry: delete the folder).
    """
    spec = ENVS[name]
    root = env_dir / name
    python = root / "bin" / "python"
    ready, failed = root / ".ready", root / ".failed"
    if ready.exists() and python.exists():
        return python, "ready"
    if failed.exists():
        return None, failed.read_text().strip()
    if not install:
        return None, f"no environment at {root} (run without --no-install to make it)"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "install.log", "a") as log:
        print(f"[env] creating {root} (log: {root / 'install.log'})", file=sys.stderr)
        proc = subprocess.run(
            [sys.executable, "-m", "venv", str(root)], stdout=log, stderr=log
        )
        if proc.returncode != 0:
            return _fail(failed, "python -m venv failed")
        for step in spec.steps:
            if not any(_pip(python, alt, log) for alt in step):
                tried = " | ".join(" ".join(a) for a in step)
                return _fail(failed, f"pip could not install: {tried}")
        check = subprocess.run(
            [str(python), "-c", spec.check],
            stdout=log,
            stderr=subprocess.PIPE,
            text=True,
        )
        if check.returncode != 0:
            last = (check.stderr.strip().splitlines() or ["?"])[-1]
            return _fail(failed, f"import check failed: {last}")
        freeze = subprocess.run(
            [str(python), "-m", "pip", "freeze"], capture_output=True, text=True
        )
        (root / "freeze.txt").write_text(freeze.stdout)
    ready.write_text("ok\n")
    return python, "ready"


def _fail(marker: Path, reason: str) -> tuple[None, str]:
    marker.write_text(reason + "\n")
    return None, reason


def env_versions(root: Path) -> dict[str, str]:
    """Versions of the packages that matter, from the env's ``freeze.txt``."""
    keep = {
        "autokeras",
        "keras",
        "keras-tuner",
        "jax",
        "jaxlib",
        "nni",
        "torch",
        "numpy",
    }
    out = {}
    path = root / "freeze.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            if "==" in line:
                k, v = line.split("==", 1)
                if k.lower() in keep:
                    out[k.lower()] = v
    return out


# ---------------------------------------------------------------- memory


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs`` 5); False if not."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- scoring


def score_test(
    proba: np.ndarray, task: str, seed: int, dataset, test_ids: np.ndarray, n_boot: int
) -> dict[str, Any]:
    """Test accuracy and MCC with block-bootstrap CIs (nasjax's report code)."""
    ds = dataset[0]
    arrays = split_arrays(ds, test_ids)
    report = evaluation_report(
        {"model": np.asarray(proba, np.float64)},
        arrays["labels"],
        arrays["forward_return"],
        arrays["coin"],
        arrays["time"],
        n_boot=n_boot,
        seed=seed,
        real_data=task != "synthetic",
    )
    return report["models"]["model"]["metrics"]


def metric_cols(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for name in ("accuracy", "mcc"):
        m = metrics[name]
        out[f"test_{name}"] = _f(m["value"])
        out[f"test_{name}_low"] = _f(m["low"])
        out[f"test_{name}_high"] = _f(m["high"])
    return out


def _f(x: Any) -> float:
    return float("nan") if x is None else float(x)


# ---------------------------------------------------------------- nasjax


def nasjax_config(cfg0: AppConfig, tool: str, seed: int, population: int) -> AppConfig:
    return searcher_config(cfg0, tool, seed, population)


def run_nasjax(
    cfg: AppConfig, dataset, run_dir: Path, reset_rss: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """One nasjax search: run row, curve rows (without keys), raw record.

    ``reset_rss``: measure the peak RSS of this run only (in a process that
    ran other searches before); otherwise the process's whole peak.
    """
    if run_dir.exists():
        shutil.rmtree(run_dir)  # never resume an older run
    ends: list[float] = []
    rss_ok = reset_peak_rss() if reset_rss else True
    t0 = time.perf_counter()
    summary = run_search(
        cfg,
        run_dir,
        dataset=dataset,
        progress=False,
        on_round=lambda info: ends.append(time.perf_counter() - t0),
    )
    total = time.perf_counter() - t0
    peak = peak_rss_mb()
    df = pl.read_parquet(run_dir / "results.parquet")
    fitness = df["fitness"].to_numpy().astype(np.float64)
    rounds = df["round"].to_numpy()
    train_s = df["train_seconds"].to_numpy().astype(np.float64)
    end_s = np.asarray([ends[r] for r in rounds])
    round_train = np.asarray([train_s[rounds == r].sum() for r in range(len(ends))])
    round_wall = np.diff(np.concatenate([[0.0], ends]))
    curve = [
        {"evaluation": i + 1, "val_accuracy": float(f), "end_s": float(e)}
        for i, (f, e) in enumerate(zip(fitness, end_s, strict=True))
    ]
    search_s = float(ends[-1]) if ends else float("nan")
    test = summary["best"]["test"]
    run = {
        "n_evaluations": len(fitness),
        "n_failed": int(summary["n_failed"]),
        "search_s": search_s,
        "total_s": total,
        "startup_s": 0.0,
        "train_s": float(train_s.sum()),
        "gap_median_s": float(np.median(round_wall - round_train)),
        "peak_rss_mb": peak if rss_ok else float("nan"),
        "stopped_by": summary["budget"]["stopped_by"],
        "best_params_count": int(summary["best"]["params_count"]),
        **metric_cols(test),
    }
    record = {
        "fitness": fitness.tolist(),
        "fingerprints": df["fingerprint"].to_list(),
        "test_accuracy": run["test_accuracy"],
    }
    return run, curve, record


# ---------------------------------------------------------------- peers


def run_peer(
    tool: str,
    python: Path,
    args: argparse.Namespace,
    cfg: AppConfig,
    seed: int,
    data_path: Path,
    run_dir: Path,
) -> dict[str, Any]:
    """Run a peer's runner; its ``result.json`` (plus ``returncode``/``log``)."""
    peer = PEERS[tool]
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    cmd = [
        str(python),
        str(RUNNERS / peer.runner),
        "--data", str(data_path),
        "--out", str(run_dir),
        "--seed", str(seed),
        "--max-trials", str(args.archs),
        "--time-budget", str(args.time_budget),
        "--steps", str(cfg.train.n_steps),
        "--eval-every", str(cfg.train.eval_every),
        "--batch-size", str(cfg.train.batch_size),
        *peer.args,
        *(("--learning-rate", str(cfg.train.learning_rate)) if tool == "nni" else ()),
    ]  # fmt: skip
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONHASHSEED="0")
    env.pop("PYTHONPATH", None)
    log = run_dir / "runner.log"
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        try:
            proc = subprocess.run(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=3 * args.time_budget + 600,
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -9
    wall = time.perf_counter() - t0
    result_path = run_dir / "result.json"
    if rc != 0 or not result_path.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        return {"returncode": rc, "error": "\n".join(tail), "wall_s": wall}
    result = json.loads(result_path.read_text())
    proba_path = run_dir / "test_proba.npy"
    result["test_proba"] = np.load(proba_path) if proba_path.exists() else None
    result["returncode"] = 0
    result["wall_s"] = wall
    return result


def peer_rows(
    result: dict[str, Any],
    task: str,
    seed: int,
    dataset,
    test_ids: np.ndarray,
    n_boot: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    trials = result["trials"]
    vals = np.asarray([t["val_accuracy"] for t in trials], np.float64)
    starts = np.asarray([t["start_s"] for t in trials], np.float64)
    ends = np.asarray([t["end_s"] for t in trials], np.float64)
    curve = [
        {"evaluation": i + 1, "val_accuracy": float(v), "end_s": float(e)}
        for i, (v, e) in enumerate(zip(vals, ends, strict=True))
    ]
    gaps = starts[1:] - ends[:-1]
    proba = result.get("test_proba")
    metrics = (
        metric_cols(score_test(proba, task, seed, dataset, test_ids, n_boot))
        if proba is not None
        else {}
    )
    run = {
        "n_evaluations": len(trials),
        "n_failed": int(result.get("n_failed", 0)),
        "search_s": float(result["search_s"]),
        "total_s": float(result["wall_s"]),
        "startup_s": float(result["startup_s"]),
        "train_s": float(np.nansum(ends - starts)),
        "gap_median_s": float(np.median(gaps)) if gaps.size else float("nan"),
        "peak_rss_mb": float(result["peak_rss_mb"]),
        "stopped_by": (
            "max_evaluations"
            if len(trials) >= result["max_trials"]
            else "time_budget_s"
        ),
        "best_params_count": int(result.get("params_count", -1)),
        **metrics,
    }
    record = {
        "fitness": vals.tolist(),
        "test_proba": None if proba is None else np.asarray(proba),
        "test_accuracy": run.get("test_accuracy", float("nan")),
    }
    return run, curve, record


def run_nasjax_standalone(
    argv: list[str], task: str, tool: str, seed: int, run_dir: Path
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]] | None:
    """The same nasjax run in a fresh process (cold caches, its own memory)."""
    worker_dir = run_dir.with_name(run_dir.name + "_worker")
    worker_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv]
    cmd += ["--worker", f"{task}:{tool}:{seed}", "--worker-dir", str(worker_dir)]
    with open(worker_dir / "worker.log", "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    path = worker_dir / "worker.json"
    if proc.returncode != 0 or not path.exists():
        return None
    got = json.loads(path.read_text())
    return got["run"], got["curve"], got["record"]


def worker(args: argparse.Namespace) -> None:
    """``--worker TASK:TOOL:SEED``: one nasjax run, written to ``--worker-dir``."""
    task, tool, seed = args.worker.split(":")
    cfg0 = task_config(args, task)
    dataset = load_data(cfg0.data, cfg0.features, cfg0.seed)
    cfg = nasjax_config(cfg0, tool, int(seed), args.population)
    out = Path(args.worker_dir)
    run, curve, record = run_nasjax(cfg, dataset, out / "run", reset_rss=False)
    got = {"run": run, "curve": curve, "record": record}
    (out / "worker.json").write_text(json.dumps(_clean(got), default=_json_default))


# ---------------------------------------------------------------- analysis


def best_so_far(vals: np.ndarray) -> np.ndarray:
    v = np.where(np.isfinite(vals), vals, -np.inf)
    best = np.maximum.accumulate(v) if v.size else v
    return np.where(np.isfinite(best), best, np.nan)


def best_at(curve: pl.DataFrame, t: float) -> float:
    """Best-so-far validation accuracy ``t`` seconds into a search (NaN: none yet)."""
    done = curve.filter(pl.col("end_s") <= t)
    return float(done["best_so_far"].max()) if done.height else float("nan")


def compare_records(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Whether a same-seed rerun reproduced a run.

    ``reproduced``: the same evaluations with bit-identical validation scores
    and the same test accuracy. A wall-clock budget can stop the two runs
    after different numbers of evaluations (it depends on the machine's
    load); ``prefix_identical`` then says whether the evaluations both runs
    made are identical.
    """
    fa, fb = np.asarray(a["fitness"], float), np.asarray(b["fitness"], float)
    n = min(fa.size, fb.size)
    diff = np.abs(fa[:n] - fb[:n])
    both_nan = np.isnan(fa[:n]) & np.isnan(fb[:n])
    dval = float(np.max(np.where(both_nan, 0.0, diff))) if n else float("nan")
    out: dict[str, Any] = {
        "n_evaluations": [int(fa.size), int(fb.size)],
        "same_n_evaluations": bool(fa.size == fb.size),
        "max_abs_val_diff": dval,
        "prefix_identical": bool(n and dval == 0.0),
        "test_accuracy_diff": abs(a["test_accuracy"] - b["test_accuracy"]),
    }
    if "fingerprints" in a:
        fa_, fb_ = list(a["fingerprints"]), list(b["fingerprints"])
        out["same_architectures"] = fa_[:n] == fb_[:n]
        out["prefix_identical"] = out["prefix_identical"] and out["same_architectures"]
    if a.get("test_proba") is not None and b.get("test_proba") is not None:
        pa, pb = np.asarray(a["test_proba"]), np.asarray(b["test_proba"])
        out["max_abs_test_proba_diff"] = (
            float(np.max(np.abs(pa - pb))) if pa.shape == pb.shape else float("nan")
        )
    out["reproduced"] = bool(
        out["same_n_evaluations"]
        and out["prefix_identical"]
        and out["test_accuracy_diff"] == 0.0
    )
    return out


def analyse(
    runs: pl.DataFrame, curves: pl.DataFrame, repro: pl.DataFrame, budget_s: float
) -> dict[str, Any]:
    """Per task and tool: the table's numbers (means +- 95% t-CI over seeds).

    ``best_val_in_budget``: the best validation accuracy among the
    evaluations that ended within ``budget_s`` seconds of the search's start
    (the equal wall-clock comparison; budgets are checked between rounds or
    trials, so a run may end later, and ``final_best_val`` counts everything).
    """
    out: dict[str, Any] = {}
    for task in runs["task"].unique(maintain_order=True).to_list():
        r = runs.filter(pl.col("task") == task)
        c = curves.filter(pl.col("task") == task)
        tools = r["tool"].unique(maintain_order=True).to_list()
        res: dict[str, Any] = {"budget_s": budget_s, "tools": {}}
        for tool in tools:
            rt = r.filter(pl.col("tool") == tool).sort("seed")
            entry: dict[str, Any] = {"seeds": rt["seed"].to_list()}
            at, first = [], []
            for seed in entry["seeds"]:
                cs = c.filter((pl.col("tool") == tool) & (pl.col("seed") == seed))
                at.append(best_at(cs, budget_s))
                first.append(float(cs["end_s"].min()) if cs.height else float("nan"))
            rt = rt.with_columns(
                best_val_in_budget=pl.Series(at, dtype=pl.Float64),
                first_eval_s=pl.Series(first, dtype=pl.Float64),
                s_per_eval=pl.col("search_s") / pl.col("n_evaluations"),
                overhead_per_eval=(pl.col("search_s") - pl.col("train_s"))
                / pl.col("n_evaluations"),
                test_accuracy_halfwidth=(
                    pl.col("test_accuracy_high") - pl.col("test_accuracy_low")
                )
                / 2,
                test_mcc_halfwidth=(pl.col("test_mcc_high") - pl.col("test_mcc_low"))
                / 2,
            )
            for col in (
                "n_evaluations",
                "final_best_val",
                "best_val_in_budget",
                "test_accuracy",
                "test_mcc",
                "test_accuracy_halfwidth",
                "test_mcc_halfwidth",
                "s_per_eval",
                "first_eval_s",
                "overhead_per_eval",
                "gap_median_s",
                "search_s",
                "total_s",
                "startup_s",
                "peak_rss_mb",
            ):
                x = rt[col].cast(pl.Float64).to_numpy()
                with _quiet():  # all-NaN columns (nothing within the budget)
                    m, h = mean_ci(x)
                entry[col] = {"mean": finite_or_none(m), "ci95": finite_or_none(h)}
            entry["n_with_value_in_budget"] = int(np.isfinite(at).sum())
            entry["stopped_by"] = rt["stopped_by"].to_list()
            rp = repro.filter((pl.col("task") == task) & (pl.col("tool") == tool))
            if rp.height:
                entry["rerun"] = rp.drop("task", "tool").to_dicts()[0]
            res["tools"][tool] = entry
        out[task] = res
    return out


def plot(curves: pl.DataFrame, path: Path, bayes: dict[str, float]) -> Path:
    """Best-so-far validation accuracy vs evaluations (top) and seconds (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = curves["task"].unique(maintain_order=True).to_list()
    fig, axes = plt.subplots(
        2, len(tasks), figsize=(6.5 * len(tasks), 8), squeeze=False
    )
    for j, task in enumerate(tasks):
        c = curves.filter(pl.col("task") == task)
        t_max = float(c["end_s"].max())
        grid = np.linspace(0.0, t_max, 300)
        for tool in c["tool"].unique(maintain_order=True).to_list():
            ct = c.filter(pl.col("tool") == tool)
            seeds = ct["seed"].unique().sort().to_list()
            per_seed = [
                ct.filter(pl.col("seed") == q).sort("evaluation") for q in seeds
            ]
            n = max(s.height for s in per_seed)
            mat = np.full((len(seeds), n), np.nan)
            tmat = np.full((len(seeds), grid.size), np.nan)
            for i, s in enumerate(per_seed):
                b = s["best_so_far"].to_numpy()
                mat[i, : len(b)] = b
                mat[i, len(b) :] = b[-1] if len(b) else np.nan  # budget spent
                ends = s["end_s"].to_numpy()
                k = np.searchsorted(ends, grid, side="right") - 1
                ok = k >= 0
                tmat[i, ok] = b[k[ok]]
            for ax, x, m in (
                (axes[0, j], np.arange(1, n + 1), mat),
                (axes[1, j], grid, tmat),
            ):
                with np.errstate(all="ignore"), _quiet():
                    mean, h = mean_ci(m)
                # Only where every seed has a result (a mean over a changing
                # set of seeds would not be monotone).
                mean = np.where(np.isfinite(m).all(axis=0), mean, np.nan)
                (line,) = ax.plot(x, mean, label=f"{tool} (n={len(seeds)})")
                if np.isfinite(h).any():
                    ax.fill_between(
                        x, mean - h, mean + h, alpha=0.15, color=line.get_color()
                    )
        for i, xlabel in enumerate(("evaluations", "seconds since the search began")):
            ax = axes[i, j]
            if task in bayes:
                ax.axhline(bayes[task], ls="--", c="k", lw=1, label="Bayes accuracy")
            ax.set_title(task)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("best-so-far validation accuracy")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class _quiet:
    """Silence numpy's empty-slice warnings of NaN means (seeds not started)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def _fmt(e: dict[str, Any] | None, digits: int = 3) -> str:
    if not e or e.get("mean") is None:
        return "-"
    m = f"{e['mean']:.{digits}f}"
    return m if e.get("ci95") is None else f"{m} ± {e['ci95']:.{digits}f}"


def _boot(e: dict[str, Any]) -> str:
    h = e["mean"]
    return "" if h is None else f" (±{h:.3f})"


def _peak(tool: str, e: dict[str, Any]) -> str:
    """Peak RSS: peers' own processes; nasjax's standalone rerun if there is
    one, else (marked *) its shared process, compile caches of earlier runs
    included."""
    rerun = e.get("rerun") or {}
    if tool in NASJAX_TOOLS and rerun.get("rerun_peak_rss_mb") is not None:
        return f"{rerun['rerun_peak_rss_mb']:.0f}"
    mark = "*" if tool in NASJAX_TOOLS else ""
    return _fmt(e["peak_rss_mb"], 0) + mark


def _rerun(e: dict[str, Any]) -> str:
    rerun = e.get("rerun")
    if rerun is None:
        return "-"
    if rerun["reproduced"]:
        return "yes"
    n1, n2 = rerun.get("n_evaluations") or ("?", "?")
    if rerun.get("prefix_identical") and not rerun["same_n_evaluations"]:
        return f"same first {min(n1, n2)} evals; {n1} vs {n2} (time budget)"
    return f"no (max Δval {rerun['max_abs_val_diff']:.3g})"


def report_markdown(summary: dict[str, Any]) -> str:
    lines = []
    for task, res in summary["tasks"].items():
        lines.append(
            f"### {task} ({summary['config']['archs']} architectures, "
            f"{res['budget_s']:.0f} s budget per search)\n"
        )
        lines.append(
            "| tool | evals | best val | best val within budget | test acc (boot ±) | "
            "test MCC (boot ±) | s / eval | first result s | overhead s / eval | "
            "gap s (median) | peak RSS MiB | same-seed rerun reproduces |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for tool, e in res["tools"].items():
            cells = [
                tool,
                _fmt(e["n_evaluations"], 1),
                _fmt(e["final_best_val"]),
                _fmt(e["best_val_in_budget"]),
                _fmt(e["test_accuracy"]) + _boot(e["test_accuracy_halfwidth"]),
                _fmt(e["test_mcc"]) + _boot(e["test_mcc_halfwidth"]),
                _fmt(e["s_per_eval"], 1),
                _fmt(e["first_eval_s"], 0),
                _fmt(e["overhead_per_eval"], 1),
                _fmt(e["gap_median_s"], 1),
                _peak(tool, e),
                _rerun(e),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        if "bayes_accuracy" in res:
            lines.append(f"\nBayes accuracy: {res['bayes_accuracy']:.3f}")
        lines.append("")
    for tool, reason in summary["skipped"].items():
        lines.append(f"* skipped `{tool}`: {reason}")
    for err in summary["errors"]:
        lines.append(f"* failed run: {err['task']} {err['tool']} seed {err['seed']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- driver


@dataclasses.dataclass
class Task:
    """One task's data, shared by every tool and seed."""

    name: str
    cfg0: AppConfig
    dataset: Any
    data_path: Path
    ids: dict[str, np.ndarray]


@dataclasses.dataclass
class Bench:
    """Runs tools on tasks and collects the rows."""

    args: argparse.Namespace
    argv: list[str]
    out: Path
    pythons: dict[str, Path]
    runs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    curves: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    repro: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    data_s: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def tools(self) -> list[str]:
        return [t for t in self.args.tools if t in NASJAX_TOOLS or t in self.pythons]

    def load(self, task: str) -> Task:
        cfg0 = task_config(self.args, task)
        t0 = time.perf_counter()
        # built once: every tool and seed sees it
        dataset = load_data(cfg0.data, cfg0.features, cfg0.seed)
        self.data_s[task] = time.perf_counter() - t0
        data_path = self.out / "data" / f"{task}.npz"
        ids = export_splits(cfg0, dataset, data_path)
        print(
            f"[{task}] train {len(ids['train'])} val {len(ids['val'])} "
            f"test {len(ids['test'])} samples",
            file=sys.stderr,
        )
        return Task(task, cfg0, dataset, data_path, ids)

    def one(self, t: Task, tool: str, seed: int, rerun: bool = False):
        """One run: ``(run row, curve rows, record)``, or None if it failed."""
        run_dir = self.out / "runs" / t.name / tool / f"seed{seed}{'_rerun' * rerun}"
        key = {"task": t.name, "tool": tool, "seed": seed}
        if tool in NASJAX_TOOLS and rerun:  # in a fresh process
            got = run_nasjax_standalone(self.argv, t.name, tool, seed, run_dir)
            if got is None:
                self.errors.append(key | {"error": "see the worker.log"})
            return got
        if tool in NASJAX_TOOLS:
            cfg = nasjax_config(t.cfg0, tool, seed, self.args.population)
            return run_nasjax(cfg, t.dataset, run_dir)
        res = run_peer(
            tool, self.pythons[tool], self.args, t.cfg0, seed, t.data_path, run_dir
        )
        if res["returncode"] != 0:
            self.errors.append(key | {"error": res["error"]})
            print(
                f"[{t.name}] {tool} seed {seed} failed:\n{res['error']}",
                file=sys.stderr,
            )
            return None
        return peer_rows(
            res, t.name, seed, t.dataset, t.ids["test"], t.cfg0.evaluation.n_boot
        )

    def run_task(self, task: str, rerun: bool) -> None:
        t = self.load(task)
        records: dict[tuple[str, int], dict[str, Any]] = {}
        first = self.args.first_seed
        for seed in range(first, first + self.args.seeds):  # load hits tools alike
            for tool in self.tools:
                got = self.one(t, tool, seed)
                if got is None:
                    continue
                run, curve, records[(tool, seed)] = got
                self.add(t.name, tool, seed, run, curve)
            pl.DataFrame(self.runs).write_parquet(self.out / "runs.parquet")
            pl.DataFrame(self.curves).write_parquet(self.out / "curves.parquet")
        if not rerun or self.args.rerun_seed < 0:
            return
        seed = self.args.rerun_seed
        for tool in self.tools:
            first = records.get((tool, seed))
            got = self.one(t, tool, seed, rerun=True) if first else None
            if first is None or got is None:
                continue
            cmp = compare_records(first, got[2])
            self.repro.append(
                {"task": task, "tool": tool, "seed": seed}
                | cmp
                | {
                    "rerun_search_s": got[0]["search_s"],
                    "rerun_total_s": got[0]["total_s"],
                    "rerun_peak_rss_mb": got[0]["peak_rss_mb"],
                    "rerun_n_evaluations": got[0]["n_evaluations"],
                }
            )
            _repro_frame(self.repro).write_parquet(self.out / "repro.parquet")
            print(f"[{task}] {tool} rerun: {cmp}", file=sys.stderr)

    def add(self, task: str, tool: str, seed: int, run: dict, curve: list) -> None:
        key = {"task": task, "tool": tool, "seed": seed}
        best = best_so_far(np.asarray([row["val_accuracy"] for row in curve], float))
        self.curves.extend(
            key | row | {"best_so_far": float(b)}
            for row, b in zip(curve, best, strict=True)
        )
        final = float(np.nanmax(best)) if np.isfinite(best).any() else float("nan")
        run = key | run | {"final_best_val": final}
        self.runs.append(run)
        print(
            f"[{task}] {tool} seed {seed}: {run['n_evaluations']} evals, best val "
            f"{final:.4f} test {run.get('test_accuracy', float('nan')):.4f} (search "
            f"{run['search_s']:.0f} s, total {run['total_s']:.0f} s)",
            file=sys.stderr,
        )


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return {}
    if args.report_only:
        return report_only(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(vars(args), indent=1))
    tasks = TASKS if args.task == "both" else (args.task,)
    t_all = time.perf_counter()
    pythons: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    envs_used: dict[str, dict[str, str]] = {}
    for tool in args.tools:
        if tool in NASJAX_TOOLS:
            continue
        env = PEERS[tool].env
        python, why = ensure_env(env, Path(args.env_dir), not args.no_install)
        if python is None:
            skipped[tool] = why
            print(f"[peers] skipping {tool}: {why}", file=sys.stderr)
        else:
            pythons[tool] = python
            envs_used[env] = env_versions(Path(args.env_dir) / env)
    bench = Bench(args, argv, out, pythons)
    for task in tasks:
        bench.run_task(task, task in args.rerun_tasks)
    return write_report(
        args,
        pl.DataFrame(bench.runs),
        pl.DataFrame(bench.curves),
        _repro_frame(bench.repro),
        extra={
            "total_wall_s": time.perf_counter() - t_all,
            "skipped": skipped,
            "errors": bench.errors,
            "peer_envs": envs_used,
            "data_build_s": bench.data_s,
        },
    )


def _repro_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if rows:
        return pl.DataFrame(rows)
    return pl.DataFrame(schema={"task": pl.String, "tool": pl.String})


def write_report(
    args: argparse.Namespace,
    runs_df: pl.DataFrame,
    curves_df: pl.DataFrame,
    repro_df: pl.DataFrame,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Write the parquet files, ``peers.png``, ``summary.json`` and ``report.md``."""
    out = Path(args.out)
    runs_df.write_parquet(out / "runs.parquet")
    curves_df.write_parquet(out / "curves.parquet")
    repro_df.write_parquet(out / "repro.parquet")
    tasks_summary = analyse(runs_df, curves_df, repro_df, args.time_budget)
    bayes = {}
    if "synthetic" in tasks_summary:
        bayes["synthetic"] = 0.5 + args.signal
        tasks_summary["synthetic"]["bayes_accuracy"] = 0.5 + args.signal
    for task in tasks_summary:
        tasks_summary[task]["data_build_s"] = extra.get("data_build_s", {}).get(task)
    fig = plot(curves_df, out / "peers.png", bayes)
    summary = {
        "config": vars(args),
        "machine": machine_info(peer_envs=extra.get("peer_envs", {})),
        "total_wall_s": extra.get("total_wall_s"),
        "skipped": extra.get("skipped", {}),
        "errors": extra.get("errors", []),
        "tasks": tasks_summary,
        "files": {
            "runs": str(out / "runs.parquet"),
            "curves": str(out / "curves.parquet"),
            "repro": str(out / "repro.parquet"),
            "plot": str(fig),
        },
    }
    summary = _clean(json.loads(json.dumps(summary, default=_json_default)))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    md = report_markdown(summary)
    (out / "report.md").write_text(md)
    print(json.dumps(summary, indent=2) if args.json else md)
    return summary


def report_only(args: argparse.Namespace) -> dict[str, Any]:
    """``--report-only``: rebuild the report from the parquet files in ``--out``
    (e.g. of an interrupted run; its last seed may be partial), or with
    ``--merge-from A B ...`` from the runs of several output folders (e.g.
    one process per task), written into ``--out``."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sources = [Path(d) for d in args.merge_from] or [out]
    for d in sources:
        saved = d / "config.json"
        if saved.exists():  # the run's own settings, not this command's
            keep = {"out", "report_only", "json", "merge_from", "task", "rerun_tasks"}
            for k, v in json.loads(saved.read_text()).items():
                if k not in keep:
                    setattr(args, k, v)
            break

    def read(name: str) -> pl.DataFrame:
        frames = [pl.read_parquet(d / name) for d in sources if (d / name).exists()]
        frames = [f for f in frames if f.height]
        if not frames:
            return _repro_frame([])
        return pl.concat(frames, how="diagonal_relaxed")

    repro_df = read("repro.parquet")
    envs = {
        env: env_versions(Path(args.env_dir) / env)
        for env in ENVS
        if (Path(args.env_dir) / env / ".ready").exists()
    }
    return write_report(
        args,
        read("runs.parquet"),
        read("curves.parquet"),
        repro_df,
        {"peer_envs": envs},
    )


def _clean(x: Any) -> Any:
    """Non-finite floats become None (strict JSON)."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return str(x)


if __name__ == "__main__":
    main()
