"""The end of a search: the one-touch test evaluation, export and summary.

:func:`finish` computes the best member's validation metrics (with a
block-bootstrap interval), retrains it on the last fold, evaluates it and the
baselines **once** on the held-out test period, exports it to ``best/``, draws
the plots and writes ``summary.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import numpy as np

from nasjax.baselines.registry import BASELINES, fit_arch, predict_arch
from nasjax.data import Dataset, FoldedData, Folds
from nasjax.data.schema import timeframe_str
from nasjax.distributed.mesh import is_main_process
from nasjax.evaluate.bootstrap import block_indices, default_block
from nasjax.evaluate.metrics import accuracy
from nasjax.evaluate.report import evaluation_report, split_arrays
from nasjax.evaluate.search_plots import plot_search
from nasjax.export import Preprocess, export_model, lineage
from nasjax.graph import draw_arch
from nasjax.graph.arch import Arch
from nasjax.run_loop import LoopState
from nasjax.search import pareto_front_of
from nasjax.train.data import split_ids
from nasjax.typing import Key, Params

if TYPE_CHECKING:
    from nasjax.run import RunConfig


def _iso(ts: np.ndarray, i: int) -> str | int:
    """ISO time of bar ``i`` (the bar index when no timestamp is known)."""
    if 0 <= i < len(ts):
        return str(np.datetime_as_string(ts[i], unit="s")) + "Z"
    return int(i)


def _data_summary(dataset: Dataset, folds: Folds) -> dict[str, Any]:
    meta = dataset.meta
    ts = np.asarray(meta.timestamps)
    start, stop = (int(v) for v in np.asarray(folds.test_range))
    return {
        "symbols": list(meta.symbols),
        "n_bars": int(dataset.features.shape[0]),
        "n_features": int(dataset.features.shape[-1]),
        "window": int(meta.window),
        "horizon": int(meta.horizon),
        "test_start": _iso(ts, start),
        "test_end": _iso(ts, stop - 1),
        "test_bars": [start, stop],
    }


def _timeframe(ds: Dataset, default: str | None) -> str:
    """Bar size of the dataset (smallest step between timestamps)."""
    ts = np.asarray(ds.meta.timestamps).astype("datetime64[us]").view(np.int64)
    steps = np.diff(ts)
    steps = steps[steps > 0]
    if steps.size:
        return timeframe_str(int(steps.min()))
    if default is None:
        raise ValueError("cannot infer the timeframe of a one-bar dataset")
    return default


def _validation_metrics(
    arch: Arch,
    fold_params: Params,
    row: Mapping[str, Any],
    data: FoldedData,
    cfg: RunConfig,
) -> dict[str, Any]:
    """Per-fold validation accuracy of the best member and a CI of their mean.

    The params are those the search selected on each fold (its best
    evaluation step); predictions cover every validation id of each fold
    (the search may score a strided subset, ``train.max_eval_samples``).
    """
    ds, folds, norm = data
    labels = np.asarray(ds.labels).reshape(-1)
    n_folds = int(folds.train.shape[0])
    ys, ps = [], []
    for k in range(n_folds):
        _, val_ids, _ = split_ids(folds, "val", k)
        params = jax.tree.map(lambda x, k=k: x[k], fold_params)
        p = predict_arch(
            arch,
            params,
            ds,
            folds,
            norm,
            split="val",
            fold=k,
            batch_size=cfg.train.eval_batch_size,
        )
        ys.append(labels[val_ids])
        ps.append(p)
    fold_acc = [accuracy(y, p) for y, p in zip(ys, ps, strict=True)]
    rng = np.random.default_rng(cfg.seed)
    boot = np.zeros(cfg.n_boot)
    for y, p in zip(ys, ps, strict=True):
        idx = block_indices(rng, len(y), default_block(len(y)), cfg.n_boot)
        boot += np.array([accuracy(y[i], p[i]) for i in idx]) / n_folds
    low, high = np.quantile(boot, [0.025, 0.975]) if cfg.n_boot else (np.nan,) * 2
    return {
        "accuracy": {
            "value": float(np.mean(fold_acc)),
            "low": float(low),
            "high": float(high),
        },
        "fold_accuracy": fold_acc,
        "fold_n": [len(y) for y in ys],
        "search_fold_accuracy": [row[f"val_accuracy_fold{k}"] for k in range(n_folds)],
        "fitness": row["fitness"],
        "ci": (
            "95% moving-block bootstrap of the mean over folds of the fold "
            f"accuracies ({cfg.n_boot} resamples; blocks of each fold's "
            "time-ordered validation predictions resampled within the fold)"
        ),
        "note": (
            "optimistic: the architecture and its early-stopping step were "
            "selected on these validation ids; the test metrics are unbiased"
        ),
    }


def finish(
    cfg: RunConfig,
    loop: LoopState,
    data: FoldedData,
    k_final: Key,
    k_base: Key,
    out: Path,
    stopped_by: str,
) -> dict[str, Any]:
    """Test evaluation (touched once), export, plots and ``summary.json``."""
    ds, folds, norm = data
    rows = loop.rows
    _, best, best_arch, best_fold_params = best_evaluation(loop)
    validation = _validation_metrics(best_arch, best_fold_params, best, data, cfg)

    # The test period is touched once, here.
    _, _, test_ids = split_ids(folds, "test")
    params = fit_arch(k_final, best_arch, ds, folds, norm, cfg=cfg.train)
    predictions = {
        "best": predict_arch(
            best_arch, params, ds, folds, norm, batch_size=cfg.train.eval_batch_size
        )
    }
    for j, name in enumerate(cfg.baselines):
        predictions[name] = BASELINES[name].fit_predict(
            jax.random.fold_in(k_base, j), ds, folds, norm, split="test", cfg=cfg.train
        )
    arrays = split_arrays(ds, test_ids)
    # With several processes all of them train and predict above (the
    # population trainer is a collective); only process 0 writes below.
    writer = is_main_process()
    plot_dir = out / "plots"
    if writer:
        plot_dir.mkdir(exist_ok=True)
    report = evaluation_report(
        predictions,
        arrays["labels"],
        arrays["forward_return"],
        arrays["coin"],
        arrays["time"],
        symbols=list(ds.meta.symbols),
        reference="best",
        n_boot=cfg.n_boot,
        seed=cfg.seed,
        real_data=cfg.data != "synthetic",
        plot_dir=plot_dir if writer else None,
    )
    plots = [str(out / "best_arch.png"), *report.get("plots", [])]
    if writer:
        plots += arch_and_search_plots(loop, out, plot_dir)

    best_entry = report["models"]["best"]
    data_summary = {"source": cfg.data, **_data_summary(ds, folds)}
    last = int(folds.train.shape[0]) - 1
    history = lineage(rows, best["fingerprint"])
    metrics = {
        "fingerprint": best["fingerprint"],
        "validation": validation,
        "test": best_entry["metrics"],
        "test_trading": best_entry.get("trading"),
        "n_test": report["n"],
        "test_period": [data_summary["test_start"], data_summary["test_end"]],
        "trained_on_fold": last,
    }
    preprocess = Preprocess(
        features=cfg.features,
        feature_names=tuple(ds.meta.feature_names),
        symbols=tuple(ds.meta.symbols),
        window=int(ds.meta.window),
        horizon=int(ds.meta.horizon),
        timeframe=_timeframe(ds, cfg.timeframe),
        mean=np.asarray(norm.mean)[last],
        std=np.asarray(norm.std)[last],
    )
    metrics = json.loads(json.dumps(metrics, default=_json_default))
    export_dir = (out / "best").absolute()
    if writer:
        export_model(
            export_dir, best_arch, params, preprocess, lineage=history, metrics=metrics
        )

    summary: dict[str, Any] = {
        "best": best_record(
            best,
            history,
            validation=validation,
            test=best_entry["metrics"],
            test_trading=best_entry.get("trading"),
        ),
        "baselines": {name: report["models"][name] for name in cfg.baselines},
        **search_record(cfg, loop, stopped_by, data_summary),
        "n_test": report["n"],
        **closing_record(cfg, loop, export_dir, plots),
    }
    return write_summary(summary, out, writer)


class BestEvaluation(NamedTuple):
    """The search's best evaluation.

    Attributes:
        index: Its index in ``loop.rows``.
        row: Its result row.
        arch: Its architecture.
        fold_params: Its trained params on every fold, leaves ``[K, ...]``.
    """

    index: int
    row: dict[str, Any]
    arch: Arch
    fold_params: Params


def best_evaluation(loop: LoopState) -> BestEvaluation:
    """The best evaluation of a finished search.

    Raises:
        RuntimeError: If every evaluation failed.
    """
    if loop.best_row < 0 or loop.best_fold_params is None:
        raise RuntimeError("every evaluation failed; nothing to evaluate on test")
    row = loop.rows[loop.best_row]
    return BestEvaluation(
        loop.best_row, row, Arch.from_json(row["arch_json"]), loop.best_fold_params
    )


def arch_and_search_plots(loop: LoopState, out: Path, plot_dir: Path) -> list[str]:
    """Draw the best arch (``out/best_arch.png``) and the search plots.

    Returns:
        The search plots' paths (the arch drawing's path is known).
    """
    import matplotlib.pyplot as plt

    best = best_evaluation(loop)
    title = best.row["fingerprint"]
    plt.close(draw_arch(best.arch, out / "best_arch.png", title=title))
    return plot_search(loop.rows, best.index, plot_dir)


def best_record(
    best: dict[str, Any], history: list[dict[str, Any]], **entries: Any
) -> dict[str, Any]:
    """The summary's ``best`` entry: the row's identity, ``entries``, lineage."""
    return {
        "fingerprint": best["fingerprint"],
        "arch": json.loads(best["arch_json"]),
        "params_count": best["params_count"],
        "fitness": best["fitness"],
        "round": best["round"],
        **entries,
        "lineage": [step["fingerprint"] for step in history],
    }


def closing_record(
    cfg: RunConfig, loop: LoopState, export_dir: Path, plots: Any
) -> dict[str, Any]:
    """The summary's last entries: the Pareto front, export folder and plots."""
    return {
        "pareto_front": _pareto_summary(cfg, loop),
        "export": str(export_dir),
        "plots": plots,
    }


def write_summary(summary: dict[str, Any], out: Path, writer: bool) -> dict[str, Any]:
    """``summary`` made JSON-safe, written to ``out/summary.json`` by the writer."""
    summary = json.loads(json.dumps(summary, default=_json_default))
    if writer:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def search_record(
    cfg: RunConfig, loop: LoopState, stopped_by: str, data: dict[str, Any]
) -> dict[str, Any]:
    """The summary entries describing the search itself (shared by the
    direction and the classification finish steps)."""
    rows = loop.rows
    return {
        "n_evaluations": len(rows),
        "n_failed": int(sum(row["failed"] for row in rows)),
        "searcher": cfg.searcher,
        "searcher_options": {k: v for k, v in dict(cfg.searcher_options).items()},
        "data": data,
        "progress": list(loop.progress),
        "budget": {
            "rounds": cfg.rounds,
            "max_evaluations": cfg.max_evaluations,
            "time_budget_s": cfg.time_budget_s,
            "rounds_done": len(loop.progress),
            "stopped_by": stopped_by,
            "search_seconds": loop.elapsed_s,
        },
    }


def _pareto_summary(cfg: RunConfig, loop: LoopState) -> dict[str, Any]:
    """The searcher's Pareto front over its objectives (accuracy vs parameters
    for a single-objective search)."""
    objectives = tuple(dict(cfg.searcher_options).get("objectives", ()))
    if len(objectives) < 2:
        objectives = ("accuracy", "params")
    front = pareto_front_of(loop.searcher, objectives)
    return {
        "objectives": list(front.objectives),
        "fingerprints": list(front.fingerprints),
        "values": np.asarray(front.values).tolist(),
    }


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return str(x)
