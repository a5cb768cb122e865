"""Search quality: best-so-far validation vs evaluations, per searcher and seed.

For each task (``synthetic``: the planted-signal panel with a known Bayes
accuracy of ``0.5 + signal``; ``sample``: the bundled real 5-minute candles)
every searcher runs ``--seeds`` times at an equal budget (same population x
rounds, same training steps, same bucket, same data) through
:func:`nasjax.run_search` (:mod:`nasjax.app.run`, configured by an
:class:`~nasjax.app.config.AppConfig`); the dataset is built once per task
(:func:`nasjax.data.load_data`) and passed in. Per run it records the
best-so-far validation fitness after every evaluation, the test accuracy of
the best arch (the one-touch test evaluation of ``summary.json``) and the wall
time. The hand-designed LSTM and Transformer baselines are trained once per
task and seed with the same training configuration and evaluated on the same
test period.

Outputs under ``--out``:

* ``curves.parquet``: one row per (task, searcher, seed, evaluation),
* ``runs.parquet``: one row per run (final best, test accuracy, wall time),
* ``baselines.parquet``: test accuracy of the baselines per task and seed,
* ``search_quality.png``: mean +- 95% CI (t) of best-so-far vs evaluations,
* ``summary.json`` and ``report.md``: the tables below.

Tables: the evaluations each searcher needs to reach random search's final
best (paired by seed; the goal for ``bayes_morph`` is at most half the
budget), and final test accuracy vs the baselines.

Usage (the full benchmark; slow on a 2-core CPU)::

    .venv/bin/python benchmarks/search_quality.py --task both --seeds 5

A tiny check that it runs end to end::

    .venv/bin/python benchmarks/search_quality.py --task synthetic --seeds 2 \\
        --population 4 --rounds 2 --steps 20 --out /tmp/sq_tiny
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
from nasjax.app.config import AppConfig, EvaluationConfig, SearchConfig, override
from nasjax.app.run import run_search
from nasjax.baselines.registry import BASELINES
from nasjax.data import DataConfig, FeatureConfig, load_data
from nasjax.evaluate.metrics import accuracy
from nasjax.evaluate.report import split_arrays
from nasjax.graph import SearchSpaceConfig
from nasjax.search import SEARCHERS
from nasjax.train.data import split_ids

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import finite_or_none, machine_info, mean_ci

TASKS = ("synthetic", "sample")
DEFAULT_SEARCHERS = ("bayes_morph", "random", "evolution", "tpe")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--task", choices=(*TASKS, "both"), default="both")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. n-1")
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=100, help="training steps per arch")
    p.add_argument(
        "--time-budget-s",
        type=float,
        default=None,
        help="equal wall-clock: every search stops after this many seconds "
        "(search.time_budget_s; --rounds is then an upper bound); the tables "
        "compare best-so-far at equal time as well as at equal evaluations",
    )
    p.add_argument("--searchers", nargs="+", default=list(DEFAULT_SEARCHERS))
    p.add_argument("--baselines", nargs="*", default=["lstm", "transformer"])
    p.add_argument("--out", default="/tmp/nasjax_search_quality")
    p.add_argument("--json", action="store_true", help="print summary JSON")
    p.add_argument("--max-nodes", type=int, default=8)
    p.add_argument("--max-width", type=int, default=32)
    p.add_argument("--window", type=int, default=32)
    p.add_argument("--signal", type=float, default=0.1, help="synthetic signal")
    p.add_argument("--synthetic-steps", type=int, default=4000, help="bars")
    p.add_argument("--synthetic-symbols", type=int, default=4, help="coins")
    p.add_argument("--folds", type=int, default=3, help="walk-forward folds")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep --out's finished runs and baselines and run only the missing "
        "ones (an interrupted run resumes from its checkpoint)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the tables and plot from --out's parquet files (e.g. of "
        "an interrupted run) without running anything",
    )
    p.add_argument("--batch", type=int, default=None, help="training batch size")
    p.add_argument(
        "--features",
        choices=("default", "minimal"),
        default="default",
        help="minimal: last return and one volatility per coin (no calendar, "
        "volume or market features)",
    )
    p.add_argument(
        "--ops", nargs="+", default=None, help="op vocabulary (default: every op)"
    )
    args = p.parse_args(argv)
    unknown = [s for s in args.searchers if s not in SEARCHERS]
    if unknown:
        p.error(f"unknown searchers {unknown}; known: {sorted(SEARCHERS)}")
    if args.seeds < 1 or args.population < 1 or args.rounds < 1 or args.steps < 1:
        p.error("--seeds, --population, --rounds and --steps must be >= 1")
    return args


def base_config(args: argparse.Namespace, task: str) -> AppConfig:
    """The run configuration shared by every searcher and seed of a task."""
    default = AppConfig()
    eval_every = args.steps // 2 if args.steps % 2 == 0 else args.steps
    train = dataclasses.replace(
        default.train,
        n_steps=args.steps,
        eval_every=eval_every,
        warmup_steps=min(default.train.warmup_steps, args.steps // 4),
    )
    if args.lr is not None:
        train = dataclasses.replace(train, learning_rate=args.lr)
    if args.batch is not None:
        train = dataclasses.replace(train, batch_size=args.batch)
    features = default.features
    if args.features == "minimal":
        features = FeatureConfig.minimal()
    return AppConfig(
        data=DataConfig(
            source=task,
            window=args.window,
            n_folds=args.folds,
            synthetic_signal=args.signal,
            synthetic_symbols=args.synthetic_symbols,
            synthetic_steps=args.synthetic_steps,
        ),
        features=features,
        search_space=SearchSpaceConfig(
            max_nodes=args.max_nodes,
            max_width=args.max_width,
            ops=None if args.ops is None else tuple(args.ops),
        ),
        search=SearchConfig(
            population=args.population,
            rounds=args.rounds,
            time_budget_s=args.time_budget_s,
        ),
        train=train,
        # trained once per task and seed below, not per run
        evaluation=EvaluationConfig(baselines=()),
    )


def warmup_overrides(name: str, population: int) -> dict[str, Any]:
    """Equal warm-up: model-based searchers start modelling after one round.

    Dotted :class:`~nasjax.app.config.AppConfig` keys (for
    :func:`~nasjax.app.config.override`): ``bayes_morph``'s ``n_init`` is
    ``surrogate.n_init``, TPE's ``n_startup_trials`` ``search.startup_trials``.
    """
    if name == "bayes_morph":
        return {"surrogate.n_init": population}
    if name == "tpe":
        return {"search.startup_trials": population}
    return {}


def searcher_config(
    cfg0: AppConfig, name: str, seed: int, population: int
) -> AppConfig:
    """``cfg0`` for one searcher and seed (with its equal warm-up)."""
    return override(
        cfg0,
        {"search.name": name, "seed": seed} | warmup_overrides(name, population),
    )


def run_one(cfg: AppConfig, dataset, out_dir: Path) -> tuple[dict, list[dict]]:
    """One search run: the per-run row and the per-evaluation rows."""
    t0 = time.perf_counter()
    summary = run_search(cfg, out_dir, dataset=dataset, progress=False)
    wall = time.perf_counter() - t0
    df = pl.read_parquet(out_dir / "results.parquet")
    fitness = df["fitness"].to_numpy().astype(np.float64)
    best = np.fmax.accumulate(np.where(np.isfinite(fitness), fitness, -np.inf))
    best = np.where(np.isfinite(best), best, np.nan)
    key = {"task": cfg.data.source, "searcher": cfg.search.name, "seed": cfg.seed}
    curve = [
        key
        | {
            "evaluation": i + 1,
            "round": int(r),
            "fitness": float(f),
            "best_so_far": float(b),
            "params_count": int(pc),
            "elapsed_s": float(t),
        }
        for i, (r, f, b, pc, t) in enumerate(
            zip(
                df["round"],
                fitness,
                best,
                df["params_count"],
                df["elapsed_s"],
                strict=True,
            )
        )
    ]
    test = summary["best"]["test"]["accuracy"]
    run = key | {
        "n_evaluations": len(fitness),
        "n_failed": int(summary["n_failed"]),
        "final_best_val": float(np.nanmax(fitness)),
        "test_accuracy": float(test["value"]),
        "test_accuracy_low": float(test["low"]),
        "test_accuracy_high": float(test["high"]),
        "best_params_count": int(summary["best"]["params_count"]),
        "best_fingerprint": summary["best"]["fingerprint"],
        "train_s": float(df["train_seconds"].sum()),
        "wall_s": wall,
    }
    return run, curve


def baseline_rows(cfg: AppConfig, dataset, names: list[str]) -> list[dict]:
    """Test accuracy of the baselines, keyed like ``run_search``'s."""
    ds, folds, _ = dataset
    _, _, _, k_base = jax.random.split(jax.random.key(cfg.seed), 4)
    _, _, test_ids = split_ids(folds, "test")
    labels = split_arrays(ds, test_ids)["labels"]
    rows = []
    for j, name in enumerate(names):
        t0 = time.perf_counter()
        p = BASELINES[name].fit_predict(
            jax.random.fold_in(k_base, j), dataset, split="test", cfg=cfg.train
        )
        rows.append(
            {
                "task": cfg.data.source,
                "baseline": name,
                "seed": cfg.seed,
                "test_accuracy": accuracy(labels, np.asarray(p)),
                "wall_s": time.perf_counter() - t0,
            }
        )
    return rows


def first_reaching(curve: np.ndarray, target: float) -> int | None:
    """1-based evaluation where ``curve >= target`` first (None: never)."""
    hit = np.flatnonzero(np.nan_to_num(curve, nan=-np.inf) >= target - 1e-12)
    return int(hit[0]) + 1 if hit.size else None


def best_at_time(times: np.ndarray, best: np.ndarray, t: float) -> float:
    """Best-so-far of one run at ``t`` seconds (NaN before its first result).

    Args:
        times: ``float[E]`` elapsed seconds at which each evaluation's result
            was known (nondecreasing).
        best: ``float[E]`` best-so-far after each evaluation.
        t: The time.
    """
    known = np.flatnonzero(times <= t + 1e-9)
    return float(best[known[-1]]) if known.size else float("nan")


def equal_time(c: pl.DataFrame, searchers: list[str]) -> dict[str, Any] | None:
    """Best-so-far at the common horizon (the shortest run's last result),
    per searcher and seed, and each searcher's paired difference to random.

    ``None`` when the curves carry no ``elapsed_s`` (older outputs).
    """
    if "elapsed_s" not in c.columns:
        return None
    runs = {
        (s, q): g.sort("evaluation")
        for (s, q), g in c.group_by(["searcher", "seed"], maintain_order=True)
    }
    horizon = min(float(g["elapsed_s"].max()) for g in runs.values())
    at = {
        k: best_at_time(g["elapsed_s"].to_numpy(), g["best_so_far"].to_numpy(), horizon)
        for k, g in runs.items()
    }
    out: dict[str, Any] = {"horizon_s": horizon, "searchers": {}}
    for s in searchers:
        seeds = sorted(q for (name, q) in runs if name == s)
        vals = np.array([at[(s, q)] for q in seeds])
        m, h = mean_ci(vals)
        entry: dict[str, Any] = {"mean": float(m), "ci95": finite_or_none(h)}
        paired = [q for q in seeds if ("random", q) in at]
        if s != "random" and paired:
            d = np.array([at[(s, q)] - at[("random", q)] for q in paired])
            dm, dh = mean_ci(d)
            entry["minus_random"] = {
                "mean": float(dm),
                "ci95": finite_or_none(dh),
                "wins": int(np.sum(d > 0)),
                "ties": int(np.sum(d == 0)),
                "n_seeds": len(paired),
            }
        out["searchers"][s] = entry
    return out


def analyse(curves: pl.DataFrame, runs: pl.DataFrame, base: pl.DataFrame) -> dict:
    """Per task: evaluations to reach random's final best, test vs baselines."""
    out: dict[str, Any] = {}
    for task in runs["task"].unique(maintain_order=True).to_list():
        c = curves.filter(pl.col("task") == task)
        r = runs.filter(pl.col("task") == task)
        searchers = r["searcher"].unique(maintain_order=True).to_list()
        budget = int(r["n_evaluations"].to_numpy().max())
        res: dict[str, Any] = {"budget": budget, "searchers": {}}
        curve_of = {
            (s, seed): c.filter((pl.col("searcher") == s) & (pl.col("seed") == seed))
            .sort("evaluation")["best_so_far"]
            .to_numpy()
            for s in searchers
            for seed in r.filter(pl.col("searcher") == s)["seed"].to_list()
        }
        for s in searchers:
            rs = r.filter(pl.col("searcher") == s).sort("seed")
            seeds = rs["seed"].to_list()
            entry: dict[str, Any] = {"seeds": seeds}
            for col in ("final_best_val", "test_accuracy", "wall_s"):
                m, h = mean_ci(rs[col].to_numpy())
                entry[col] = {"mean": float(m), "ci95": finite_or_none(h)}
            if "random" in searchers and s != "random":
                need = []
                for seed in seeds:
                    if ("random", seed) not in curve_of:
                        continue
                    target = float(np.nanmax(curve_of[("random", seed)]))
                    need.append(first_reaching(curve_of[(s, seed)], target))
                reached = [n for n in need if n is not None]
                entry["evals_to_random_final_best"] = {
                    "per_seed": need,
                    "median_if_reached": finite_or_none(np.median(reached))
                    if reached
                    else None,
                    "n_reached": len(reached),
                    "n_within_half_budget": sum(n <= budget / 2 for n in reached),
                    "n_seeds": len(need),
                }
                # Time-budgeted runs differ in length: the common prefix.
                n = min(len(curve_of[(s, q)]) for q in seeds)
                mean_curve = np.nanmean(
                    np.stack([curve_of[(s, q)][:n] for q in seeds]), axis=0
                )
                rnd_final = np.nanmean(
                    [np.nanmax(curve_of[("random", q)]) for q in seeds]
                )
                entry["mean_curve_evals_to_random_mean_final"] = first_reaching(
                    mean_curve, float(rnd_final)
                )
            res["searchers"][s] = entry
        res["equal_time"] = equal_time(c, searchers)
        b = base.filter(pl.col("task") == task) if base.height else base
        res["baselines"] = {}
        for name in (
            b["baseline"].unique(maintain_order=True).to_list() if b.height else []
        ):
            m, h = mean_ci(
                b.filter(pl.col("baseline") == name)["test_accuracy"].to_numpy()
            )
            res["baselines"][name] = {"mean": float(m), "ci95": finite_or_none(h)}
        out[task] = res
    return out


def plot(curves: pl.DataFrame, path: Path, bayes: dict[str, float]) -> Path:
    """Best-so-far vs evaluations (top row) and vs wall-clock seconds of
    search (bottom row, when the curves carry ``elapsed_s``), mean +- 95% CI
    over seeds, one column per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = curves["task"].unique(maintain_order=True).to_list()
    timed = "elapsed_s" in curves.columns
    fig, axes = plt.subplots(
        2 if timed else 1,
        len(tasks),
        figsize=(6 * len(tasks), 8 if timed else 4),
        squeeze=False,
    )
    for col, task in enumerate(tasks):
        c = curves.filter(pl.col("task") == task)
        for s in c["searcher"].unique(maintain_order=True).to_list():
            cs = c.filter(pl.col("searcher") == s)
            runs = [
                g.sort("evaluation")
                for _, g in cs.group_by("seed", maintain_order=True)
            ]
            n = min(g.height for g in runs)
            mat = np.stack([g["best_so_far"].to_numpy()[:n] for g in runs])
            _band(axes[0][col], np.arange(1, n + 1), mat, f"{s} (n={len(runs)})")
            if timed:
                end = min(float(g["elapsed_s"].max()) for g in runs)
                grid = np.linspace(0.0, end, 200)
                at = np.array(
                    [
                        [
                            best_at_time(
                                g["elapsed_s"].to_numpy(),
                                g["best_so_far"].to_numpy(),
                                t,
                            )
                            for t in grid
                        ]
                        for g in runs
                    ]
                )
                _band(axes[1][col], grid, at, f"{s} (n={len(runs)})")
        for row, xlabel in enumerate(
            ("evaluations", "wall-clock seconds of search")[: 2 if timed else 1]
        ):
            ax = axes[row][col]
            if task in bayes:
                ax.axhline(bayes[task], ls="--", c="k", lw=1, label="Bayes accuracy")
            ax.set_title(task)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("best-so-far validation accuracy")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _band(ax: Any, x: np.ndarray, mat: np.ndarray, label: str) -> None:
    """Mean line and 95% CI band of ``mat`` (``[seeds, len(x)]``) on ``ax``."""
    m, h = mean_ci(mat)
    (line,) = ax.plot(x, m, label=label)
    if np.isfinite(h).any():
        ax.fill_between(x, m - h, m + h, alpha=0.2, color=line.get_color())


def report_markdown(summary: dict) -> str:
    lines = []
    for task, res in summary["tasks"].items():
        lines.append(f"### {task} (budget {res['budget']} evaluations)\n")
        lines.append(
            "| searcher | final best val | test accuracy | wall s | evals to "
            "random's final best (per seed) | within half budget |"
        )
        lines.append("|---|---|---|---|---|---|")
        for s, e in res["searchers"].items():
            ev = e.get("evals_to_random_final_best")
            per = (
                ", ".join("-" if n is None else str(n) for n in ev["per_seed"])
                if ev
                else ""
            )
            half = f"{ev['n_within_half_budget']}/{ev['n_seeds']}" if ev else ""
            lines.append(
                f"| {s} | {_fmt(e['final_best_val'])} | {_fmt(e['test_accuracy'])} "
                f"| {_fmt(e['wall_s'], 0)} | {per} | {half} |"
            )
        for name, b in res["baselines"].items():
            lines.append(f"| baseline {name} | | {_fmt(b)} | | | |")
        eq = res.get("equal_time")
        if eq is not None:
            lines.append(
                f"\nAt equal wall-clock ({eq['horizon_s']:.0f} s of search, the "
                "shortest run's last result): best-so-far validation, and the "
                "paired difference to random (mean ± 95% CI over seeds, wins)\n"
            )
            lines.append("| searcher | best val at equal time | minus random | wins |")
            lines.append("|---|---|---|---|")
            for s, e in eq["searchers"].items():
                d = e.get("minus_random")
                diff = "" if d is None else _fmt(d, 4)
                wins = "" if d is None else f"{d['wins']}/{d['n_seeds']}"
                lines.append(f"| {s} | {_fmt(e)} | {diff} | {wins} |")
        if "bayes_accuracy" in res:
            lines.append(f"\nBayes accuracy: {res['bayes_accuracy']:.3f}")
        lines.append("")
    return "\n".join(lines)


def _fmt(e: dict, digits: int = 3) -> str:
    ci = e.get("ci95")
    m = f"{e['mean']:.{digits}f}"
    return m if ci is None else f"{m} ± {ci:.{digits}f}"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = TASKS if args.task == "both" else (args.task,)
    runs, curves, base = [], [], []
    t_all = time.perf_counter()
    if (args.report_only or args.resume) and (out / "runs.parquet").exists():
        runs = pl.read_parquet(out / "runs.parquet").to_dicts()
        curves = pl.read_parquet(out / "curves.parquet").to_dicts()
        if (out / "baselines.parquet").exists():
            base = pl.read_parquet(out / "baselines.parquet").to_dicts()
    if args.report_only:
        tasks = ()
    done = {(r["task"], r["searcher"], r["seed"]) for r in runs}
    base_done = {(r["task"], r["seed"]) for r in base}
    for task in tasks:
        cfg0 = base_config(args, task)
        # built once: every run of a task sees it
        dataset = load_data(cfg0.data, cfg0.features, cfg0.seed)
        for seed in range(args.seeds):
            for name in args.searchers:
                if (task, name, seed) in done:
                    continue
                cfg = searcher_config(cfg0, name, seed, args.population)
                run_dir = out / "runs" / task / name / f"seed{seed}"
                run, curve = run_one(cfg, dataset, run_dir)
                runs.append(run)
                curves.extend(curve)
                # After every run, so an interrupted benchmark keeps its runs.
                pl.DataFrame(runs).write_parquet(out / "runs.parquet")
                pl.DataFrame(curves).write_parquet(out / "curves.parquet")
                print(
                    f"[{task}] {name} seed {seed}: best val "
                    f"{run['final_best_val']:.4f} test {run['test_accuracy']:.4f} "
                    f"({run['wall_s']:.0f} s)",
                    file=sys.stderr,
                )
            if (task, seed) not in base_done:
                base.extend(
                    baseline_rows(
                        dataclasses.replace(cfg0, seed=seed), dataset, args.baselines
                    )
                )
                pl.DataFrame(base).write_parquet(out / "baselines.parquet")
        pl.DataFrame(runs).write_parquet(out / "runs.parquet")
        pl.DataFrame(curves).write_parquet(out / "curves.parquet")
    runs_df, curves_df = pl.DataFrame(runs), pl.DataFrame(curves)
    base_df = pl.DataFrame(base)
    base_df.write_parquet(out / "baselines.parquet")
    tasks_summary = analyse(curves_df, runs_df, base_df)
    bayes = {}
    if "synthetic" in tasks_summary:
        bayes["synthetic"] = 0.5 + args.signal
        tasks_summary["synthetic"]["bayes_accuracy"] = 0.5 + args.signal
    fig = plot(curves_df, out / "search_quality.png", bayes)
    summary = {
        "config": vars(args),
        "machine": machine_info(),
        "total_wall_s": time.perf_counter() - t_all,
        "tasks": tasks_summary,
        "files": {
            "curves": str(out / "curves.parquet"),
            "runs": str(out / "runs.parquet"),
            "baselines": str(out / "baselines.parquet"),
            "plot": str(fig),
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    md = report_markdown(summary)
    (out / "report.md").write_text(md)
    print(json.dumps(summary, indent=2) if args.json else md)
    return summary


if __name__ == "__main__":
    main()
