"""``BASELINES``: every baseline behind one ``fit_predict`` interface."""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from nasjax.baselines import classical
from nasjax.baselines.deep import DEEP_ARCHS
from nasjax.baselines.fit import fit_archs
from nasjax.data.dataset import Dataset, FoldedData
from nasjax.graph.arch import Arch
from nasjax.graph.spec import ArchSpec
from nasjax.train.config import TrainConfig
from nasjax.train.data import split_ids
from nasjax.train.predict import predict_proba
from nasjax.typing import Key, Params


class FitPredict(Protocol):
    """A baseline entry's ``fit_predict``: fit on a fold, predict P(up).

    Entries may take further keyword options of their own (``gbdt``:
    ``lags``; the deep ones: ``spec``, the bucket of their fixed arch).
    """

    def __call__(
        self,
        key: Key,
        data: FoldedData,
        /,
        *,
        split: str = "test",
        fold: int = -1,
        cfg: TrainConfig | None = None,
    ) -> np.ndarray:
        """Fit on fold ``fold``'s training ids only; predict P(up) for a split.

        Args:
            key: PRNG key (model seed; unused by the deterministic ones).
            data: The pooled dataset (``features: float[T, S, F]``), its
                sample-id walk-forward folds (``K`` folds) and per-fold
                normalisation statistics (``mean, std: [K, F]``).
            split: ``"val"`` or ``"test"``: whose evaluation ids to predict.
            fold: Fold index (default the last, nearest the test block).
            cfg: Training configuration of the deep baselines (default
                ``TrainConfig()``; ignored by the others).

        Returns:
            ``float32[n]`` P(up) for ``nasjax.train.split_ids(data.folds,
            split, fold)[2]``, in order.
        """
        ...


CLASSIFICATION_ONLY: tuple[str, ...] = ("minirocket",)
"""Classical models offered only to classification ensembles
(``evaluation.ensemble.classical``): MiniRocket reads whole series
(:mod:`nasjax.baselines.minirocket`); a direction run skips it."""


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A named baseline.

    Attributes:
        name: Registry name.
        kind: ``"naive"``, ``"classical"`` or ``"deep"``.
        fit_predict: ``(key, data, *, split="test", fold=-1, cfg=None) ->
            float32[n]`` (:class:`FitPredict`) P(up) for the split's
            evaluation ids (``nasjax.train.split_ids(data.folds, split,
            fold)[2]``, in order), fitted on the fold's training ids only.
    """

    name: str
    kind: str
    fit_predict: FitPredict


def default_spec(dataset: Dataset, max_width: int = 64) -> ArchSpec:
    """The bucket of the deep baselines for a dataset (8 nodes)."""
    return ArchSpec(
        n_features=int(dataset.features.shape[-1]),
        window=int(dataset.meta.window),
        max_nodes=8,
        max_width=max_width,
    )


def fit_arch(
    key: Key,
    arch: Arch,
    data: FoldedData,
    *,
    fold: int = -1,
    cfg: TrainConfig | None = None,
    params: Params | None = None,
) -> Params:
    """Train one fixed arch on fold ``fold``'s training ids.

    Uses the population engine with a population of one; the params are the
    best ones on the fold's validation ids (early-stopping selection).
    :func:`nasjax.baselines.fit.fit_archs` does the same for several archs
    at once and reports the kept step.

    Args:
        key: PRNG key (member 0 of :func:`~nasjax.train.train_population`).
        arch: A single arch (no batch axes).
        data: The pooled dataset, its sample-id walk-forward folds and
            per-fold normalisation statistics.
        fold: Fold index (default the last, nearest the test block).
        cfg: Training configuration (default ``TrainConfig()``).
        params: Starting params (no batch axes, e.g. the searched weights
            of the fold); None starts from fresh weights.

    Returns:
        The trained params of ``arch`` (bucket-sized, no batch axes).
    """
    (fit,) = fit_archs(key, [arch], data, fold=fold, cfg=cfg, params=[params])
    return fit.params


def predict_arch(
    arch: Arch,
    params: Params,
    data: FoldedData,
    *,
    split: str = "test",
    fold: int = -1,
    batch_size: int = 512,
) -> np.ndarray:
    """P(up) of a trained arch for a split's evaluation ids.

    Normalises with fold ``fold``'s statistics (those it was trained with).

    Returns:
        ``float32[n]`` for ``nasjax.train.split_ids(data.folds, split,
        fold)[2]``, in order.
    """
    dataset, folds, norm = data
    k = fold % folds.train.shape[0]
    _, _, ev = split_ids(folds, split, fold)
    proba = predict_proba(
        arch,
        params,
        dataset.features,
        ev,
        np.asarray(norm.mean)[k],
        np.asarray(norm.std)[k],
        batch_size,
    )
    return proba[:, 1].astype(np.float32)


def fit_predict_arch(
    key: Key,
    arch: Arch,
    data: FoldedData,
    *,
    split: str = "test",
    fold: int = -1,
    cfg: TrainConfig | None = None,
) -> np.ndarray:
    """Train one fixed arch with the population engine and predict P(up).

    :func:`fit_arch` followed by :func:`predict_arch`.
    """
    cfg = TrainConfig() if cfg is None else cfg
    params = fit_arch(key, arch, data, fold=fold, cfg=cfg)
    return predict_arch(
        arch,
        params,
        data,
        split=split,
        fold=fold,
        batch_size=cfg.eval_batch_size,
    )


def _deep(name: str) -> FitPredict:
    def fit_predict(
        key: Key,
        data: FoldedData,
        *,
        split: str = "test",
        fold: int = -1,
        cfg: TrainConfig | None = None,
        spec: ArchSpec | None = None,
    ) -> np.ndarray:
        arch = DEEP_ARCHS[name](spec or default_spec(data.dataset))
        return fit_predict_arch(key, arch, data, split=split, fold=fold, cfg=cfg)

    fit_predict.__doc__ = f"Train the fixed ``{name}`` arch and predict P(up)."
    return fit_predict


BASELINES: dict[str, Baseline] = {
    "majority": Baseline("majority", "naive", classical.majority),
    "persistence": Baseline("persistence", "naive", classical.persistence),
    "logistic": Baseline("logistic", "classical", classical.logistic),
    "gbdt": Baseline("gbdt", "classical", classical.gbdt),
    **{n: Baseline(n, "deep", _deep(n)) for n in DEEP_ARCHS},
}
"""Every baseline by name."""
