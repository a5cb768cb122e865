"""What every peer runner shares (stdlib + numpy only: runners run in the
peers' own virtual environments, which do not have nasjax).

Protocol. ``benchmarks/peers.py`` writes the splits of a task to an ``.npz``
(:func:`load_splits` documents the keys) and runs a runner script with the
peer environment's python::

    python RUNNER --data SPLITS.npz --out DIR --seed S --max-trials N \\
        --time-budget SECONDS --steps STEPS --eval-every E --batch-size B

The runner searches, then writes ``DIR/result.json`` (see :class:`Recorder`)
and ``DIR/test_proba.npy`` (``float32[n_test]`` P(up) of its best model, in
the order of the test ids). Scoring (accuracy, MCC, bootstrap intervals) is
done by the main process with nasjax's own evaluation code, so every tool is
scored the same way.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def parse_args(argv: list[str] | None = None, **extra: Any) -> argparse.Namespace:
    """The runner command line (``extra``: name -> default of further flags)."""
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True, help="splits .npz")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-trials", type=int, default=16)
    p.add_argument("--time-budget", type=float, default=600.0, help="seconds")
    p.add_argument("--steps", type=int, default=100, help="optimizer steps / trial")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=64)
    for name, default in extra.items():
        p.add_argument(
            f"--{name.replace('_', '-')}", type=type(default), default=default
        )
    return p.parse_args(argv)


def load_splits(path: str | Path) -> dict[str, np.ndarray]:
    """The exported splits.

    Keys: ``x_train``, ``x_val``, ``x_test``: ``float32[n, W, F]`` windows,
    normalised with the training part's statistics exactly as nasjax
    normalises them (the flattened form used by tabular models is
    ``x.reshape(n, W * F)``, time-major); ``y_train``, ``y_val``, ``y_test``:
    ``int32[n]`` labels (1 = up). ``x_val`` holds exactly the validation
    samples nasjax scores architectures on.
    """
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    Linux: ``VmHWM`` (reset by ``exec``; ``ru_maxrss`` is not, so a child
    started from a large parent would report the parent's size). Elsewhere:
    ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 2**20


class Recorder:
    """Per-trial timestamps and scores, written as ``result.json``.

    Times are seconds since the recorder was made (the start of the search,
    after imports and data loading, whose duration is ``startup_s``).
    ``start_s``/``end_s`` of a trial bracket its training (model fitting,
    validation included); the gaps between them are the searcher's own
    overhead (proposing, building, bookkeeping).
    """

    def __init__(self, tool: str, args: argparse.Namespace, t_process: float) -> None:
        self.t0 = time.perf_counter()
        self.tool = tool
        self.args = args
        self.startup_s = self.t0 - t_process
        self.trials: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def over_budget(self) -> bool:
        return self.now() >= self.args.time_budget

    def add(self, start_s: float, end_s: float, val: float, **extra: Any) -> None:
        self.trials.append(
            {"trial": len(self.trials), "start_s": start_s, "end_s": end_s}
            | {"val_accuracy": float(val)}
            | extra
        )

    def write(self, test_proba: np.ndarray | None, search_s: float) -> Path:
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        if test_proba is not None:
            np.save(out / "test_proba.npy", np.asarray(test_proba, np.float32))
        result = {
            "tool": self.tool,
            "seed": self.args.seed,
            "max_trials": self.args.max_trials,
            "time_budget_s": self.args.time_budget,
            "startup_s": self.startup_s,
            "search_s": search_s,
            "total_s": self.now(),
            "peak_rss_mb": peak_rss_mb(),
            "python": platform.python_version(),
            "trials": self.trials,
            "has_test_proba": test_proba is not None,
        } | self.info
        path = out / "result.json"
        path.write_text(json.dumps(result, indent=1, default=_default))
        return path


def _default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
