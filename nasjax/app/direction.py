"""The price-direction steps of :func:`nasjax.app.finish.finish`.

The search's best architectures are final-fitted on the last fold from their
searched weights (early-stopping on the older part of its validation block),
an ensemble is selected and both are calibrated on the recent part, the
selection block (:mod:`nasjax.app.answer`); the answer (the better of the
single best arch and the ensemble there), the single best arch
and the baselines (deep ones at the same final-fit budget) are scored once
on the held-out test bars: P(up) metrics with block-bootstrap intervals,
paired tests, the trading view and calibration. The answer is exported as a
servable model (:func:`nasjax.app.export.export_model`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.app import answer as ans
from nasjax.app.config import AppConfig
from nasjax.app.export import Model, Preprocess, export_model
from nasjax.app.finish import BestEvaluation, TestOutcome, best_record
from nasjax.baselines.registry import BASELINES, predict_arch
from nasjax.data import Dataset, FoldedData, Folds
from nasjax.data.dataset import gather_windows
from nasjax.data.schema import timeframe_str
from nasjax.evaluate.bootstrap import block_indices, default_block, paired_test
from nasjax.evaluate.metrics import accuracy
from nasjax.evaluate.report import evaluation_report, split_arrays
from nasjax.graph.arch import Arch
from nasjax.train.data import split_ids
from nasjax.typing import Key, Params

logger = logging.getLogger("nasjax.run")


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
        """Final fit, ensemble and calibration on the last fold, then the
        answer, the single best arch and the baselines scored on test."""
        ds = data.dataset
        ev = cfg.evaluation
        stop_data, select_data = ans.stop_and_select(data, cfg)
        _, val_ids, test_ids = split_ids(select_data.folds, "test")
        labels = np.asarray(ds.labels).reshape(-1)
        y_val = labels[val_ids]
        finalists = [
            ans.Finalist(e.row, e.arch, e.fold_params) for e in (best, *best.runners_up)
        ]
        clock = (time.perf_counter(), time.process_time())
        fits = ans.final_fit(k_final, finalists, stop_data, cfg)
        cands, skipped = ans.candidates(
            finalists, fits, select_data, cfg, jax.random.fold_in(k_final, 1)
        )
        clock = _lap(f"final fit of {len(fits)} finalists", clock)
        single, ensemble, selection = ans.deliverables(cands, y_val, cfg)
        answer = ans.choose(single, ensemble, y_val)
        pre = _preprocess(data, cfg)
        windows = np.asarray(
            gather_windows(ds.features, jnp.asarray(test_ids), ds.meta.window)
        )
        delivered = {"best": single}
        if ensemble is not None:
            delivered["ensemble"] = ensemble
        # Test P(up) through the exported inference function itself.
        predictions = {
            name: Model(
                None, None, pre, members=d.members, calibration=d.calibration
            ).predict_windows(windows, use_export=False)
            for name, d in delivered.items()
        }
        clock = _lap("ensemble, calibration and answer predictions", clock)
        deep = ans.deep_baselines(
            jax.random.fold_in(k_base, len(ev.baselines)), ev.baselines, stop_data, cfg
        )
        clock = _lap("deep baselines", clock)
        # A classical baseline that is also an ensemble candidate is the same
        # model (fitted on the same training ids): its test P(up) is reused.
        fitted = {c.name: c.test for c in cands if c.fit is None}
        for j, name in enumerate(ev.baselines):
            if name in deep:
                predictions[name] = deep[name][0]
            elif name in fitted:
                predictions[name] = fitted[name]
            else:
                predictions[name] = BASELINES[name].fit_predict(
                    jax.random.fold_in(k_base, j), data, split="test", cfg=cfg.train
                )
        clock = _lap("classical baselines", clock)
        arrays = split_arrays(ds, test_ids)
        report = evaluation_report(
            predictions,
            arrays["labels"],
            arrays["forward_return"],
            arrays["coin"],
            arrays["time"],
            symbols=list(ds.meta.symbols),
            reference=answer,
            n_boot=ev.n_boot,
            seed=cfg.seed,
            real_data=cfg.data.source != "synthetic",
            plot_dir=plot_dir,
            timestamps=np.asarray(ds.meta.timestamps),
        )
        y_test = arrays["labels"]
        for name, d in delivered.items():
            entry = report["models"][name]
            entry["vs_baselines"] = {
                b: paired_test(
                    y_test,
                    predictions[name],
                    predictions[b],
                    n_boot=ev.n_boot,
                    seed=cfg.seed,
                )
                for b in ev.baselines
            }
            entry["validation_block"] = ans.validation_block(
                y_val, d.val, d.calibration, ev.n_boot, cfg.seed
            )
            entry["calibration"] = ans.calibration_record(
                d.calibration,
                y_test,
                d.test_raw,
                predictions[name],
                ev.n_boot,
                cfg.seed,
            )
        _lap("test report", clock)
        fit_records = {c.name: c.fit for c in cands}
        warnings = ans.kept_start_warnings(
            {f"arch {n[:12]}": r for n, r in fit_records.items()}
            | {f"baseline {n}": r for n, (_, r) in deep.items()}
        )
        for name, d in delivered.items():
            bad = [
                m.name
                for m in d.members
                if (fit_records.get(m.name) or {}).get("untrained")
            ]
            if name == answer and bad:
                msg = f"the answer ({name}) holds untrained members {bad}"
                logger.warning(msg)
                warnings.append(msg)
        extra = {
            "answer": answer,
            "delivered": delivered,
            "preprocess": pre,
            "candidates": [
                {"name": c.name, "kind": c.member.kind, "fit": c.fit} for c in cands
            ],
            "selection": selection,
            "skipped_candidates": skipped,
            "deep_fits": {n: r for n, (_, r) in deep.items()},
            "warnings": warnings,
        }
        return TestOutcome(report, fits[0].params, list(report.get("plots", [])), extra)

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
        """The answer's metrics: validation, test, calibration, members."""
        answer = outcome.extra["answer"]
        entry = outcome.report["models"][answer]
        return {
            "answer": answer,
            "fingerprint": best.row["fingerprint"],
            "members": _members(outcome.extra["delivered"][answer]),
            "validation": validation,
            "validation_block": entry["validation_block"],
            "test": entry["metrics"],
            "test_trading": entry.get("trading"),
            "calibration": entry["calibration"],
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
        """The answer as a servable model: its members (archs with params,
        linear models as coefficients), calibration and the last fold's
        preprocessing."""
        delivered = outcome.extra["delivered"][outcome.extra["answer"]]
        export_model(
            export_dir,
            None,
            None,
            outcome.extra["preprocess"],
            members=delivered.members,
            calibration=delivered.calibration,
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
        """``answer``, ``best``, ``ensemble``, ``baselines``, ``final_fit``
        and ``warnings``; then ``buy_and_hold`` and the test ``period``."""
        models = outcome.report["models"]
        extra = outcome.extra
        fits = {c["name"]: c["fit"] for c in extra["candidates"]}

        def scored(name: str) -> dict[str, Any]:
            m = models[name]
            return {
                "validation_block": m["validation_block"],
                "test": m["metrics"],
                "test_trading": m.get("trading"),
                "calibration": m["calibration"],
                "reliability": m.get("reliability"),
                "per_coin": m.get("per_coin"),
                "vs_baselines": m["vs_baselines"],
            }

        ensemble = None
        selection = extra["selection"]
        if selection is not None:
            ensemble = {
                "members": [
                    {**m, "fit": fits.get(m["name"])}
                    for m in _members(extra["delivered"]["ensemble"])
                ],
                "candidates": extra["candidates"],
                "rounds": len(selection.curve),
                "kept_round": selection.best_round + 1,
                "validation_log_loss_curve": selection.curve.tolist(),
                **scored("ensemble"),
                "skipped_candidates": extra["skipped_candidates"],
            }
        baselines = {}
        for name in cfg.evaluation.baselines:
            baselines[name] = dict(models[name])
            if name in extra["deep_fits"]:
                baselines[name]["fit"] = extra["deep_fits"][name]
        head = {
            "answer": extra["answer"],
            "best": best_record(
                best.row,
                history,
                validation=validation,
                final_fit=fits[best.row["fingerprint"]],
                **scored("best"),
            ),
            "ensemble": ensemble,
            "baselines": baselines,
            "final_fit": dataclasses.asdict(cfg.evaluation.final_fit),
            "warnings": extra["warnings"],
        }
        report = outcome.report
        tail = {k: report[k] for k in ("buy_and_hold", "period") if k in report}
        return head, tail


def _preprocess(data: FoldedData, cfg: AppConfig) -> Preprocess:
    """The features and the last fold's normalisation (what every final
    model was trained with)."""
    ds, _, norm = data
    last = _last_fold(data)
    return Preprocess(
        features=cfg.features,
        feature_names=tuple(ds.meta.feature_names),
        symbols=tuple(ds.meta.symbols),
        window=int(ds.meta.window),
        horizon=int(ds.meta.horizon),
        timeframe=_timeframe(ds, cfg.data.timeframe),
        mean=np.asarray(norm.mean)[last],
        std=np.asarray(norm.std)[last],
        side=tuple(s.absolute() for s in cfg.data.side),
    )


def _members(delivered: ans.Delivered) -> list[dict[str, Any]]:
    return [
        {"name": m.name, "kind": m.kind, "weight": m.weight} for m in delivered.members
    ]


def _lap(what: str, since: tuple[float, float]) -> tuple[float, float]:
    """Log the wall-clock and CPU seconds since ``since``; the times now."""
    now = (time.perf_counter(), time.process_time())
    logger.info(
        "finish: %s took %.1f s (%.1f CPU s)",
        what,
        now[0] - since[0],
        now[1] - since[1],
    )
    return now


def _last_fold(data: FoldedData) -> int:
    return int(data.folds.train.shape[0]) - 1
