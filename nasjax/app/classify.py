"""The end of a search on a classification dataset (e.g. UCR/UEA).

The :class:`~nasjax.app.finish.FinishTask` of :func:`nasjax.app.finish.finish`
when ``dataset.meta.class_names`` is non-empty: instead of the price-direction
report (P(up), trading view with forward returns), the best arch and the
applicable baselines get multi-class test metrics (accuracy, balanced
accuracy, macro F1, MCC, log loss) with 95% iid bootstrap intervals over the
independent test instances. The test instances are touched once, here.

The answer (with ``evaluation.ensemble.enabled``, the default) is an
ensemble selected on out-of-fold predictions among the best architectures'
K-fold models and the classical logistic regression
(:mod:`nasjax.app.classify_ensemble`); the single best arch is reported
beside it. The best arch is evaluated as the K-fold ensemble of the very
models the search validated: its K per-fold params (each trained on its
fold's training instances, early-stopped on the fold's validation instances), test
probabilities averaged. With ``evaluation.final_fit.enabled`` (the
default) each of those fold models, and the runners-up's, first trains on
from its searched weights on its own fold, early-stopping on the fold it
never trains on (:mod:`nasjax.app.classify_final`), so out-of-fold
predictions stay out of fold. No retraining from scratch: a searched arch
that inherited weights from its parents would lose that training. The
hand-designed deep baselines are
K-fold ensembles trained from scratch with the same training configuration
(:mod:`nasjax.baselines.classification`).
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from nasjax.app import classify_ensemble as cens
from nasjax.app.classify_final import final_fit_folds
from nasjax.app.config import AppConfig
from nasjax.app.finish import BestEvaluation, TestOutcome, best_record
from nasjax.baselines import classification as cb
from nasjax.data import Dataset, FoldedData, Folds, NormStats
from nasjax.data.ucr import instance_split
from nasjax.evaluate.classification import (
    CLASS_METRICS,
    bootstrap_indices,
    classification_report,
    metrics_with_ci,
    plot_confusion,
)
from nasjax.graph.arch import Arch
from nasjax.typing import Key, Params

ENSEMBLE_NOTE = (
    "K-fold ensemble of the search's own models of this arch: one per validation "
    "fold (trained on the fold's training instances, starting from the weights "
    "inherited from its parent if any, early-stopped on the fold's validation "
    "instances), then, with the final fit, trained on from those weights on the "
    "same fold with early stopping on its validation loss; test probabilities "
    "averaged over the K models"
)


def data_summary(
    dataset: Dataset, folds: Folds, source: str, name: str | None
) -> dict[str, Any]:
    """JSON description of a classification dataset and its split."""
    meta = dataset.meta
    train, test = instance_split(dataset, folds)
    y = np.asarray(dataset.labels)[-1]
    feats = list(meta.feature_names)
    lengths = None
    if "observed" in feats:
        obs = np.asarray(dataset.features)[:, :, feats.index("observed")]
        lengths = (obs > 0).sum(axis=0)
    n_val = np.asarray(folds.val_mask).sum(axis=1)
    return {
        "source": source,
        "name": name,
        "task": "classification",
        "classes": list(meta.class_names),
        "n_classes": len(meta.class_names),
        "n_train": len(train),
        "n_test": len(test),
        "train_class_counts": np.bincount(
            y[train], minlength=len(meta.class_names)
        ).tolist(),
        "test_class_counts": np.bincount(
            y[test], minlength=len(meta.class_names)
        ).tolist(),
        "n_channels": len([f for f in feats if f != "observed"]),
        "n_features": len(feats),
        "feature_names": feats,
        "length": int(meta.window),
        "window": int(meta.window),
        "unequal_length": bool(lengths is not None and len(set(lengths.tolist())) > 1),
        "min_length": int(lengths.min()) if lengths is not None else int(meta.window),
        "padding": (
            "left-padded with 0 to the longest series; feature 'observed' is 1 on "
            "real steps"
            if lengths is not None
            else "none (equal lengths)"
        ),
        "n_folds": int(folds.train.shape[0]),
        "fold_val_sizes": n_val.tolist(),
        "split": "published TRAIN/TEST; validation folds stratified within TRAIN",
    }


def _validation(
    arch: Arch,
    fold_params: Params,
    row: dict[str, Any],
    data: FoldedData,
    cfg: AppConfig,
) -> dict[str, Any]:
    """Out-of-fold validation metrics of the best member (search params), and
    their per-fold accuracy."""
    ds = data.dataset
    bs = cfg.train.eval_batch_size
    ids, proba, per_fold = cb.out_of_fold(arch, fold_params, data, bs)
    y = cb.labels_of(ds, ids)
    idx = bootstrap_indices(len(y), cfg.evaluation.n_boot, cfg.seed)
    metrics = metrics_with_ci(y, proba, idx)
    hit = np.argmax(proba, axis=1) == y
    bounds = list(itertools.pairwise(np.cumsum([0] + [len(f) for f in per_fold])))
    fold_acc = [float(hit[a:b].mean()) for a, b in bounds]
    n_folds = len(per_fold)
    return {
        **metrics,
        "fold_accuracy": fold_acc,
        "fold_n": [len(f) for f in per_fold],
        "search_fold_accuracy": [row[f"val_accuracy_fold{k}"] for k in range(n_folds)],
        "fitness": row["fitness"],
        "ci": (
            f"95% percentile iid bootstrap over the out-of-fold predictions of "
            f"every TRAIN instance ({cfg.evaluation.n_boot} resamples)"
        ),
        "note": (
            "optimistic: the architecture and its early-stopping step were "
            "selected on these validation instances (and inherited weights may "
            "have seen them on another fold); the test metrics are unbiased"
        ),
    }


def _export(
    final: Path,
    arch: Arch,
    fold_params: Params,
    norm: NormStats,
    dataset: Dataset,
    name: str | None,
    history: list[dict[str, Any]],
    metrics: dict[str, Any],
) -> None:
    """``final`` (``best/``): arch, the K fold models' params, preprocessing,
    metrics; written beside it, then renamed into place."""
    tmp = final.with_name(final.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / "arch.json").write_text(arch.to_json())
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save((tmp / "params").absolute(), jax.tree.map(np.asarray, fold_params))
        ckptr.wait_until_finished()
    preprocess = {
        "task": "classification",
        "dataset": name,
        "class_names": list(dataset.meta.class_names),
        "feature_names": list(dataset.meta.feature_names),
        "window": int(dataset.meta.window),
        "padding": "left, zeros; 'observed' feature 1 on real steps (if present)",
        "mean": np.asarray(norm.mean, np.float32).tolist(),
        "std": np.asarray(norm.std, np.float32).tolist(),
        "params": "leaves [K, ...]: model k normalises with mean[k], std[k]",
        "predict": "mean over k of softmax(model_k((x - mean[k]) / std[k]))",
        "note": "nasjax.load_model serves candle models; not this export",
    }
    (tmp / "preprocess.json").write_text(json.dumps(preprocess, indent=1))
    (tmp / "lineage.json").write_text(json.dumps(history, indent=1))
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def _final_fit(
    best: BestEvaluation, data: FoldedData, cfg: AppConfig, key: Key
) -> tuple[BestEvaluation, dict[str, dict[str, Any]]]:
    """``best`` with the final-fitted fold params of itself and of its
    runners-up (those with searched params), and each one's fit record by
    fingerprint; unchanged (and no records) when the final fit is off."""
    if not cfg.evaluation.final_fit.enabled:
        return best, {}
    entries = [(best.row, best.arch, best.fold_params)]
    entries += [(r.row, r.arch, r.fold_params) for r in best.runners_up]
    have = [(row, arch, p) for row, arch, p in entries if p is not None]
    fitted = final_fit_folds(
        key, [arch for _, arch, _ in have], [p for _, _, p in have], data, cfg
    )
    by_fp = {e[0]["fingerprint"]: f for e, f in zip(have, fitted, strict=True)}
    runners = tuple(
        r._replace(fold_params=by_fp[r.row["fingerprint"]].fold_params)
        if r.fold_params is not None
        else r
        for r in best.runners_up
    )
    best = best._replace(
        fold_params=by_fp[best.row["fingerprint"]].fold_params, runners_up=runners
    )
    return best, {fp: f.record() for fp, f in by_fp.items()}


class ClassificationTask:
    """Multi-class classification (a :class:`~nasjax.app.finish.FinishTask`).

    ``best.test`` and ``baselines.*.metrics`` hold the multi-class metrics of
    :data:`nasjax.evaluate.classification.CLASS_METRICS`, ``best.test_trading``
    is None and ``skipped_baselines`` names the baselines that do not apply.
    """

    def validation(
        self, best: BestEvaluation, data: FoldedData, cfg: AppConfig
    ) -> dict[str, Any]:
        """Out-of-fold metrics of the search's own fold models, iid CIs."""
        return _validation(best.arch, best.fold_params, best.row, data, cfg)

    def test(
        self,
        best: BestEvaluation,
        data: FoldedData,
        cfg: AppConfig,
        k_final: Key,
        k_base: Key,
        plot_dir: Path | None,
    ) -> TestOutcome:
        """The answer (the out-of-fold-selected ensemble, or the best arch's
        K-fold ensemble), the best arch and the applicable baselines on the
        test instances. With ``evaluation.final_fit.enabled`` the fold models
        of the best arch and its runners-up first train on from their searched
        weights (:func:`~nasjax.app.classify_final.final_fit_folds`, key
        ``k_final``)."""
        del plot_dir
        ds, folds, norm = data
        ids = cb.test_ids(folds)
        y_test = cb.labels_of(ds, ids)
        bs = cfg.train.eval_batch_size
        ens = cfg.evaluation.ensemble
        best, fits = _final_fit(best, data, cfg, k_final)
        record = None
        if ens.enabled:
            cands, left_out = cens.candidates(best, data, cfg)
            selection = cens.select(cands, data, ens.rounds)
            record = cens.ensemble_record(cands, selection, data, left_out)
            record["arch_members"] = [
                {"name": c.name, "arch_json": c.arch.to_json()}
                for c, w in zip(cands, selection.weights, strict=True)
                if w > 0 and c.arch is not None
            ]
            test_stack = np.stack([c.test for c in cands])
            predictions = {
                "ensemble": selection.predict(test_stack).astype(np.float32),
                "best": cands[0].test,
            }
        else:
            predictions = {
                "best": cb.predict_ensemble(
                    best.arch, best.fold_params, ds, norm, ids, bs
                )
            }
        skipped: dict[str, str] = {}
        for j, name in enumerate(cfg.evaluation.baselines):
            if name in cb.CLASSIFIERS:
                predictions[name] = cb.CLASSIFIERS[name](
                    jax.random.fold_in(k_base, j), data, cfg=cfg.train
                )
            else:
                skipped[name] = cb.SKIPPED.get(name, "does not apply to classification")
        answer = "ensemble" if record is not None else "best"
        report = classification_report(
            predictions,
            y_test,
            class_names=ds.meta.class_names,
            reference=answer,
            n_boot=cfg.evaluation.n_boot,
            seed=cfg.seed,
        )
        if record is not None:
            for c in record["candidates"]:
                if c["name"] in fits:
                    c["final_fit"] = fits[c["name"]]
        extra = {
            "skipped": skipped,
            "n_test_instances": len(y_test),
            "answer": answer,
            "ensemble": record,
            "final_fit": fits.get(best.row["fingerprint"]),
        }
        return TestOutcome(report, best.fold_params, [], extra)

    def late_plots(
        self, outcome: TestOutcome, data: FoldedData, plot_dir: Path
    ) -> list[str]:
        """The test confusion matrix of the answer."""
        answer = outcome.extra["answer"]
        entry = outcome.report["models"][answer]
        n = outcome.extra["n_test_instances"]
        what = "ensemble (answer)" if answer == "ensemble" else "best arch"
        confusion = plot_confusion(
            np.asarray(entry["confusion"]),
            data.dataset.meta.class_names,
            plot_dir / "confusion.png",
            title=f"{what}, test ({n} instances)",
        )
        return [str(confusion)]

    def data_summary(self, data: FoldedData, cfg: AppConfig) -> dict[str, Any]:
        """Classes, instances, channels, lengths and the split."""
        return data_summary(data.dataset, data.folds, cfg.data.source, cfg.data.name)

    def metrics(
        self,
        best: BestEvaluation,
        validation: dict[str, Any],
        outcome: TestOutcome,
        data_summary: dict[str, Any],
        data: FoldedData,
    ) -> dict[str, Any]:
        """Validation and test metrics and how the model is evaluated."""
        answer = outcome.extra["answer"]
        return {
            "fingerprint": best.row["fingerprint"],
            "validation": validation,
            "test": outcome.report["models"]["best"]["metrics"],
            "test_trading": None,
            "n_test": outcome.report["n"],
            "evaluated_as": ENSEMBLE_NOTE,
            "answer": answer,
            "answer_test": outcome.report["models"][answer]["metrics"],
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
        """The best arch's K fold models, their preprocessing, lineage and
        metrics; with an ensemble answer, ``ensemble.json`` beside them (its
        members, weights and architectures)."""
        _export(
            export_dir,
            best.arch,
            outcome.model,
            data.norm,
            data.dataset,
            cfg.data.name,
            history,
            metrics,
        )
        if outcome.extra["ensemble"] is not None:
            (export_dir / "ensemble.json").write_text(
                json.dumps(outcome.extra["ensemble"], indent=1, default=float)
            )

    def summary(
        self,
        best: BestEvaluation,
        validation: dict[str, Any],
        outcome: TestOutcome,
        history: list[dict[str, Any]],
        cfg: AppConfig,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``task``, ``best``, ``baselines``, ``skipped_baselines``, ``notes``;
        then ``test_ci``."""
        report = outcome.report
        entry = report["models"]["best"]
        skipped = outcome.extra["skipped"]
        answer = outcome.extra["answer"]
        head = {
            "task": "classification",
            "answer": answer,
            "best": best_record(
                best.row,
                history,
                validation=validation,
                test=entry["metrics"],
                test_per_class_recall=entry["per_class_recall"],
                test_confusion=entry["confusion"],
                test_trading=None,
                evaluated_as=ENSEMBLE_NOTE,
                final_fit=outcome.extra["final_fit"],
            ),
            "baselines": {
                name: report["models"][name]
                for name in cfg.evaluation.baselines
                if name not in skipped
            },
            "skipped_baselines": skipped,
            **(
                {"ensemble": {**outcome.extra["ensemble"], **report["models"][answer]}}
                if answer == "ensemble"
                else {}
            ),
            "notes": [
                "classification dataset: multi-class metrics with iid bootstrap "
                "intervals (instances are independent); no trading/equity view and "
                "no calibration plot of P(up)",
                f"test metrics: {', '.join(CLASS_METRICS)}",
            ],
        }
        return head, {"test_ci": report["ci"]}
