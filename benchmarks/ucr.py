"""UCR/UEA classification: nasjax search vs MiniRocket, 1-NN DTW and published peers.

For each dataset (bundled with aeon, published train/test split) this runs

* the nasjax search (``bayes_morph`` by default) through
  :func:`nasjax.run_search` (:mod:`nasjax.app.run`) with
  ``data.source="ucr"``: validation folds drawn
  from the TRAIN instances, the best arch retrained per fold and evaluated
  once on the TEST instances as a K-fold ensemble, next to the majority,
  logistic (flattened series) and hand-designed deep baselines;
* MiniRocket (aeon's ``MiniRocketClassifier``: 10,000 features + ridge
  classifier) on the same split on this machine;
* 1-NN DTW (full warping window; aeon's ``KNeighborsTimeSeriesClassifier``)
  on the same split on this machine,

and puts them next to published accuracies of strong peers on the same
splits, each with its source (:data:`PUBLISHED`, :data:`SOURCES`; numbers
that could not be checked are left out rather than guessed).

A multi-objective search (objectives accuracy + parameter count) on one
dataset (``--mo-dataset``) draws validation accuracy (the search objective)
against the parameter count: its Pareto front next to the hand-designed
baselines (trained from scratch on the same folds), and the test accuracy of
the selected best arch and of the baselines (reported, never selected on).

Outputs under ``--out``: ``results.parquet`` (one row per dataset and
method), ``runs.parquet`` (one row per search), ``pareto.parquet`` (front
and baseline points), ``report.md`` (the tables), ``ucr_accuracy.png``,
``pareto_<dataset>.png`` and ``summary.json``.

Usage (the measured configuration of benchmarks/README.md)::

    .venv/bin/python benchmarks/ucr.py --out /tmp/nasjax_ucr

A tiny check that it runs end to end::

    .venv/bin/python benchmarks/ucr.py --datasets ItalyPowerDemand \\
        --population 2 --rounds 1 --steps 10 --mo-rounds 1 \\
        --mo-dataset ItalyPowerDemand --out /tmp/nasjax_ucr_tiny
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
import polars as pl

import nasjax  # noqa: F401  (must precede JAX initialisation)
from nasjax.app.config import (
    AppConfig,
    EnsembleConfig,
    EvaluationConfig,
    FinalFitConfig,
    SearchConfig,
    override,
)
from nasjax.app.run import run_search
from nasjax.baselines import classification as cb
from nasjax.compile_guard import drop_compiled
from nasjax.data import DataConfig, load_data, ucr
from nasjax.evaluate.classification import accuracy, bootstrap_indices
from nasjax.graph import SearchSpaceConfig, stack
from nasjax.nn import active_param_count
from nasjax.train import TrainConfig, split_ids

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info

DATASETS = (
    "ArrowHead",
    "BasicMotions",
    "GunPoint",
    "ItalyPowerDemand",
    "JapaneseVowels",
)
"""Default datasets (OSULeaf, 427 steps, also loads but is left out by default:
the most expensive on a 2-core CPU)."""

SOURCES: dict[str, str] = {
    "ROCKET": (
        "Dempster, Petitjean & Webb (2020), ROCKET: exceptionally fast and "
        "accurate time series classification using random convolutional "
        "kernels, Data Min. Knowl. Disc. 34:1454-1495; mean test accuracy over "
        "10 runs on the UCR 2018 train/test splits, results/results_ucr.csv of "
        "github.com/angus924/rocket"
    ),
    "InceptionTime": (
        "Ismail Fawaz et al. (2020), InceptionTime: finding AlexNet for time "
        "series classification, Data Min. Knowl. Disc. 34:1936-1962; test "
        "accuracy on the UCR 2018 train/test splits, "
        "results-InceptionTime-128.csv of github.com/hfawaz/InceptionTime"
    ),
    "1-NN DTW": (
        "Dau et al. (2019), The UCR time series archive, IEEE/CAA J. Autom. "
        "Sinica 6(6):1293-1305; the archive's summary table of 1-NN DTW with a "
        "full warping window (accuracy = 1 - published error rate)"
    ),
}
"""Where each published number comes from."""

PUBLISHED: dict[tuple[str, str], float] = {
    ("ArrowHead", "ROCKET"): 0.81428571,
    ("GunPoint", "ROCKET"): 1.0,
    ("ItalyPowerDemand", "ROCKET"): 0.96958212,
    ("OSULeaf", "ROCKET"): 0.94090909,
    ("ArrowHead", "InceptionTime"): 0.8457142857142858,
    ("GunPoint", "InceptionTime"): 1.0,
    ("ItalyPowerDemand", "InceptionTime"): 0.9650145772594751,
    ("OSULeaf", "InceptionTime"): 0.9421487603305784,
    ("ArrowHead", "1-NN DTW"): 1 - 0.2971,
    ("GunPoint", "1-NN DTW"): 1 - 0.0933,
    ("ItalyPowerDemand", "1-NN DTW"): 1 - 0.0496,
    ("OSULeaf", "1-NN DTW"): 1 - 0.4091,
}
"""Published test accuracy by (dataset, method); see :data:`SOURCES`. The
multivariate datasets (BasicMotions, JapaneseVowels) have no entry: no
per-dataset number for them could be checked, so none is cited."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--searcher", default="bayes_morph")
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--rounds", type=int, default=12, help="most search rounds")
    p.add_argument(
        "--time-budget-s",
        type=float,
        default=600.0,
        help="search seconds per dataset (search.time_budget_s; 0: rounds decide)",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=300,
        help="training steps of a fully trained arch (the top rung of the "
        "multi-fidelity schedule; rungs 75/150/300 by default)",
    )
    p.add_argument(
        "--final-steps",
        type=int,
        default=None,
        help="most steps of the final fit of the answer's fold models, from their "
        "searched weights, early-stopped on their fold (default 2 x --steps; 0: "
        "no final fit)",
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    p.add_argument("--max-nodes", type=int, default=8)
    p.add_argument("--max-width", type=int, default=16)
    p.add_argument(
        "--ops",
        nargs="+",
        default=["conv", "attention", "dense_gelu", "layernorm", "identity"],
        help="op vocabulary (recurrent ops over series of hundreds of steps are "
        "slow on a 2-core CPU; attention gives the last step a view of the whole "
        "series, which causal convs with a last-step readout lack)",
    )
    p.add_argument("--n-folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--baselines", nargs="*", default=["majority", "logistic"])
    p.add_argument("--no-minirocket", action="store_true")
    p.add_argument("--no-dtw", action="store_true")
    p.add_argument("--mo-dataset", default="ItalyPowerDemand", help="'' skips it")
    p.add_argument("--mo-rounds", type=int, default=3)
    p.add_argument("--mo-baselines", nargs="*", default=["lstm", "tcn", "transformer"])
    p.add_argument("--out", default="/tmp/nasjax_ucr")
    p.add_argument("--json", action="store_true", help="print summary JSON")
    args = p.parse_args(argv)
    unknown = [d for d in args.datasets if d not in ucr.available()]
    if unknown:
        p.error(f"unknown datasets {unknown}; bundled: {list(ucr.available())}")
    if min(args.population, args.rounds, args.steps, args.mo_rounds) < 1:
        p.error("--population, --rounds, --steps and --mo-rounds must be >= 1")
    if args.final_steps is not None and args.final_steps < 0:
        p.error("--final-steps must be >= 0")
    return args


def run_config(
    args: argparse.Namespace, name: str, changes: dict[str, Any] | None = None
) -> AppConfig:
    """The search configuration of one dataset, with dotted ``changes``
    (:func:`nasjax.app.config.override` keys) applied."""
    eval_every = args.steps // 4 if args.steps % 4 == 0 else args.steps
    train = TrainConfig(
        learning_rate=args.lr,
        n_steps=args.steps,
        eval_every=eval_every,
        batch_size=args.batch_size,
        warmup_steps=min(20, args.steps // 4),
        eval_batch_size=32,  # validation folds hold tens of instances
    )
    cfg = AppConfig(
        seed=args.seed,
        data=DataConfig(source="ucr", name=name, n_folds=args.n_folds),
        search_space=SearchSpaceConfig(
            max_nodes=args.max_nodes, max_width=args.max_width, ops=tuple(args.ops)
        ),
        search=SearchConfig(
            name=args.searcher,
            population=args.population,
            rounds=args.rounds,
            time_budget_s=args.time_budget_s or None,
        ),
        train=train,
        evaluation=EvaluationConfig(
            baselines=tuple(args.baselines),
            n_boot=args.n_boot,
            # the OOF ensemble's candidates: the top 4 archs' K-fold models
            # (final-fitted from their searched weights) and logistic
            ensemble=EnsembleConfig(top_k=4),
            final_fit=final_fit_config(args, eval_every),
        ),
    )
    return override(cfg, changes or {})


def final_fit_config(args: argparse.Namespace, eval_every: int) -> FinalFitConfig:
    """The final fit of the fold models: ``--final-steps`` (default twice the
    top rung) at the search's batch size, early stopping after 3 evaluations
    without a better fold validation loss."""
    steps = 2 * args.steps if args.final_steps is None else args.final_steps
    if steps == 0:
        return FinalFitConfig(enabled=False)
    steps = -(-steps // eval_every) * eval_every  # a multiple of eval_every
    return FinalFitConfig(
        n_steps=steps,
        eval_every=eval_every,
        patience=3,
        batch_size=args.batch_size,
        max_eval_samples=None,
    )


def _ci(y: np.ndarray, hit: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    idx = bootstrap_indices(len(y), n_boot, seed)
    stats = hit[idx].mean(axis=1)
    low, high = np.quantile(stats, [0.025, 0.975])
    return float(low), float(high)


def _panel(ds, ids: np.ndarray) -> np.ndarray:
    """``float64[n, F, L]`` (aeon's layout) of the padded model inputs."""
    x = np.asarray(ds.features)[:, np.asarray(ids) % ds.labels.shape[1]]
    return np.ascontiguousarray(np.transpose(x, (1, 2, 0)), np.float64)


def _measured(
    args, name: str, method: str, y: np.ndarray, pred: Any, t0: float, source: str
) -> dict[str, Any]:
    """A results row of a method run here: test accuracy with its bootstrap
    interval and the seconds since ``t0``."""
    hit = np.asarray(pred) == y
    low, high = _ci(y, hit, args.n_boot, args.seed)
    return {
        "dataset": name,
        "method": method,
        "accuracy": float(hit.mean()),
        "low": low,
        "high": high,
        "wall_s": time.perf_counter() - t0,
        "source": source,
    }


def peer_rows(args, name: str, data) -> list[dict[str, Any]]:
    """MiniRocket and 1-NN DTW on this machine, on the same split."""
    ds, folds, _ = data
    train = cb.train_instances(folds)
    test = cb.test_ids(folds)
    y_tr, y_te = cb.labels_of(ds, train), cb.labels_of(ds, test)
    rows = []
    if not args.no_minirocket:
        from aeon.classification.convolution_based import MiniRocketClassifier

        t0 = time.perf_counter()
        clf = MiniRocketClassifier(random_state=args.seed, n_jobs=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(_panel(ds, train), y_tr)
            pred = clf.predict(_panel(ds, test))
        rows.append(
            _measured(
                args,
                name,
                "MiniRocket (aeon, this machine)",
                y_te,
                pred,
                t0,
                "this machine: aeon MiniRocketClassifier on the padded series "
                "(+ 'observed' channel when lengths differ)",
            )
        )
    if not args.no_dtw:
        from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

        raw = ucr.load_ucr(name)
        t0 = time.perf_counter()
        knn = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw")
        equal = len({x.shape[1] for x in [*raw.x_train, *raw.x_test]}) == 1
        x_tr = np.stack(raw.x_train) if equal else raw.x_train
        x_te = np.stack(raw.x_test) if equal else raw.x_test
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            knn.fit(x_tr, raw.y_train)
            pred = knn.predict(x_te)
        rows.append(
            _measured(
                args,
                name,
                "1-NN DTW (aeon, this machine)",
                raw.y_test,
                pred,
                t0,
                "this machine: aeon 1-NN, DTW with a full window (dependent DTW "
                "for multivariate series; raw unequal lengths)",
            )
        )
    for method in SOURCES:
        acc = PUBLISHED.get((name, method))
        rows.append(
            {
                "dataset": name,
                "method": f"{method} (published)",
                "accuracy": acc,
                "low": None,
                "high": None,
                "wall_s": None,
                "source": SOURCES[method] if acc is not None else "not cited",
            }
        )
    return rows


def search_rows(args, name: str, data, out: Path) -> tuple[list[dict], dict]:
    """One search run: method rows (best arch + baselines) and the run row."""
    cfg = run_config(
        args,
        name,
        {"surrogate.n_init": args.population} if args.searcher == "bayes_morph" else {},
    )
    t0 = time.perf_counter()
    summary = run_search(cfg, out / "runs" / name, dataset=data, progress=False)
    wall = time.perf_counter() - t0
    rows = []
    best = summary["best"]
    acc = best["test"]["accuracy"]
    answer = summary.get("ensemble") if summary.get("answer") == "ensemble" else None
    if answer is not None:
        a = answer["metrics"]["accuracy"]
        rows.append(
            {
                "dataset": name,
                "method": f"nasjax {args.searcher} (answer: ensemble)",
                "accuracy": a["value"],
                "low": a["low"],
                "high": a["high"],
                "wall_s": wall,
                "source": "this machine",
            }
        )
    rows.append(
        {
            "dataset": name,
            "method": f"nasjax {args.searcher} (best arch)",
            "accuracy": acc["value"],
            "low": acc["low"],
            "high": acc["high"],
            "wall_s": wall,
            "source": "this machine",
        }
    )
    for base, entry in summary["baselines"].items():
        a = entry["metrics"]["accuracy"]
        rows.append(
            {
                "dataset": name,
                "method": f"{base} (nasjax baseline)",
                "accuracy": a["value"],
                "low": a["low"],
                "high": a["high"],
                "wall_s": None,
                "source": "this machine",
            }
        )
    d = summary["data"]
    run = {
        "dataset": name,
        "n_train": d["n_train"],
        "n_test": d["n_test"],
        "n_classes": d["n_classes"],
        "n_channels": d["n_channels"],
        "length": d["length"],
        "unequal_length": d["unequal_length"],
        "n_evaluations": summary["n_evaluations"],
        "n_failed": summary["n_failed"],
        "val_fitness": best["fitness"],
        "test_accuracy": acc["value"],
        "test_balanced_accuracy": best["test"]["balanced_accuracy"]["value"],
        "test_macro_f1": best["test"]["macro_f1"]["value"],
        "test_log_loss": best["test"]["log_loss"]["value"],
        "answer_test_accuracy": (
            answer["metrics"]["accuracy"]["value"] if answer is not None else None
        ),
        "ensemble_members": (
            ", ".join(f"{m['name'][:12]} {m['weight']:.2f}" for m in answer["members"])
            if answer is not None
            else None
        ),
        "final_fit_best_steps": (
            " ".join(map(str, best["final_fit"]["best_step"]))
            if best.get("final_fit")
            else None
        ),
        "best_params_count": best["params_count"],
        "best_fingerprint": best["fingerprint"],
        "search_s": summary["budget"]["search_seconds"],
        "wall_s": wall,
    }
    return rows, run


def multiobjective(args, name: str, out: Path) -> tuple[pl.DataFrame, Path, dict]:
    """The accuracy + params search on one dataset and its Pareto plot."""
    cfg = run_config(
        args,
        name,
        {
            "search.name": "bayes_morph",
            "search.rounds": args.mo_rounds,
            "search.objectives": ("accuracy", "params"),
            "surrogate.n_init": args.population,
            "evaluation.baselines": (),
        },
    )
    data = load_data(cfg.data, cfg.features, cfg.seed)
    ds, folds, norm = data
    t0 = time.perf_counter()
    summary = run_search(
        cfg, out / "runs" / f"{name}_multiobjective", dataset=data, progress=False
    )
    wall = time.perf_counter() - t0
    rows_df = pl.read_parquet(
        out / "runs" / f"{name}_multiobjective" / "results.parquet"
    )
    front = summary["pareto_front"]
    by_fp = {r["fingerprint"]: r for r in rows_df.iter_rows(named=True)}
    test = cb.test_ids(folds)
    y_te = cb.labels_of(ds, test)
    best_fp = summary["best"]["fingerprint"]
    points = []
    # Front members: validation accuracy as searched. Test accuracy only for the
    # selected best (its K fold models, as in summary.json): the search keeps
    # the fold models of its best arch only, and retraining the others from
    # scratch would drop the training they inherited from their parents.
    for fp in front["fingerprints"]:
        test_acc = None
        if fp == best_fp:
            test_acc = float(summary["best"]["test"]["accuracy"]["value"])
        points.append(
            {
                "model": ("best " if fp == best_fp else "front ") + fp[:8],
                "kind": "pareto",
                "params": int(by_fp[fp]["params_count"]),
                "val_accuracy": float(by_fp[fp]["fitness"]),
                "test_accuracy": test_acc,
            }
        )
    if best_fp not in front["fingerprints"]:
        row = by_fp[best_fp]
        points.append(
            {
                "model": "best " + best_fp[:8],
                "kind": "best",
                "params": int(row["params_count"]),
                "val_accuracy": float(row["fitness"]),
                "test_accuracy": float(summary["best"]["test"]["accuracy"]["value"]),
            }
        )
    key = jax.random.key(args.seed + 1)
    for j, base in enumerate(args.mo_baselines):
        arch = cb.deep_baseline_arch(base, ds)
        res = cb.fit_folds(
            jax.random.fold_in(key, 100 + j), stack([arch]), data, cfg.train
        )
        params = jax.tree.map(lambda x: x[0], res.params)
        proba = cb.predict_ensemble(arch, params, ds, norm, test)
        points.append(
            {
                "model": base,
                "kind": "baseline",
                "params": int(active_param_count(arch)),
                "val_accuracy": float(np.asarray(res.fitness)[0]),
                "test_accuracy": accuracy(y_te, proba),
            }
        )
    # Logistic regression on the flattened series: (W * F + 1) * C weights.
    n_cls = cb.n_classes(ds)
    flat = int(ds.meta.window) * int(ds.features.shape[-1])
    accs = []
    for k in range(int(folds.train.shape[0])):
        _, val_ids, _ = split_ids(folds, "val", k)
        p = cb.logistic_ids(ds, split_ids(folds, "val", k)[0], val_ids)
        accs.append(accuracy(cb.labels_of(ds, val_ids), p))
    points.append(
        {
            "model": "logistic",
            "kind": "baseline",
            "params": (flat + 1) * n_cls,
            "val_accuracy": float(np.mean(accs)),
            "test_accuracy": accuracy(y_te, cb.logistic(key, data)),
        }
    )
    df = pl.DataFrame(points, infer_schema_length=None)
    all_rows = rows_df.select("params_count", "fitness").filter(
        pl.col("fitness").is_not_nan()
    )
    path = plot_pareto(df, all_rows, out / f"pareto_{name}.png", name)
    info = {
        "dataset": name,
        "n_evaluations": summary["n_evaluations"],
        "front_size": len(front["fingerprints"]),
        "wall_s": wall,
        "best_fingerprint": summary["best"]["fingerprint"],
    }
    return df, path, info


def plot_pareto(points: pl.DataFrame, evals: pl.DataFrame, path: Path, name: str):
    """Validation accuracy vs parameter count (front + baselines), and the
    test accuracy of the selected best arch and of the baselines."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharex=True)
    front = points.filter(pl.col("kind") == "pareto").sort("params")
    base = points.filter(pl.col("kind") == "baseline")
    best = points.filter(pl.col("model").str.starts_with("best "))
    panels = (
        (axes[0], "val_accuracy", "validation: search objective (mean over folds)"),
        (axes[1], "test_accuracy", "test: selected best and baselines (reported only)"),
    )
    for ax, col, title in panels:
        if col == "val_accuracy":
            ax.scatter(
                evals["params_count"],
                evals["fitness"],
                s=10,
                c="0.7",
                label="searched archs",
            )
            if front.height:
                ax.step(front["params"], front[col], where="post", c="C3", lw=1)
                ax.scatter(
                    front["params"], front[col], s=30, c="C3", label="Pareto front"
                )
        if best.height:
            ax.scatter(
                best["params"],
                best[col],
                s=160,
                marker="*",
                c="C1",
                edgecolors="k",
                label="selected best",
            )
        for i, r in enumerate(base.iter_rows(named=True)):
            ax.scatter(
                [r["params"]],
                [r[col]],
                s=80,
                marker="D",
                c=f"C{(i + 4) % 10}",
                edgecolors="k",
                label=r["model"],
            )
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("accuracy")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{name}: accuracy vs parameter count (multi-objective search)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_accuracy(results: pl.DataFrame, path: Path) -> Path:
    """Test accuracy per dataset and method (95% CI where measured)."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(results["dataset"].to_list()))
    methods = list(dict.fromkeys(results["method"].to_list()))
    fig, ax = plt.subplots(figsize=(max(7, 1.6 * len(names)), 4.5))
    width = 0.8 / max(1, len(methods))
    for j, m in enumerate(methods):
        sub = results.filter(pl.col("method") == m)
        acc = {r["dataset"]: r for r in sub.iter_rows(named=True)}
        xs, ys, lo, hi = [], [], [], []
        for i, n in enumerate(names):
            r = acc.get(n)
            if r is None or r["accuracy"] is None:
                continue
            xs.append(i + (j - len(methods) / 2 + 0.5) * width)
            ys.append(r["accuracy"])
            lo.append(
                r["accuracy"] - (r["low"] if r["low"] is not None else r["accuracy"])
            )
            hi.append(
                (r["high"] if r["high"] is not None else r["accuracy"]) - r["accuracy"]
            )
        if xs:
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", ms=4, capsize=2, label=m)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel("test accuracy")
    ax.set_title("UCR/UEA published splits: test accuracy (95% bootstrap CI)")
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _fmt(r: dict[str, Any]) -> str:
    if r["accuracy"] is None:
        return "-"
    if r["low"] is None:
        return f"{r['accuracy']:.3f}"
    return f"{r['accuracy']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"


def report(
    results: pl.DataFrame,
    runs: pl.DataFrame,
    pareto: pl.DataFrame | None,
    args: argparse.Namespace,
) -> str:
    """The markdown tables."""
    names = list(dict.fromkeys(results["dataset"].to_list()))
    methods = list(dict.fromkeys(results["method"].to_list()))
    lines = [
        "| method | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for m in methods:
        rows = results.filter(pl.col("method") == m).iter_rows(named=True)
        sub = {r["dataset"]: r for r in rows}
        cells = [_fmt(sub[n]) if n in sub else "-" for n in names]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| dataset | train/test | classes | channels | length | evals | "
        "best params | val fitness | search s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs.iter_rows(named=True):
        length = f"{r['length']}" + (" (unequal)" if r["unequal_length"] else "")
        lines.append(
            f"| {r['dataset']} | {r['n_train']}/{r['n_test']} | {r['n_classes']} | "
            f"{r['n_channels']} | {length} | {r['n_evaluations']} | "
            f"{r['best_params_count']} | {r['val_fitness']:.3f} | {r['search_s']:.0f} |"
        )
    if pareto is not None and pareto.height:
        lines += [
            "",
            "| model | kind | params | validation acc. | test acc. |",
            "|---|---|---|---|---|",
        ]
        for r in pareto.sort("params").iter_rows(named=True):
            lines.append(
                f"| {r['model']} | {r['kind']} | {r['params']} | "
                f"{r['val_accuracy']:.3f} | {_num(r['test_accuracy'])} |"
            )
    lines += ["", "Sources:"] + [f"* {k}: {v}" for k, v in SOURCES.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    results, runs = [], []
    for name in args.datasets:
        cfg = run_config(args, name)
        data = load_data(cfg.data, cfg.features, cfg.seed)
        rows, run = search_rows(args, name, data, out)
        rows += peer_rows(args, name, data)
        results.extend(rows)
        runs.append(run)
        others = [f"{r['method']} {_fmt(r)}" for r in rows if r["accuracy"]]
        print(
            f"[{name}] search {run['wall_s']:.0f} s; " + ", ".join(others),
            file=sys.stderr,
        )
        pl.DataFrame(results, infer_schema_length=None).write_parquet(
            out / "results.parquet"
        )
        # The next dataset compiles its own programs: drop this one's, or a
        # long benchmark runs out of memory mappings (nasjax.compile_guard).
        drop_compiled()
        pl.DataFrame(runs).write_parquet(out / "runs.parquet")
    results_df = pl.DataFrame(results, infer_schema_length=None)
    runs_df = pl.DataFrame(runs)
    pareto_df, mo_info, pareto_png = None, None, None
    if args.mo_dataset:
        pareto_df, pareto_png, mo_info = multiobjective(args, args.mo_dataset, out)
        pareto_df.write_parquet(out / "pareto.parquet")
    fig = plot_accuracy(results_df, out / "ucr_accuracy.png")
    text = report(results_df, runs_df, pareto_df, args)
    (out / "report.md").write_text(text)
    summary = {
        "config": vars(args),
        "machine": machine_info(),
        "total_wall_s": time.perf_counter() - t_all,
        "results": results_df.to_dicts(),
        "runs": runs_df.to_dicts(),
        "multiobjective": mo_info,
        "pareto": None if pareto_df is None else pareto_df.to_dicts(),
        "sources": SOURCES,
        "files": {
            "results": str(out / "results.parquet"),
            "runs": str(out / "runs.parquet"),
            "report": str(out / "report.md"),
            "plot": str(fig),
            "pareto_plot": None if pareto_png is None else str(pareto_png),
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(text)
    return summary


if __name__ == "__main__":
    main()
