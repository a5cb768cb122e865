"""Accuracy vs parameter count on crypto direction: the multi-objective front.

Runs ``bayes_morph`` with ``objectives=("accuracy", "params")`` (qParEGO-style
scalarised expected improvement, see :mod:`nasjax.search.bayes_morph`) on the
bundled real 5-minute sample (or the synthetic planted-signal panel) and
puts its Pareto front next to the hand-designed baselines, each trained with
the same training configuration on the same walk-forward folds:

* deep baselines (``lstm``, ``transformer``, ``tcn`` by default): one model
  per fold; validation accuracy is the mean over folds (the search's fitness),
  test accuracy the fold models' averaged probability, like the search's best;
* logistic regression on the same features: ``(W * F + 1)`` weights.

Outputs under ``--out``: ``pareto.parquet`` (one row per point),
``evaluations.parquet`` (every searched arch), ``pareto_<task>.png`` (left:
validation accuracy of every searched arch, the front and the baselines;
right: test accuracy of the selected best and of the baselines) and
``summary.json``. Test accuracy is reported for the selected best only (the
search keeps the fold models of its best arch alone); the front itself is
chosen on validation.

Usage::

    .venv/bin/python benchmarks/pareto.py --task sample --rounds 6 --steps 150
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import polars as pl

import nasjax  # noqa: F401  (must precede JAX initialisation)
from nasjax.app.config import (
    AppConfig,
    EvaluationConfig,
    SearchConfig,
    SurrogateConfig,
)
from nasjax.app.run import run_search
from nasjax.baselines.deep import DEEP_ARCHS
from nasjax.baselines.registry import BASELINES, default_spec, fit_arch, predict_arch
from nasjax.data import DataConfig, load_data
from nasjax.evaluate.metrics import accuracy
from nasjax.evaluate.report import split_arrays
from nasjax.graph import SearchSpaceConfig
from nasjax.nn import active_param_count
from nasjax.train.config import TrainConfig
from nasjax.train.data import split_ids

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info
from ucr import plot_pareto


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--task", choices=("sample", "synthetic"), default="sample")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps", type=int, default=150, help="training steps per arch")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--max-nodes", type=int, default=8)
    p.add_argument("--max-width", type=int, default=32)
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--baselines", nargs="*", default=["lstm", "transformer", "tcn"])
    p.add_argument("--out", default="/tmp/nasjax_pareto")
    args = p.parse_args(argv)
    unknown = [b for b in args.baselines if b not in DEEP_ARCHS]
    if unknown:
        p.error(f"unknown deep baselines {unknown}; known: {sorted(DEEP_ARCHS)}")
    return args


def run_config(args: argparse.Namespace) -> AppConfig:
    """The multi-objective search configuration."""
    eval_every = args.steps // 3 if args.steps % 3 == 0 else args.steps
    train = TrainConfig(
        n_steps=args.steps,
        eval_every=eval_every,
        batch_size=args.batch,
        learning_rate=args.lr,
        warmup_steps=min(20, args.steps // 4),
    )
    return AppConfig(
        seed=args.seed,
        data=DataConfig(source=args.task, window=args.window, n_folds=args.folds),
        search_space=SearchSpaceConfig(
            max_nodes=args.max_nodes, max_width=args.max_width
        ),
        search=SearchConfig(
            name="bayes_morph",
            population=args.population,
            rounds=args.rounds,
            objectives=("accuracy", "params"),
        ),
        surrogate=SurrogateConfig(n_init=args.population),
        train=train,
        evaluation=EvaluationConfig(baselines=()),
    )


def baseline_points(
    cfg: AppConfig, data, names: list[str], key: jax.Array
) -> list[dict[str, Any]]:
    """Validation (mean over folds) and test accuracy and size of each baseline."""
    ds, folds, _ = data
    n_folds = int(folds.train.shape[0])
    _, _, test_ids = split_ids(folds, "test")
    y_test = split_arrays(ds, test_ids)["labels"]
    points = []
    for j, name in enumerate(names):
        arch = DEEP_ARCHS[name](default_spec(ds))
        val_acc, test_proba = [], []
        for k in range(n_folds):
            params = fit_arch(
                jax.random.fold_in(key, 10 * j + k),
                arch, data, fold=k, cfg=cfg.train,
            )  # fmt: skip
            _, _, val_ids = split_ids(folds, "val", k)
            p_val = predict_arch(arch, params, data, split="val", fold=k)
            val_acc.append(accuracy(split_arrays(ds, val_ids)["labels"], p_val))
            test_proba.append(predict_arch(arch, params, data, split="test", fold=k))
        points.append(
            {
                "model": name,
                "kind": "baseline",
                "params": int(active_param_count(arch)),
                "val_accuracy": float(np.mean(val_acc)),
                "test_accuracy": accuracy(y_test, np.mean(test_proba, axis=0)),
            }
        )
    n_weights = int(ds.meta.window) * int(ds.features.shape[-1]) + 1
    val_acc = []
    for k in range(n_folds):
        _, _, val_ids = split_ids(folds, "val", k)
        p_val = BASELINES["logistic"].fit_predict(key, data, split="val", fold=k)
        val_acc.append(accuracy(split_arrays(ds, val_ids)["labels"], p_val))
    p_test = BASELINES["logistic"].fit_predict(key, data, split="test")
    points.append(
        {
            "model": "logistic",
            "kind": "baseline",
            "params": n_weights,
            "val_accuracy": float(np.mean(val_acc)),
            "test_accuracy": accuracy(y_test, p_test),
        }
    )
    return points


def front_points(summary: dict, rows: pl.DataFrame) -> list[dict[str, Any]]:
    """The front's members (validation only) and the selected best (with test)."""
    by_fp = {r["fingerprint"]: r for r in rows.iter_rows(named=True)}
    best_fp = summary["best"]["fingerprint"]
    best_test = float(summary["best"]["test"]["accuracy"]["value"])
    points = []
    front = summary["pareto_front"]["fingerprints"]
    for fp in [*front, *([] if best_fp in front else [best_fp])]:
        points.append(
            {
                "model": ("best " if fp == best_fp else "front ") + fp[:8],
                "kind": "pareto" if fp in front else "best",
                "params": int(by_fp[fp]["params_count"]),
                "val_accuracy": float(by_fp[fp]["fitness"]),
                "test_accuracy": best_test if fp == best_fp else None,
            }
        )
    return points


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = run_config(args)
    data = load_data(cfg.data, cfg.features, cfg.seed)
    t0 = time.perf_counter()
    summary = run_search(cfg, out / "search", dataset=data, progress=True)
    search_s = time.perf_counter() - t0
    rows = pl.read_parquet(out / "search" / "results.parquet")
    points = front_points(summary, rows)
    t1 = time.perf_counter()
    points += baseline_points(cfg, data, args.baselines, jax.random.key(args.seed + 1))
    baselines_s = time.perf_counter() - t1
    df = pl.DataFrame(points, infer_schema_length=None)
    df.write_parquet(out / "pareto.parquet")
    evals = rows.select("params_count", "fitness").filter(
        pl.col("fitness").is_not_nan()
    )
    evals.write_parquet(out / "evaluations.parquet")
    png = plot_pareto(df, evals, out / f"pareto_{args.task}.png", args.task)
    result = {
        "args": vars(args),
        "config": dataclasses.asdict(cfg),
        "machine": machine_info(),
        "n_evaluations": summary["n_evaluations"],
        "front_size": len(summary["pareto_front"]["fingerprints"]),
        "search_s": search_s,
        "baselines_s": baselines_s,
        "points": points,
        "plot": str(png),
    }
    (out / "summary.json").write_text(json.dumps(result, indent=1, default=str))
    print(df)
    print(f"plot: {png}")
    return result


if __name__ == "__main__":
    main()
