"""Classical baselines: majority, persistence, logistic regression, GBDT."""

from __future__ import annotations

from typing import NamedTuple

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
    inv = np.float32(1.0) / std  # as nasjax.data.normalize does (bit-equal)
    cols = [
        (feats[np.clip(t - lag, 0, n_steps - 1), s] - mean) * inv
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


class LinearModel(NamedTuple):
    """A linear model of the lagged normalised features (portable: arrays only).

    P(up) = ``sigmoid(sum_j coef[j] . x[t - j] + intercept)`` with ``x`` the
    fold-normalised features of the last ``lags + 1`` bars.

    Attributes:
        coef: ``float64[lags + 1, F]``; row ``j`` multiplies bar ``t - j``.
        intercept: The offset.
    """

    coef: np.ndarray
    intercept: float

    def predict(
        self, dataset: Dataset, ids: np.ndarray, norm: NormStats, fold: int
    ) -> np.ndarray:
        """``float32[n]`` P(up) of sample ids (fold ``fold``'s normalisation)."""
        lags = self.coef.shape[0] - 1
        x = lagged_features(dataset, ids, norm, fold, lags).astype(np.float64)
        z = x @ self.coef.reshape(-1) + self.intercept
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def logistic_model(data: FoldedData, fold: int = -1) -> LinearModel:
    """The L2 logistic regression of :func:`logistic`, fitted on fold
    ``fold``'s training ids, as portable coefficients."""
    dataset, folds, norm = data
    k = fold % folds.train.shape[0]
    train, _, _ = split_ids(folds, "val", fold)
    x, y = lagged_features(dataset, train, norm, k), _labels(dataset, train)
    n_features = x.shape[1]
    if len(np.unique(y)) < 2:  # one class: a constant model
        q = float(np.clip(y.mean() if len(y) else 0.5, 1e-6, 1 - 1e-6))
        return LinearModel(np.zeros((1, n_features)), float(np.log(q / (1 - q))))
    model = LogisticRegression(C=1.0, max_iter=500)
    model.fit(x, y)
    sign = 1.0 if int(np.asarray(model.classes_)[1]) == 1 else -1.0
    coef = sign * np.asarray(model.coef_, np.float64).reshape(1, n_features)
    return LinearModel(coef, sign * float(np.asarray(model.intercept_)[0]))


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
    _, _, ev = split_ids(folds, split, fold)
    return logistic_model(data, fold).predict(dataset, ev, norm, k)


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
