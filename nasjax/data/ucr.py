"""UCR/UEA time-series classification datasets in nasjax's `Dataset` layout.

The small UCR/UEA archive datasets bundled with ``aeon``
(``pip install 'nasjax[ucr]'``) load offline, with the archive's published
train/test split. :func:`build_ucr_dataset` maps one of them onto the pooled
layout the model, training and search code already use:

* every instance (published TRAIN instances first, then TEST) is one
  "symbol" column ``s`` of ``features: float32[T, S, F]``;
* the time axis is the series length ``T = L`` (the longest series); shorter
  series are **left-padded** with zeros up to ``L`` (never truncated) and an
  extra 0/1 ``observed`` feature marks their real steps (only added when the
  lengths differ or values are missing);
* each instance is ONE labelled sample at the last step ``t = L - 1``
  (sample id ``(L - 1) * S + s``), whose lookback window is the whole padded
  series (``window = L``); labels are class indices ``0 .. C - 1`` (the
  sorted class names are ``DatasetMeta.class_names``);
* folds: ``K`` stratified validation folds drawn (seeded) from the published
  TRAIN instances only; the published TEST instances are the one-touch test
  split;
* normalisation: per-channel mean/std of each fold's training instances
  (observed steps only); the ``observed`` feature is left as 0/1.

Series are kept as published (the UCR archive z-normalises most univariate
series per instance; nasjax only applies the channel statistics above).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.data.dataset import Dataset, DatasetMeta, FoldedData
from nasjax.data.errors import DataError
from nasjax.data.normalize import NormStats
from nasjax.data.splits import Folds, pad_rows

__all__ = [
    "OBSERVED",
    "UCRSeries",
    "available",
    "build_ucr_dataset",
    "data_dir",
    "instance_split",
    "load_ucr",
    "stratified_folds",
]

OBSERVED = "observed"
"""Name of the 0/1 feature marking the real (not padded, not missing) steps."""

_INSTALL_HINT = "pip install 'nasjax[ucr]'"


class UCRSeries(NamedTuple):
    """One dataset's published split, as loaded (before any padding).

    Attributes:
        name: Dataset name (e.g. ``"BasicMotions"``).
        x_train: Train series, each ``float64[C, L_i]`` (channels first).
        y_train: ``int64[n_train]`` class indices into ``class_names``.
        x_test: Test series, each ``float64[C, L_i]``.
        y_test: ``int64[n_test]`` class indices.
        class_names: The C class labels as published (sorted; numerically
            when every label is an integer).
    """

    name: str
    x_train: list[np.ndarray]
    y_train: np.ndarray
    x_test: list[np.ndarray]
    y_test: np.ndarray
    class_names: tuple[str, ...]


def _aeon_datasets() -> Any:
    """The ``aeon.datasets`` module (imported quietly), or a clear error."""
    try:
        with warnings.catch_warnings():
            # aeon's import may warn about optional dependencies and
            # deprecations of its own dependencies; none concern reading the
            # bundled .ts files.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            import aeon.datasets as datasets
    except ImportError as e:  # pragma: no cover - exercised without aeon only
        raise ImportError(
            f"UCR/UEA datasets need the aeon package: {_INSTALL_HINT}"
        ) from e
    return datasets


def data_dir() -> Path:
    """The folder of the datasets bundled with ``aeon`` (read offline)."""
    return Path(_aeon_datasets().__file__).resolve().parent / "data"


def _is_classification(path: Path) -> bool:
    """Whether a ``.ts`` file's header declares class labels."""
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            low = line.strip().lower()
            if low.startswith("@classlabel"):
                return low.split()[1:2] == ["true"]
            if low.startswith("@data"):
                return False
    return False


@functools.cache
def available() -> tuple[str, ...]:
    """Names of the bundled classification datasets with a train/test split.

    A dataset is available when ``aeon``'s data folder holds
    ``NAME/NAME_TRAIN.ts`` and ``NAME/NAME_TEST.ts`` with class labels.

    Returns:
        Sorted dataset names.
    """
    names = []
    for folder in sorted(data_dir().iterdir()):
        train = folder / f"{folder.name}_TRAIN.ts"
        test = folder / f"{folder.name}_TEST.ts"
        if train.is_file() and test.is_file() and _is_classification(train):
            names.append(folder.name)
    return tuple(names)


def _check_name(name: str) -> None:
    names = available()
    if name not in names:
        raise DataError(
            f"unknown UCR/UEA dataset {name!r}; bundled (offline) datasets: "
            f"{list(names)}"
        )


def _read_split(name: str, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Series (``float64[C, L_i]`` each) and string labels of one split file."""
    datasets = _aeon_datasets()
    path = data_dir() / name / f"{name}_{split}.ts"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        x, y = datasets.load_from_ts_file(str(path))
    # float[n, C, L] when the lengths are equal, else a list of float[C, L_i].
    series = [np.asarray(xi, np.float64) for xi in x]
    series = [s[None, :] if s.ndim == 1 else s for s in series]
    return series, np.asarray(y).astype(str)


def _sorted_classes(labels: np.ndarray) -> tuple[str, ...]:
    names = sorted({str(v) for v in labels})
    try:
        return tuple(sorted(names, key=float))
    except ValueError:
        return tuple(names)


def load_ucr(name: str) -> UCRSeries:
    """One bundled dataset with its published train/test split (offline).

    Args:
        name: Dataset name, one of :func:`available`.

    Returns:
        :class:`UCRSeries`; class indices follow the sorted TRAIN labels.

    Raises:
        ImportError: If ``aeon`` is not installed.
        DataError: On an unknown name, or test labels absent from train.
    """
    _check_name(name)
    x_train, y_train = _read_split(name, "TRAIN")
    x_test, y_test = _read_split(name, "TEST")
    classes = _sorted_classes(y_train)
    index = {c: i for i, c in enumerate(classes)}
    unseen = sorted(set(y_test.tolist()) - set(classes))
    if unseen:
        raise DataError(f"{name}: test labels {unseen} never occur in train")
    channels = {s.shape[0] for s in [*x_train, *x_test]}
    if len(channels) != 1:
        raise DataError(f"{name}: series have different channel counts {channels}")
    return UCRSeries(
        name=name,
        x_train=x_train,
        y_train=np.array([index[v] for v in y_train], np.int64),
        x_test=x_test,
        y_test=np.array([index[v] for v in y_test], np.int64),
        class_names=classes,
    )


def instance_folds(
    length: int,
    n_sym: int,
    train_sets: Sequence[np.ndarray],
    val_sets: Sequence[np.ndarray],
    test: np.ndarray | None = None,
) -> Folds:
    """Folds over instances laid out one per column (each labelled once, at
    its last step ``length - 1``).

    Args:
        length: Steps of every (padded) instance.
        n_sym: Columns of the layout (instances plus padding).
        train_sets: Per fold, ``int[n_k]`` instance indices to train on.
        val_sets: Per fold, instance indices to validate on.
        test: Instance indices of the test set (None: no test set).

    Returns:
        The :class:`~nasjax.data.splits.Folds` of sample ids
        ``(length - 1) * n_sym + instance``; every range spans all steps.
    """
    last = (length - 1) * n_sym
    test = np.zeros(0, np.int64) if test is None else np.asarray(test)
    train_ids, train_mask = pad_rows([last + t for t in train_sets])
    val_ids, val_mask = pad_rows([last + v for v in val_sets])
    whole = np.tile(np.array([[0, length]], np.int64), (len(val_sets), 1))
    return Folds(
        train=train_ids,
        train_mask=train_mask,
        val=val_ids,
        val_mask=val_mask,
        test=(last + test).astype(np.int32),
        test_mask=np.ones(len(test), bool),
        train_range=whole,
        val_range=whole.copy(),
        test_range=np.array([0, length], np.int64),
    )


def stratified_folds(
    labels: np.ndarray, n_folds: int, seed: int = 0
) -> list[np.ndarray]:
    """Seeded stratified K-fold assignment of instances.

    Each class's instances are shuffled and dealt round-robin to the folds,
    continuing where the previous class stopped, so every fold gets each
    class's instances to within one and fold sizes differ by at most one.

    Args:
        labels: ``int[n]`` class indices.
        n_folds: K >= 2 (at most n).
        seed: Seed of the shuffle.

    Returns:
        K sorted ``int64`` arrays of positions in ``labels`` (the validation
        part of each fold); they partition ``range(n)``.

    Raises:
        DataError: If K < 2 or K > n.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 2 <= n_folds <= n:
        raise DataError(f"n_folds must be in [2, {n}] (train instances), got {n_folds}")
    rng = np.random.default_rng(seed)
    assign = np.empty(n, np.int64)
    offset = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        assign[idx] = (offset + np.arange(len(idx))) % n_folds
        offset += len(idx)
    return [np.flatnonzero(assign == k) for k in range(n_folds)]


def instance_split(dataset: Dataset, folds: Folds) -> tuple[np.ndarray, np.ndarray]:
    """Instance (symbol) indices of the published train and test parts.

    Returns:
        ``(int64[n_train], int64[n_test])``: train instances are every
        instance that is not in the test split.
    """
    n_sym = int(dataset.labels.shape[1])
    test = np.asarray(folds.test, np.int64)[np.asarray(folds.test_mask, bool)] % n_sym
    train = np.setdiff1d(np.arange(n_sym), test)
    return train, np.sort(test)


def _pad(series: Sequence[np.ndarray], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Left-pad ``float[C, L_i]`` series to ``[length, n, C]`` with a mask."""
    n, n_ch = len(series), series[0].shape[0]
    values = np.zeros((length, n, n_ch), np.float32)
    observed = np.zeros((length, n), bool)
    for s, x in enumerate(series):
        steps = x.shape[1]
        block = x.T  # [L_i, C]
        finite = np.isfinite(block)
        values[length - steps :, s] = np.where(finite, block, 0.0)
        observed[length - steps :, s] = finite.all(axis=1)
    return values, observed


def _norm_stats(
    values: np.ndarray, observed: np.ndarray, train_sets: list[np.ndarray], mask: bool
) -> NormStats:
    """Per-fold channel mean/std over the observed steps of train instances."""
    means, stds = [], []
    for inst in train_sets:
        v = values[:, inst].astype(np.float64)  # [L, n_k, C]
        w = observed[:, inst].astype(np.float64)[..., None]
        cnt = max(float(w.sum()), 1.0)
        mean = (v * w).sum((0, 1)) / cnt
        var = np.maximum((v * v * w).sum((0, 1)) / cnt - mean**2, 0.0)
        std = np.sqrt(var)
        std = np.where(std > 1e-8, std, 1.0)
        if mask:
            mean, std = np.append(mean, 0.0), np.append(std, 1.0)
        means.append(mean)
        stds.append(std)
    return NormStats(
        mean=np.asarray(means, np.float32), std=np.asarray(stds, np.float32)
    )


def build_ucr_dataset(name: str, n_folds: int = 3, seed: int = 0) -> FoldedData:
    """A bundled UCR/UEA dataset -> (`Dataset`, sample-id `Folds`, `NormStats`).

    Layout (see the module docstring): ``S = n_train + n_test`` instances
    (train first), ``T = L`` the longest series, ``F = C`` channels plus the
    ``observed`` feature when lengths differ or values are missing. Labels,
    label mask and (zero) forward returns are ``[T, S]``; only row ``L - 1``
    carries labels. ``DatasetMeta``: ``symbols`` ``"train/0007"`` /
    ``"test/0012"``, ``feature_names`` ``"dim_0" ..`` (+ ``"observed"``),
    ``timestamps`` the step index ``t`` as seconds after the epoch (no real
    times), ``window = L``, ``horizon = 1`` (unused), ``class_names``.

    Folds: ``train: int32[K, n_tr]`` / ``val: int32[K, n_va]`` sample ids of
    TRAIN instances (stratified K-fold, seeded), ``test: int32[n_test]``
    the published TEST instances; every time range is ``[0, L)``.

    Args:
        name: Dataset name, one of :func:`available`.
        n_folds: K >= 2 validation folds within the published TRAIN part.
        seed: Seed of the fold assignment.

    Returns:
        ``(dataset, folds, norm_stats)``; ``norm_stats`` are float32[K, F].

    Raises:
        ImportError: If ``aeon`` is not installed.
        DataError: On an unknown name or an impossible fold count.
    """
    data = load_ucr(name)
    series = [*data.x_train, *data.x_test]
    n_train, n_test = len(data.x_train), len(data.x_test)
    n_sym = n_train + n_test
    lengths = np.array([x.shape[1] for x in series])
    length = int(lengths.max())
    values, observed = _pad(series, length)
    n_ch = values.shape[-1]
    with_mask = bool((lengths != length).any() or not observed.all())
    if with_mask:
        feats = np.concatenate([values, observed[..., None].astype(np.float32)], -1)
    else:
        feats = values
    labels = np.zeros((length, n_sym), np.int32)
    labels[-1] = np.concatenate([data.y_train, data.y_test])
    label_mask = np.zeros((length, n_sym), bool)
    label_mask[-1] = True
    val_sets = stratified_folds(data.y_train, n_folds, seed)
    train_sets = [np.setdiff1d(np.arange(n_train), v) for v in val_sets]
    folds = instance_folds(
        length, n_sym, train_sets, val_sets, n_train + np.arange(n_test)
    )
    norm = _norm_stats(values, observed, train_sets, with_mask)
    names = tuple(f"dim_{c}" for c in range(n_ch)) + ((OBSERVED,) if with_mask else ())
    meta = DatasetMeta(
        symbols=tuple(f"train/{i:04d}" for i in range(n_train))
        + tuple(f"test/{i:04d}" for i in range(n_test)),
        feature_names=names,
        timestamps=np.arange(length).astype("datetime64[s]").astype("datetime64[us]"),
        window=length,
        horizon=1,
        class_names=data.class_names,
    )
    dataset = Dataset(
        features=jax.device_put(np.ascontiguousarray(feats, np.float32)),
        labels=jnp.asarray(labels),
        label_mask=jnp.asarray(label_mask),
        forward_return=jnp.zeros((length, n_sym), jnp.float32),
        meta=meta,
    )
    return FoldedData(dataset, folds, norm)
