"""The price-direction steps of :func:`nasjax.app.finish.finish`.

The best arch is retrained on the last fold and scored next to the baselines
once on the held-out test bars: P(up) metrics with block-bootstrap intervals,
the trading view (forward returns, costs, equity) and calibration; it is
exported as a servable model (:func:`nasjax.app.export.export_model`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np

from nasjax.app.config import AppConfig
from nasjax.app.export import Preprocess, export_model
from nasjax.app.finish import BestEvaluation, TestOutcome, best_record
from nasjax.baselines.registry import BASELINES, fit_arch, predict_arch
from nasjax.data import Dataset, FoldedData, Folds
from nasjax.data.schema import timeframe_str
from nasjax.evaluate.bootstrap import block_indices, default_block
from nasjax.evaluate.metrics import accuracy
from nasjax.evaluate.report import evaluation_report, split_arrays
from nasjax.graph.arch import Arch
from nasjax.train.data import split_ids
from nasjax.typing import Key, Params


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
        **coverage_summary(dataset),
    }


def coverage_summary(dataset: Dataset) -> dict[str, Any]:
    """What became of each coin's bars: ``coins`` and ``dropped_coins``.

    ``coins[SYM]`` holds ``samples`` (labelled samples of the coin) and,
    when the dataset was aligned from candles, ``first`` and ``last`` (its
    first and last bar, ISO UTC), ``bars`` (bars on the panel), ``dropped``
    (bars not on it), ``filled`` (missing bars forward-filled) and
    ``absent`` (panel bars where the coin has no bar: before its listing,
    after its delisting, in long gaps). ``dropped_coins`` maps each coin left
    out to the reason (e.g. fewer bars than ``data.min_history_bars``).
    """
    meta = dataset.meta
    samples = np.asarray(dataset.label_mask).sum(axis=0)
    rep = meta.align
    coins: dict[str, dict[str, Any]] = {}
    for i, sym in enumerate(meta.symbols):
        entry: dict[str, Any] = {}
        if rep is not None and sym in rep.bars_per_symbol:
            first, last = rep.periods[sym]
            entry = {
                "first": _utc_iso(first),
                "last": _utc_iso(last),
                "bars": rep.bars_per_symbol[sym],
                "dropped": rep.dropped_per_symbol[sym],
                "filled": rep.filled_per_symbol[sym],
                "absent": rep.absent_per_symbol[sym],
            }
        coins[sym] = {**entry, "samples": int(samples[i])}
    dropped = {} if rep is None else dict(rep.dropped_symbols)
    return {"coins": coins, "dropped_coins": dropped}


def _utc_iso(when: dt.datetime) -> str:
    """ISO text of a datetime in UTC (naive = UTC), ``Z`` suffixed."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when.isoformat(timespec="seconds") + "Z"


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
    cfg: AppConfig,
) -> dict[str, Any]:
    """Per-fold validation accuracy of the best member and a CI of their mean.

    The params are those the search selected on each fold (its best
    evaluation step); predictions cover every validation id of each fold
    (the search may score a strided subset, ``train.max_eval_samples``).
    """
    ds, folds, _ = data
    n_boot = cfg.evaluation.n_boot
    labels = np.asarray(ds.labels).reshape(-1)
    n_folds = int(folds.train.shape[0])
    ys, ps = [], []
    for k in range(n_folds):
        _, val_ids, _ = split_ids(folds, "val", k)
        params = jax.tree.map(lambda x, k=k: x[k], fold_params)
        p = predict_arch(
            arch,
            params,
            data,
            split="val",
            fold=k,
            batch_size=cfg.train.eval_batch_size,
        )
        ys.append(labels[val_ids])
        ps.append(p)
    fold_acc = [accuracy(y, p) for y, p in zip(ys, ps, strict=True)]
    rng = np.random.default_rng(cfg.seed)
    boot = np.zeros(n_boot)
    for y, p in zip(ys, ps, strict=True):
        idx = block_indices(rng, len(y), default_block(len(y)), n_boot)
        boot += np.array([accuracy(y[i], p[i]) for i in idx]) / n_folds
    low, high = np.quantile(boot, [0.025, 0.975]) if n_boot else (np.nan,) * 2
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
            f"accuracies ({n_boot} resamples; blocks of each fold's "
            "time-ordered validation predictions resampled within the fold)"
        ),
        "note": (
            "optimistic: the architecture and its early-stopping step were "
            "selected on these validation ids; the test metrics are unbiased"
        ),
    }


class DirectionTask:
    """Price direction on candle data (a :class:`~nasjax.app.finish.FinishTask`)."""

    def validation(
        self, best: BestEvaluation, data: FoldedData, cfg: AppConfig
    ) -> dict[str, Any]:
        """Per-fold validation accuracy and a block-bootstrap CI of its mean."""
        return _validation_metrics(best.arch, best.fold_params, best.row, data, cfg)

    def test(
        self,
        best: BestEvaluation,
        data: FoldedData,
        cfg: AppConfig,
        k_final: Key,
        k_base: Key,
        plot_dir: Path | None,
    ) -> TestOutcome:
        """Retrain the best arch on the last fold, score it and the baselines."""
        ds, folds, _ = data
        _, _, test_ids = split_ids(folds, "test")
        params = fit_arch(k_final, best.arch, data, cfg=cfg.train)
        predictions = {
            "best": predict_arch(
                best.arch, params, data, batch_size=cfg.train.eval_batch_size
            )
        }
        for j, name in enumerate(cfg.evaluation.baselines):
            predictions[name] = BASELINES[name].fit_predict(
                jax.random.fold_in(k_base, j),
                data,
                split="test",
                cfg=cfg.train,
            )
        arrays = split_arrays(ds, test_ids)
        report = evaluation_report(
            predictions,
            arrays["labels"],
            arrays["forward_return"],
            arrays["coin"],
            arrays["time"],
            symbols=list(ds.meta.symbols),
            reference="best",
            n_boot=cfg.evaluation.n_boot,
            seed=cfg.seed,
            real_data=cfg.data.source != "synthetic",
            plot_dir=plot_dir,
        )
        return TestOutcome(report, params, list(report.get("plots", [])), {})

    def late_plots(
        self, outcome: TestOutcome, data: FoldedData, plot_dir: Path
    ) -> list[str]:
        """None: the report drew the direction plots."""
        return []

    def data_summary(self, data: FoldedData, cfg: AppConfig) -> dict[str, Any]:
        """Source, symbols, bars, window, horizon and the test period."""
        return {"source": cfg.data.source, **_data_summary(data.dataset, data.folds)}

    def metrics(
        self,
        best: BestEvaluation,
        validation: dict[str, Any],
        outcome: TestOutcome,
        data_summary: dict[str, Any],
        data: FoldedData,
    ) -> dict[str, Any]:
        """Validation and test metrics, the test period, the training fold."""
        entry = outcome.report["models"]["best"]
        return {
            "fingerprint": best.row["fingerprint"],
            "validation": validation,
            "test": entry["metrics"],
            "test_trading": entry.get("trading"),
            "n_test": outcome.report["n"],
            "test_period": [data_summary["test_start"], data_summary["test_end"]],
            "trained_on_fold": _last_fold(data),
        }

    def export(
        self,
        export_dir: Path,
        best: BestEvaluation,
        outcome: TestOutcome,
        data: FoldedData,
        cfg: AppConfig,
        history: list[dict[str, Any]],
        metrics: dict[str, Any],
    ) -> None:
        """The servable model: arch, params, preprocessing of the last fold."""
        ds, _, norm = data
        last = _last_fold(data)
        preprocess = Preprocess(
            features=cfg.features,
            feature_names=tuple(ds.meta.feature_names),
            symbols=tuple(ds.meta.symbols),
            window=int(ds.meta.window),
            horizon=int(ds.meta.horizon),
            timeframe=_timeframe(ds, cfg.data.timeframe),
            mean=np.asarray(norm.mean)[last],
            std=np.asarray(norm.std)[last],
        )
        export_model(
            export_dir,
            best.arch,
            outcome.model,
            preprocess,
            lineage=history,
            metrics=metrics,
        )

    def summary(
        self,
        best: BestEvaluation,
        validation: dict[str, Any],
        outcome: TestOutcome,
        history: list[dict[str, Any]],
        cfg: AppConfig,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``best`` and ``baselines``."""
        models = outcome.report["models"]
        head = {
            "best": best_record(
                best.row,
                history,
                validation=validation,
                test=models["best"]["metrics"],
                test_trading=models["best"].get("trading"),
            ),
            "baselines": {name: models[name] for name in cfg.evaluation.baselines},
        }
        return head, {}


def _last_fold(data: FoldedData) -> int:
    return int(data.folds.train.shape[0]) - 1
