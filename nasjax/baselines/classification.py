"""Baselines and K-fold ensembles for classification datasets (UCR/UEA).

On a classification dataset (``dataset.meta.class_names`` non-empty, e.g.
from :func:`nasjax.data.ucr.build_ucr_dataset`) every instance is one sample
whose window is the whole (padded) series. Models predict class
probabilities ``float32[n, C]``:

* ``majority``: the class frequencies of the published TRAIN instances;
* ``logistic``: multinomial L2 logistic regression on the flattened,
  standardised series (fitted on every TRAIN instance);
* ``gbdt``: histogram gradient boosting on the flattened series;
* ``lstm``, ``transformer``, ``tcn``: the hand-designed archs of
  :mod:`nasjax.baselines.deep` with a C-class head, trained like the
  searched arch (:func:`fit_folds` + :func:`predict_ensemble`).

The candle-only baselines (``persistence``: sign of the last return) have
no meaning here; :data:`SKIPPED` says why.

Trained archs are evaluated as a **K-fold ensemble**: one model per
validation fold (trained on the fold's training instances from a fresh
initialisation, early-stopped on its validation instances), the test
probabilities averaged over the K models, so every TRAIN instance is used
and none of the TEST instances.
"""

from __future__ import annotations

import warnings
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from nasjax.baselines.classical import gbdt_model
from nasjax.baselines.deep import DEEP_ARCHS
from nasjax.baselines.minirocket import fit_rocket_classifier
from nasjax.data.dataset import Dataset, FoldedData, gather_windows
from nasjax.data.normalize import NormStats
from nasjax.data.splits import Folds
from nasjax.graph.arch import Arch
from nasjax.graph.spec import ArchSpec
from nasjax.train.config import TrainConfig
from nasjax.train.data import split_ids
from nasjax.train.population import PopulationResult, train_population
from nasjax.train.predict import predict_proba
from nasjax.typing import Key, Params


class ClassifierFn(Protocol):
    """An entry of :data:`CLASSIFIERS`: fit on the TRAIN instances, predict
    class probabilities of the TEST instances."""

    def __call__(
        self,
        key: Key,
        data: FoldedData,
        /,
        *,
        cfg: TrainConfig | None = None,
    ) -> np.ndarray:
        """Class probabilities of the test instances.

        Args:
            key: PRNG key (model seed; unused by ``majority``).
            data: A classification dataset (one sample per instance,
                ``features: float[T, S, F]``), its K validation folds over
                the TRAIN instances and per-fold normalisation statistics
                (``mean, std: [K, F]``).
            cfg: Training configuration of the deep entries (default
                ``TrainConfig()``; ignored by the others).

        Returns:
            ``float32[n_test, C]`` for :func:`test_ids` ``(data.folds)``, in
            order.
        """
        ...


def is_classification(dataset: Dataset) -> bool:
    """Whether ``dataset`` is a classification dataset (named classes)."""
    return bool(dataset.meta.class_names)


def n_classes(dataset: Dataset) -> int:
    """Number of classes (2 for the direction labels of candle data)."""
    return len(dataset.meta.class_names) or 2


def classification_spec(dataset: Dataset, max_width: int = 64) -> ArchSpec:
    """The bucket of the deep baselines: 8 nodes, a C-class head."""
    return ArchSpec(
        n_features=int(dataset.features.shape[-1]),
        window=int(dataset.meta.window),
        n_classes=n_classes(dataset),
        max_nodes=8,
        max_width=max_width,
    )


def train_instances(folds: Folds) -> np.ndarray:
    """``int32[n]`` sample ids of every TRAIN instance (union of the folds)."""
    ids = np.asarray(folds.train)[np.asarray(folds.train_mask, bool)]
    val = np.asarray(folds.val)[np.asarray(folds.val_mask, bool)]
    return np.unique(np.concatenate([ids, val])).astype(np.int32)


def test_ids(folds: Folds) -> np.ndarray:
    """``int32[n_test]`` sample ids of the test instances, in order."""
    return split_ids(folds, "test")[2]


def labels_of(dataset: Dataset, ids: np.ndarray) -> np.ndarray:
    """``int64[n]`` class indices of sample ids."""
    return np.asarray(dataset.labels).reshape(-1)[np.asarray(ids)].astype(np.int64)


def fit_folds(
    key: Key,
    archs: Arch,
    data: FoldedData,
    cfg: TrainConfig,
) -> PopulationResult:
    """Train a stacked population from scratch on every fold.

    Args:
        key: PRNG key.
        archs: Stacked archs ``[P]`` of one bucket.
        data: The classification dataset, its folds (K validation folds of
            the TRAIN instances) and per-fold normalisation statistics.
        cfg: Training configuration.

    Returns:
        The :class:`~nasjax.train.PopulationResult`: params ``[P, K, ...]``
        (each early-stopped on its fold's validation instances), metrics and
        ``fitness: float32[P]`` (mean validation accuracy over folds).
    """
    return train_population(key, archs, None, data, cfg)


def predict_folds(
    arch: Arch,
    fold_params: Params,
    dataset: Dataset,
    norm: NormStats,
    ids: np.ndarray,
    batch_size: int = 512,
) -> np.ndarray:
    """Class probabilities of each fold's model, ``float32[K, n, C]``.

    Model ``k`` (leaves ``fold_params[k]``) normalises with fold ``k``'s
    statistics, those it was trained with.
    """
    n_folds = int(np.asarray(norm.mean).shape[0])
    out = [
        _predict_fold(arch, fold_params, dataset, norm, k, ids, batch_size)
        for k in range(n_folds)
    ]
    return np.stack(out).astype(np.float32)


def _predict_fold(
    arch: Arch,
    fold_params: Params,
    dataset: Dataset,
    norm: NormStats,
    k: int,
    ids: np.ndarray,
    batch_size: int,
) -> np.ndarray:
    """Class probabilities ``[n, C]`` of fold ``k``'s model (its statistics)."""
    return predict_proba(
        arch,
        jax.tree.map(lambda x: x[k], fold_params),
        dataset.features,
        ids,
        np.asarray(norm.mean)[k],
        np.asarray(norm.std)[k],
        batch_size,
    )


def predict_ensemble(
    arch: Arch,
    fold_params: Params,
    dataset: Dataset,
    norm: NormStats,
    ids: np.ndarray,
    batch_size: int = 512,
) -> np.ndarray:
    """Mean over the K fold models of their class probabilities,
    ``float32[n, C]``."""
    return predict_folds(arch, fold_params, dataset, norm, ids, batch_size).mean(0)


def out_of_fold(
    arch: Arch,
    fold_params: Params,
    data: FoldedData,
    batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Validation predictions of each fold's model on its own validation ids.

    Returns:
        ``(ids int32[n], proba float32[n, C], per-fold ids)``: every TRAIN
        instance once (the folds partition them), predicted by the model
        that did not train on it.
    """
    dataset, folds, norm = data
    n_folds = int(folds.train.shape[0])
    ids, probas, per_fold = [], [], []
    for k in range(n_folds):
        _, val, _ = split_ids(folds, "val", k)
        p = _predict_fold(arch, fold_params, dataset, norm, k, val, batch_size)
        ids.append(val)
        probas.append(p)
        per_fold.append(val)
    return np.concatenate(ids), np.concatenate(probas).astype(np.float32), per_fold


def series(dataset: Dataset, ids: np.ndarray) -> np.ndarray:
    """``float32[n, W, F]`` raw windows (whole series) of sample ids."""
    w = int(dataset.meta.window)
    return np.asarray(gather_windows(dataset.features, jnp.asarray(ids), w))


def flat_series(dataset: Dataset, ids: np.ndarray) -> np.ndarray:
    """``float32[n, W * F]`` raw windows (whole series) of sample ids."""
    x = series(dataset, ids)
    return x.reshape(len(x), -1)


def _full_proba(model, proba: np.ndarray, n: int) -> np.ndarray:
    """Columns of ``proba`` placed at the model's classes (0 elsewhere)."""
    out = np.zeros((len(proba), n), np.float32)
    out[:, np.asarray(model.classes_, np.int64)] = proba
    return out


def majority(
    key: Key,
    data: FoldedData,
    *,
    cfg: TrainConfig | None = None,
) -> np.ndarray:
    """The TRAIN class frequencies for every test instance (arg-max: the
    majority class)."""
    del key, cfg
    dataset, folds, _ = data
    y = labels_of(dataset, train_instances(folds))
    freq = np.bincount(y, minlength=n_classes(dataset)) / len(y)
    return np.tile(freq.astype(np.float32), (len(test_ids(folds)), 1))


def logistic(
    key: Key,
    data: FoldedData,
    *,
    cfg: TrainConfig | None = None,
) -> np.ndarray:
    """Multinomial L2 logistic regression (C = 1) on the flattened series,
    standardised per input column on the TRAIN instances."""
    del key, cfg
    dataset, folds, _ = data
    return logistic_ids(dataset, train_instances(folds), test_ids(folds))


def logistic_ids(
    dataset: Dataset, train_ids: np.ndarray, eval_ids: np.ndarray
) -> np.ndarray:
    """:func:`logistic` fitted on ``train_ids``, ``float32[n_eval, C]`` class
    probabilities of ``eval_ids``."""
    x_train = flat_series(dataset, train_ids)
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(C=1.0, max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(scaler.transform(x_train), labels_of(dataset, train_ids))
    x_eval = scaler.transform(flat_series(dataset, eval_ids))
    return _full_proba(model, model.predict_proba(x_eval), n_classes(dataset))


def minirocket_ids(
    key: Key, dataset: Dataset, train_ids: np.ndarray, eval_ids: np.ndarray
) -> np.ndarray:
    """MiniRocket + ridge (:func:`nasjax.baselines.minirocket.fit_rocket_classifier`)
    fitted on ``train_ids``: ``float32[n_eval, C]`` class probabilities of
    ``eval_ids`` (raw series; the transform's biases are data-driven)."""
    model = fit_rocket_classifier(
        key, series(dataset, train_ids), labels_of(dataset, train_ids)
    )
    out = np.zeros((len(eval_ids), n_classes(dataset)), np.float32)
    out[:, model.classes] = model.predict_proba(series(dataset, eval_ids))
    return out


def gbdt(
    key: Key,
    data: FoldedData,
    *,
    cfg: TrainConfig | None = None,
) -> np.ndarray:
    """Histogram gradient boosting (fixed hyper-parameters) on the flattened
    series; its seed comes from ``key``."""
    del cfg
    dataset, folds, _ = data
    train = train_instances(folds)
    model = gbdt_model(key)
    model.fit(flat_series(dataset, train), labels_of(dataset, train))
    proba = model.predict_proba(flat_series(dataset, test_ids(folds)))
    return _full_proba(model, proba, n_classes(dataset))


def deep_baseline_arch(name: str, dataset: Dataset) -> Arch:
    """The hand-designed arch ``name`` for a classification dataset."""
    return DEEP_ARCHS[name](classification_spec(dataset))


def _deep(name: str) -> ClassifierFn:
    def fit_predict(
        key: Key,
        data: FoldedData,
        *,
        cfg: TrainConfig | None = None,
    ) -> np.ndarray:
        cfg = TrainConfig() if cfg is None else cfg
        dataset, folds, norm = data
        arch = deep_baseline_arch(name, dataset)
        pop = jax.tree.map(lambda x: x[None], arch)
        res = fit_folds(key, pop, data, cfg)
        params = jax.tree.map(lambda x: x[0], res.params)
        return predict_ensemble(
            arch, params, dataset, norm, test_ids(folds), cfg.eval_batch_size
        )

    fit_predict.__doc__ = (
        f"K-fold ensemble of the fixed ``{name}`` arch (C-class head): class "
        "probabilities of the test instances."
    )
    return fit_predict


CLASSIFIERS: dict[str, ClassifierFn] = {
    "majority": majority,
    "logistic": logistic,
    "gbdt": gbdt,
    **{n: _deep(n) for n in DEEP_ARCHS},
}
"""Baselines that apply to classification datasets: ``(key, data, *, cfg) ->
float32[n_test, C]`` test class probabilities."""

SKIPPED: dict[str, str] = {
    "persistence": (
        "direction-only baseline (sign of the last 1-bar return): no meaning "
        "for class labels"
    ),
}
"""Baselines of :data:`nasjax.baselines.BASELINES` that do not apply, and why."""
