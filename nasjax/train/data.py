"""``TrainData``: the device arrays one training run (one fold) reads."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.data.dataset import FoldedData, gather_windows
from nasjax.data.normalize import normalize
from nasjax.data.splits import Folds, pad_rows

SPLITS: tuple[str, ...] = ("val", "test")


class TrainData(NamedTuple):
    """One fold's training data (or, stacked, K folds on a leading axis).

    Attributes:
        features: ``float32[T, S, F]`` un-normalised features (shared by folds).
        labels: ``int32[T * S]`` flat labels indexed by sample id ``t * S + s``.
        train: ``int32[n_train]`` training sample ids, valid ones first
            (padded to a power of two, at least :data:`TRAIN_BUCKET`).
        n_train: ``int32[]`` number of valid training ids.
        val: ``int32[n_val]`` validation ids, padded to a multiple of the
            evaluation batch.
        val_mask: ``bool[n_val]`` valid validation ids.
        mean: ``float32[F]`` normalisation mean of this fold's train part.
        std: ``float32[F]`` normalisation std.
    """

    features: jax.Array
    labels: jax.Array
    train: jax.Array
    n_train: jax.Array
    val: jax.Array
    val_mask: jax.Array
    mean: jax.Array
    std: jax.Array


TRAIN_BUCKET = 256
"""Smallest padded length of the training id arrays (then powers of two)."""

#: ``in_axes`` for vmapping over folds: per-fold fields on axis 0.
FOLD_AXES = TrainData(None, None, 0, 0, 0, 0, 0, 0)  # type: ignore[arg-type]


def _compact(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.asarray(ids[np.asarray(mask, bool)], np.int32)


def _subsample(ids: np.ndarray, cap: int | None) -> np.ndarray:
    if cap is None or len(ids) <= cap:
        return ids
    pick = np.linspace(0, len(ids) - 1, cap).round().astype(np.int64)
    return ids[pick]


def split_ids(
    folds: Folds, split: str = "val", fold: int = -1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Host ids ``(train, val, eval)`` of one fold for a split.

    ``split="val"``: train on fold ``fold``'s train ids, early-stop and
    evaluate on its validation ids. ``split="test"``: train on fold ``fold``'s
    train ids (default the last fold, nearest the test block), early-stop on
    its validation ids and evaluate on the held-out test ids.

    Returns:
        Three ``int32`` arrays of valid sample ids (no padding).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    train = _compact(folds.train[fold], folds.train_mask[fold])
    val = _compact(folds.val[fold], folds.val_mask[fold])
    test = _compact(folds.test, folds.test_mask)
    return train, val, val if split == "val" else test


def make_train_data(
    data: FoldedData,
    *,
    eval_batch_size: int = 512,
    max_eval_samples: int | None = None,
    fold_ids: tuple[int, ...] | None = None,
) -> TrainData:
    """Stack every fold's train/val ids and norm stats on a leading axis K.

    Args:
        data: The pooled dataset, its sample-id folds and per-fold
            normalisation statistics (from ``build_dataset``).
        eval_batch_size: Validation ids are padded to a multiple of this.
        max_eval_samples: Optional cap on validation ids per fold (evenly
            strided subset).
        fold_ids: Which folds (default all).

    Returns:
        ``TrainData`` whose per-fold fields have a leading axis K; vmap it
        with :data:`FOLD_AXES`, or take one fold with :func:`select_fold`.
    """
    dataset, folds, norm = data
    ks = tuple(range(folds.train.shape[0])) if fold_ids is None else fold_ids
    trains = [_compact(folds.train[k], folds.train_mask[k]) for k in ks]
    vals = [
        _subsample(_compact(folds.val[k], folds.val_mask[k]), max_eval_samples)
        for k in ks
    ]
    # Training ids are padded to a power of two (at least TRAIN_BUCKET): the
    # trainer draws positions below ``n_train`` only, so the padding changes
    # no result, and datasets of similar size share one compiled program.
    longest = max(len(t) for t in trains)
    train, _ = pad_rows(
        trains, 1 << max(0, max(longest, TRAIN_BUCKET) - 1).bit_length()
    )
    val, val_mask = pad_rows(vals, eval_batch_size)
    idx = np.asarray(ks)
    return TrainData(
        features=jnp.asarray(dataset.features, jnp.float32),
        labels=jnp.asarray(dataset.labels, jnp.int32).reshape(-1),
        train=jnp.asarray(train),
        n_train=jnp.asarray([len(t) for t in trains], jnp.int32),
        val=jnp.asarray(val),
        val_mask=jnp.asarray(val_mask),
        mean=jnp.asarray(np.asarray(norm.mean)[idx], jnp.float32),
        std=jnp.asarray(np.asarray(norm.std)[idx], jnp.float32),
    )


def select_fold(data: TrainData, k: int) -> TrainData:
    """One fold of a stacked ``TrainData``."""
    return data._replace(
        train=data.train[k],
        n_train=data.n_train[k],
        val=data.val[k],
        val_mask=data.val_mask[k],
        mean=data.mean[k],
        std=data.std[k],
    )


def windows(data: TrainData, ids: jax.Array, window: int) -> jax.Array:
    """Normalised model inputs ``float32[B, window, F]`` for sample ids."""
    return normalize(gather_windows(data.features, ids, window), data.mean, data.std)
