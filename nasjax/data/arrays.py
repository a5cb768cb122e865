"""In-memory labelled series ``X: [n, T, F]``, ``y: [n]`` as a `FoldedData`.

:func:`array_dataset` puts arrays (e.g. what a scikit-learn user hands
:class:`nasjax.NASClassifier`) in the layout of the classification datasets
(:mod:`nasjax.data.ucr`), which the model, training and search code read:

* instance ``i`` is "symbol" column ``i`` of ``features: float32[T, S, F]``
  and ONE labelled sample at the last step (sample id ``(T - 1) * S + i``,
  lookback window the whole series, ``window = T``);
* the symbol axis is padded with unlabelled all-zero columns up to a power
  of two ``S >= max(n, MIN_BUCKET)`` so that, with the trainer's padded
  training ids (:data:`nasjax.train.data.TRAIN_BUCKET`), datasets of similar
  size share the compiled training program: every dataset of up to
  :data:`MIN_BUCKET` instances with the same ``T``, ``F`` and class count
  compiles once (e.g. the splits of ``cross_val_score``);
* every instance is training data: the ``K`` validation folds partition the
  instances, and the test split is empty (the caller holds its own);
* normalisation: per-feature mean/std over the steps of each fold's training
  instances.

Folds (``folds=``):

* ``"stratified"``: seeded stratified K-fold
  (:func:`nasjax.data.ucr.stratified_folds`): each fold trains on the other
  folds' instances. For exchangeable instances.
* ``"time"``: the instances are in time order; the K + 1 contiguous blocks
  of ``TimeSeriesSplit`` are formed and fold k validates on block k + 1 and
  trains on every earlier instance (expanding window, nothing from the
  future). For windows cut from one series in order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.data.dataset import Dataset, DatasetMeta, FoldedData
from nasjax.data.errors import DataError
from nasjax.data.normalize import NormStats
from nasjax.data.ucr import instance_folds, stratified_folds

__all__ = ["FOLD_MODES", "MIN_BUCKET", "array_dataset", "array_folds"]

FOLD_MODES: tuple[str, ...] = ("stratified", "time")
"""``folds`` values of :func:`array_dataset`."""

MIN_BUCKET = 256
"""Smallest padded size of the instance axis."""


def array_folds(
    y: np.ndarray, n_folds: int, folds: str = "stratified", seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Training and validation instance positions of each fold.

    Args:
        y: ``int[n]`` class indices, in instance order.
        n_folds: K >= 2.
        folds: ``"stratified"`` or ``"time"`` (module docstring).
        seed: Seed of the stratified assignment (unused by ``"time"``).

    Returns:
        ``(train, val)``: K sorted ``int64`` position arrays each.

    Raises:
        DataError: On an unknown mode, K < 2, or too few instances (K for
            stratified folds, K + 1 for time folds).
    """
    n = len(y)
    if folds not in FOLD_MODES:
        raise DataError(f"folds must be one of {FOLD_MODES}, got {folds!r}")
    if n_folds < 2:
        raise DataError(f"n_folds must be >= 2, got {n_folds}")
    if folds == "stratified":
        if n < n_folds:
            raise DataError(
                f"n_samples={n}: {n_folds} stratified validation folds need at "
                f"least {n_folds} samples"
            )
        val = stratified_folds(np.asarray(y), n_folds, seed)
        train = [np.setdiff1d(np.arange(n), v) for v in val]
        return train, val
    if n < n_folds + 1:
        raise DataError(
            f"n_samples={n}: {n_folds} time-ordered validation folds need at "
            f"least {n_folds + 1} samples"
        )
    blocks = np.array_split(np.arange(n), n_folds + 1)
    train = [np.concatenate(blocks[: k + 1]) for k in range(n_folds)]
    return train, list(blocks[1:])


def bucket_size(n: int) -> int:
    """Smallest power of two ``>= max(n, MIN_BUCKET)``."""
    return 1 << max(0, max(n, MIN_BUCKET) - 1).bit_length()


def _norm_stats(x: np.ndarray, train: list[np.ndarray]) -> NormStats:
    """Per-fold feature mean/std over every step of the training instances."""
    means, stds = [], []
    for idx in train:
        part = x[idx].astype(np.float64)
        mean = part.mean(axis=(0, 1))
        std = part.std(axis=(0, 1))
        means.append(mean)
        stds.append(np.where(std > 1e-8, std, 1.0))
    return NormStats(
        mean=np.asarray(means, np.float32), std=np.asarray(stds, np.float32)
    )


def array_dataset(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    n_folds: int = 3,
    folds: str = "stratified",
    seed: int = 0,
    class_names: tuple[str, ...] | None = None,
) -> FoldedData:
    """Labelled series -> (`Dataset`, sample-id `Folds`, `NormStats`).

    Args:
        x: ``float[n, T, F]`` finite series (instances first).
        y: ``int[n]`` class indices in ``[0, n_classes)``.
        n_classes: C >= 2 (the model's output size).
        n_folds: K >= 2 validation folds.
        folds: ``"stratified"`` or ``"time"`` (module docstring).
        seed: Seed of the stratified fold assignment.
        class_names: C names (default ``"0" .. "C-1"``).

    Returns:
        ``(dataset, folds, norm)``: ``features: float32[T, S, F]`` with
        ``S = bucket_size(n)`` (at least :data:`MIN_BUCKET`; columns
        ``n..S-1`` are padding, never labelled),
        labels and label mask ``[T, S]`` (row ``T - 1`` only), folds over
        sample ids (empty test) and
        ``norm`` ``float32[K, F]``.

    Raises:
        DataError: On bad shapes, non-finite values, labels out of range or
            an impossible fold layout.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 3 or y.shape != (x.shape[0],):
        raise DataError(f"expected x [n, T, F] and y [n], got {x.shape} and {y.shape}")
    if not np.isfinite(x).all():
        raise DataError("x holds NaN or infinite values")
    if n_classes < 2 or y.min(initial=0) < 0 or y.max(initial=0) >= n_classes:
        raise DataError(f"y must hold class indices in [0, {n_classes}), C >= 2")
    n, length, n_feat = x.shape
    train, val = array_folds(y, n_folds, folds, seed)
    n_sym = bucket_size(n)
    feats = np.zeros((length, n_sym, n_feat), np.float32)
    feats[:, :n] = x.transpose(1, 0, 2)
    labels = np.zeros((length, n_sym), np.int32)
    labels[-1, :n] = y
    label_mask = np.zeros((length, n_sym), bool)
    label_mask[-1, :n] = True
    fold_ids = instance_folds(length, n_sym, train, val)
    names = class_names or tuple(str(c) for c in range(n_classes))
    meta = DatasetMeta(
        symbols=tuple(f"{i:06d}" for i in range(n_sym)),
        feature_names=tuple(f"x{f}" for f in range(n_feat)),
        timestamps=np.arange(length).astype("datetime64[s]").astype("datetime64[us]"),
        window=length,
        horizon=1,
        class_names=tuple(names),
    )
    dataset = Dataset(
        features=jax.device_put(feats),
        labels=jnp.asarray(labels),
        label_mask=jnp.asarray(label_mask),
        forward_return=jnp.zeros((length, n_sym), jnp.float32),
        meta=meta,
    )
    return FoldedData(dataset, fold_ids, _norm_stats(x, train))
