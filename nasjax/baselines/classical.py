"""Classical baselines: majority, persistence, logistic regression, GBDT."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from nasjax.data.dataset import Dataset, FoldedData
from nasjax.data.normalize import NormStats
from nasjax.train.data import split_ids
from nasjax.typing import Key


def _labels(dataset: Dataset, ids: np.ndarray) -> np.ndarray:
    return np.asarray(dataset.labels).reshape(-1)[ids]


def lagged_features(
    dataset: Dataset, ids: np.ndarray, norm: NormStats, fold: int, lags: int = 0
) -> np.ndarray:
    """``float32[n, F * (lags + 1)]`` normalised features at t, t-1, ..., t-lags."""
    feats = np.asarray(dataset.features)
    n_steps, n_sym = feats.shape[:2]
    t, s = ids // n_sym, ids % n_sym
    mean, std = np.asarray(norm.mean)[fold], np.asarray(norm.std)[fold]
    cols = [
        (feats[np.clip(t - lag, 0, n_steps - 1), s] - mean) / std
        for lag in range(lags + 1)
    ]
    return np.concatenate(cols, axis=1).astype(np.float32)


def majority(
    key: Key,
    data: FoldedData,
    *,
    split: str = "test",
    fold: int = -1,
    cfg=None,
) -> np.ndarray:
    """P(up) = frequency of up in the training labels, for every sample."""
    del key, cfg
    dataset, folds, _ = data
    train, _, ev = split_ids(folds, split, fold)
    return np.full(len(ev), _labels(dataset, train).mean(), np.float32)


def persistence(
    key: Key,
    data: FoldedData,
    *,
    split: str = "test",
    fold: int = -1,
    cfg=None,
) -> np.ndarray:
    """Predict the sign of the last 1-bar return (feature ``ret_1``).

    The rule is fixed; its confidence ``q`` (the training hit rate, kept in
    ``[0.5 + 1e-3, 0.99]``) only calibrates the probabilities.
    """
    del key, cfg
    dataset, folds, _ = data
    names = dataset.meta.feature_names
    if "ret_1" not in names:
        raise ValueError("persistence needs the 'ret_1' feature (return_lags with 1)")
    j = names.index("ret_1")
    flat = np.asarray(dataset.features).reshape(-1, len(names))[:, j]
    train, _, ev = split_ids(folds, split, fold)
    hit = ((flat[train] > 0).astype(int) == _labels(dataset, train)).mean()
    q = float(np.clip(hit, 0.5 + 1e-3, 0.99))
    return np.where(flat[ev] > 0, q, 1.0 - q).astype(np.float32)


def logistic(
    key: Key,
    data: FoldedData,
    *,
    split: str = "test",
    fold: int = -1,
    cfg=None,
) -> np.ndarray:
    """L2 logistic regression on the last-step normalised features."""
    del key, cfg
    dataset, folds, norm = data
    k = fold % folds.train.shape[0]
    train, _, ev = split_ids(folds, split, fold)
    model = LogisticRegression(C=1.0, max_iter=500)
    model.fit(lagged_features(dataset, train, norm, k), _labels(dataset, train))
    proba = model.predict_proba(lagged_features(dataset, ev, norm, k))
    return _up_column(model.classes_, proba)


def gbdt(
    key: Key,
    data: FoldedData,
    *,
    split: str = "test",
    fold: int = -1,
    cfg=None,
    lags: int = 2,
) -> np.ndarray:
    """HistGradientBoosting on last-step features + ``lags`` lags (fixed
    hyper-parameters; its seed comes from ``key``)."""
    del cfg
    dataset, folds, norm = data
    k = fold % folds.train.shape[0]
    train, _, ev = split_ids(folds, split, fold)
    model = gbdt_model(key)
    x_tr = lagged_features(dataset, train, norm, k, lags)
    model.fit(x_tr, _labels(dataset, train))
    proba = model.predict_proba(lagged_features(dataset, ev, norm, k, lags))
    return _up_column(model.classes_, proba)


def gbdt_model(key: Key) -> HistGradientBoostingClassifier:
    """The gradient-boosted trees of the baselines (fixed hyper-parameters,
    no early stopping); the seed comes from ``key``."""
    import jax

    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    return HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=15,
        random_state=seed,
        early_stopping=False,  # pyright: ignore[reportArgumentType]
    )


def _up_column(classes, proba) -> np.ndarray:
    names = [int(c) for c in np.asarray(classes)]
    proba = np.asarray(proba)
    if 1 not in names:
        return np.zeros(len(proba), np.float32)
    return proba[:, names.index(1)].astype(np.float32)
