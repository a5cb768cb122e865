"""Gradient-boosted trees as plain arrays: portable, and predicted in JAX.

:class:`TreeModel` holds the fitted trees of a binary
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` (the GBDT baseline
of :mod:`nasjax.baselines.classical`) as padded node arrays, so an exported
answer can keep a GBDT member without pickling anything: the arrays go to an
``.npz`` file read with ``allow_pickle=False``. Prediction walks every tree
at once for ``max_depth`` steps (a leaf points to itself), in numpy
(:meth:`TreeModel.predict_raw`) or jitted JAX (:meth:`TreeModel.logits`).

Node ``i`` of tree ``t`` sends a sample left when its feature is
``<= threshold[t, i]`` (a missing value goes where ``missing_left`` says),
exactly as scikit-learn's predictor does; the log-odds of "up" is
``baseline + sum_t value[t, leaf_t]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.baselines.classical import gbdt_model, lagged_features
from nasjax.data.dataset import FoldedData
from nasjax.train.data import split_ids
from nasjax.typing import Key

_FIELDS = ("feature", "threshold", "missing_left", "left", "right", "value")


class TreeModel(NamedTuple):
    """Binary boosted trees on lagged normalised features (arrays only).

    Attributes:
        feature: ``int32[T, N]`` feature index split on by each node (0 at
            leaves and padding).
        threshold: ``float64[T, N]`` go left when ``x <= threshold``.
        missing_left: ``bool[T, N]`` where a NaN goes.
        left: ``int32[T, N]`` left child; a leaf (and padding) is its own child.
        right: ``int32[T, N]`` right child; likewise.
        value: ``float64[T, N]`` leaf values (0 at inner nodes).
        baseline: Initial log-odds of "up".
        lags: The features are those of bars ``t, t - 1, ..., t - lags``
            (:func:`~nasjax.baselines.classical.lagged_features`).
        depth: Walk steps that reach a leaf in every tree.
    """

    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    baseline: float
    lags: int
    depth: int

    @classmethod
    def from_sklearn(cls, model: Any, lags: int) -> TreeModel:
        """The trees of a fitted binary ``HistGradientBoostingClassifier``.

        Args:
            model: The fitted classifier (two classes, numeric features).
            lags: The lags its features were built with.

        Raises:
            ValueError: If it is not binary or uses categorical splits.
        """
        classes = [int(c) for c in np.asarray(model.classes_)]
        if len(classes) != 2:
            raise ValueError(f"a TreeModel is binary; the model has classes {classes}")
        trees = [p.nodes for (p,) in model._predictors]
        if any(np.any(t["is_categorical"]) for t in trees):
            raise ValueError("categorical splits are not supported")
        n_nodes = max(len(t) for t in trees)
        shape = (len(trees), n_nodes)
        own = np.broadcast_to(np.arange(n_nodes, dtype=np.int32), shape).copy()
        arrays = {
            "feature": np.zeros(shape, np.int32),
            "threshold": np.zeros(shape, np.float64),
            "missing_left": np.zeros(shape, bool),
            "left": own.copy(),
            "right": own.copy(),
            "value": np.zeros(shape, np.float64),
        }
        depth = 0
        for t, nodes in enumerate(trees):
            n, leaf = len(nodes), nodes["is_leaf"].astype(bool)
            inner = ~leaf
            arrays["feature"][t, :n] = np.where(inner, nodes["feature_idx"], 0)
            arrays["threshold"][t, :n] = nodes["num_threshold"]
            arrays["missing_left"][t, :n] = nodes["missing_go_to_left"].astype(bool)
            arrays["left"][t, :n] = np.where(inner, nodes["left"], np.arange(n))
            arrays["right"][t, :n] = np.where(inner, nodes["right"], np.arange(n))
            arrays["value"][t, :n] = np.where(leaf, nodes["value"], 0.0)
            depth = max(depth, int(nodes["depth"].max()))
        baseline = float(np.asarray(model._baseline_prediction).reshape(-1)[0])
        sign = 1.0 if classes[1] == 1 else -1.0
        arrays["value"] *= sign
        return cls(**arrays, baseline=sign * baseline, lags=lags, depth=depth)

    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        """``float64[n]`` log-odds of "up" for ``x: float[n, F * (lags + 1)]``."""
        x = np.asarray(x, np.float64)
        n_trees = self.feature.shape[0]
        node = np.zeros((x.shape[0], n_trees), np.int64)
        cols = np.arange(n_trees)
        for _ in range(self.depth):
            xv = np.take_along_axis(x, self.feature[cols, node], axis=1)
            go_left = np.where(
                np.isnan(xv),
                self.missing_left[cols, node],
                xv <= self.threshold[cols, node],
            )
            node = np.where(go_left, self.left[cols, node], self.right[cols, node])
        return self.baseline + self.value[cols, node].sum(axis=1)

    def logits(self, x: jax.Array) -> jax.Array:
        """``float32[n]`` log-odds of "up" in JAX (``x: float32[n, F * (lags+1)]``)."""
        feature, left, right = (
            jnp.asarray(a) for a in (self.feature, self.left, self.right)
        )
        threshold = jnp.asarray(self.threshold, jnp.float32)
        missing_left = jnp.asarray(self.missing_left)
        cols = jnp.arange(feature.shape[0])

        def step(node: jax.Array, _: None) -> tuple[jax.Array, None]:
            xv = jnp.take_along_axis(x, feature[cols, node], axis=1)
            go_left = jnp.where(
                jnp.isnan(xv), missing_left[cols, node], xv <= threshold[cols, node]
            )
            return jnp.where(go_left, left[cols, node], right[cols, node]), None

        start = jnp.zeros((x.shape[0], feature.shape[0]), jnp.int32)
        leaf, _ = jax.lax.scan(step, start, None, length=self.depth)
        value = jnp.asarray(self.value, jnp.float32)[cols, leaf].sum(axis=1)
        return jnp.float32(self.baseline) + value

    def proba_windows(self, xn: jax.Array) -> jax.Array:
        """``float32[B]`` P(up) of normalised windows ``xn: float32[B, W, F]``
        (bars ``t, ..., t - lags`` are the last ``lags + 1`` of the window)."""
        last = xn[:, ::-1][:, : self.lags + 1]  # bars t, t - 1, ...
        return jax.nn.sigmoid(self.logits(last.reshape(last.shape[0], -1)))

    def predict(self, data: FoldedData, ids: np.ndarray, fold: int = -1) -> np.ndarray:
        """``float32[n]`` P(up) of sample ids (fold ``fold``'s normalisation)."""
        dataset, folds, norm = data
        k = fold % folds.train.shape[0]
        x = lagged_features(dataset, ids, norm, k, self.lags)
        return (1.0 / (1.0 + np.exp(-self.predict_raw(x)))).astype(np.float32)

    def save(self, path: Path) -> None:
        """Write the arrays to ``path`` (``.npz``; no pickled objects)."""
        scalars = {
            "baseline": np.float64(self.baseline),
            "lags": np.int64(self.lags),
            "depth": np.int64(self.depth),
        }
        np.savez(path, **{f: getattr(self, f) for f in _FIELDS}, **scalars)

    @classmethod
    def load(cls, path: Path) -> TreeModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(
                **{f: np.asarray(z[f]) for f in _FIELDS},
                baseline=float(z["baseline"]),
                lags=int(z["lags"]),
                depth=int(z["depth"]),
            )


def gbdt_trees(key: Key, data: FoldedData, fold: int = -1, lags: int = 2) -> TreeModel:
    """The GBDT baseline fitted on fold ``fold``'s training ids, as a
    :class:`TreeModel` (what :func:`~nasjax.baselines.classical.gbdt` fits
    with the same ``key``).

    Raises:
        ValueError: If the training labels hold fewer or more than 2 classes.
    """
    dataset, folds, norm = data
    k = fold % folds.train.shape[0]
    train, _, _ = split_ids(folds, "val", fold)
    y = np.asarray(dataset.labels).reshape(-1)[train]
    model = gbdt_model(key)
    model.fit(lagged_features(dataset, train, norm, k, lags), y)
    return TreeModel.from_sklearn(model, lags)
