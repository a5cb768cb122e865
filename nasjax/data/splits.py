"""Walk-forward folds with purge and embargo, as fixed-shape index arrays.

Layout on the time axis (bars), for K folds::

    fold k:  [ train_k ][ purge ][ val_k ][ embargo ] ...
    end:     ... [ val_{K-1} ][ embargo ][ purge ][ test ]

Validation blocks follow each other separated by the embargo; train_k ends
``purge`` bars before val_k starts (expanding: starts at ``start``; sliding:
fixed length). The final test block is held out from every fold.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from nasjax.data.errors import DataError

MODES: tuple[str, ...] = ("expanding", "sliding")


class Folds(NamedTuple):
    """Fold index arrays (padded with 0 + masks) and their time ranges.

    Index arrays hold time steps (`walk_forward`) or flat sample ids
    ``t * S + s`` (`fold_samples`). Ranges are always ``[start, stop)`` in
    time steps.

    Attributes:
        train: int32[K, n_train_max].
        train_mask: bool[K, n_train_max].
        val: int32[K, n_val_max].
        val_mask: bool[K, n_val_max].
        test: int32[n_test].
        test_mask: bool[n_test].
        train_range: int64[K, 2].
        val_range: int64[K, 2].
        test_range: int64[2].
    """

    train: np.ndarray
    train_mask: np.ndarray
    val: np.ndarray
    val_mask: np.ndarray
    test: np.ndarray
    test_mask: np.ndarray
    train_range: np.ndarray
    val_range: np.ndarray
    test_range: np.ndarray


def pad_rows(
    blocks: list[np.ndarray], multiple: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Stack ragged id blocks into ``(int32[K, n], bool[K, n])`` with a mask.

    ``n`` is the longest block (at least 1) rounded up to ``multiple``.
    """
    width = max(1, max(len(b) for b in blocks))
    width = -(-width // multiple) * multiple
    idx = np.zeros((len(blocks), width), np.int32)
    mask = np.zeros((len(blocks), width), bool)
    for k, b in enumerate(blocks):
        idx[k, : len(b)] = b
        mask[k, : len(b)] = True
    return idx, mask


def _fit_advice(usable: int, window: int) -> str:
    """What to change when the folds do not fit the bars."""
    if window * 4 >= usable:
        return (
            f"The window ({window} bars) is too long for {usable} usable bars: "
            "use a shorter data.window, or more data."
        )
    return "Use fewer folds (data.n_folds), a shorter data.window, or more data."


def walk_forward(
    n_steps: int,
    n_folds: int,
    window: int,
    horizon: int,
    *,
    val_size: int | None = None,
    test_size: int | None = None,
    purge: int | None = None,
    embargo: int | None = None,
    mode: str = "expanding",
    train_size: int | None = None,
    min_train: int = 1,
    start: int = 0,
) -> Folds:
    """Builds walk-forward folds over ``n_steps`` bars.

    Args:
        n_steps: Length T of the time axis.
        n_folds: K >= 1.
        window: Model lookback in bars (purge must cover it).
        horizon: Label horizon in bars (purge must cover it).
        val_size: Bars per validation block. Default: so that the first
            fold's train block is about twice a validation block.
        test_size: Bars of the final test block. Default: 20% of the bars.
        purge: Gap between any train block and the next val/test block.
            Default and minimum: ``horizon + window``.
        embargo: Gap after each validation block. Default: ``horizon``.
        mode: ``"expanding"`` (train from ``start``) or ``"sliding"``.
        train_size: Train length in sliding mode (default: the first fold's).
        min_train: Smallest acceptable train block.
        start: First usable bar (e.g. the feature warm-up).

    Returns:
        `Folds` of time steps.

    Raises:
        DataError: Purge too small, unknown mode, or sizes that do not fit.
    """
    if mode not in MODES:
        raise DataError(f"unknown mode {mode!r}; known: {MODES}")
    if n_folds < 1 or window < 1 or horizon < 1:
        raise DataError("n_folds, window and horizon must be >= 1")
    purge = horizon + window if purge is None else purge
    if purge < horizon + window:
        raise DataError(
            f"purge={purge} < horizon + window = {horizon + window}: labels of "
            "train samples would overlap validation/test windows"
        )
    embargo = horizon if embargo is None else embargo
    if embargo < 0:
        raise DataError(f"embargo must be >= 0, got {embargo}")
    usable = n_steps - start
    test_size = round(0.2 * usable) if test_size is None else test_size
    test_start = n_steps - test_size
    # Bars left for train_0 + K val blocks once the gaps are taken out: the
    # purge after train_0, K embargoes and the purge before the test block.
    free = test_start - start - 2 * purge - n_folds * embargo
    if val_size is None:
        val_size = free // (n_folds + 2)
    train0 = free - n_folds * val_size
    if test_size < 1 or val_size < 1 or train0 < max(min_train, 1):
        raise DataError(
            f"walk-forward does not fit: n_steps={n_steps}, start={start}, "
            f"n_folds={n_folds}, val_size={val_size}, test_size={test_size}, "
            f"purge={purge} (= window {window} + horizon {horizon} at least), "
            f"embargo={embargo} leave train_0={train0} bars "
            f"(min_train={min_train}). {_fit_advice(n_steps - start, window)}"
        )
    v0 = test_start - purge - n_folds * (val_size + embargo)
    if sliding := mode == "sliding":
        train_size = train0 if train_size is None else train_size
        if not 1 <= train_size <= train0:
            raise DataError(f"train_size must be in [1, {train0}], got {train_size}")
    trains, vals, tr_rng, va_rng = [], [], [], []
    for k in range(n_folds):
        vs = v0 + k * (val_size + embargo)
        te = vs - purge
        ts = te - train_size if sliding and train_size is not None else start
        trains.append(np.arange(ts, te))
        vals.append(np.arange(vs, vs + val_size))
        tr_rng.append((ts, te))
        va_rng.append((vs, vs + val_size))
    train, train_mask = pad_rows(trains)
    val, val_mask = pad_rows(vals)
    return Folds(
        train=train,
        train_mask=train_mask,
        val=val,
        val_mask=val_mask,
        test=np.arange(test_start, n_steps, dtype=np.int32),
        test_mask=np.ones(test_size, bool),
        train_range=np.asarray(tr_rng, np.int64),
        val_range=np.asarray(va_rng, np.int64),
        test_range=np.asarray([test_start, n_steps], np.int64),
    )


def fold_samples(folds: Folds, label_mask: np.ndarray) -> Folds:
    """Turns time-step folds into flat sample ids ``t * S + s`` with valid labels.

    Args:
        folds: Time-step folds from `walk_forward`.
        label_mask: bool[T, S]; only samples where it is True are kept.

    Returns:
        `Folds` whose index arrays hold sample ids (padded + masked), with the
        same time ranges.
    """
    n_sym = label_mask.shape[1]
    flat = label_mask.reshape(-1)

    def ids(times: np.ndarray) -> np.ndarray:
        cand = (times[:, None].astype(np.int64) * n_sym + np.arange(n_sym)).ravel()
        return cand[flat[cand]]

    def blocks(idx: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return pad_rows([ids(i[m]) for i, m in zip(idx, mask, strict=True)])

    train, train_mask = blocks(folds.train, folds.train_mask)
    val, val_mask = blocks(folds.val, folds.val_mask)
    test, test_mask = blocks(folds.test[None], folds.test_mask[None])
    return folds._replace(
        train=train,
        train_mask=train_mask,
        val=val,
        val_mask=val_mask,
        test=test[0],
        test_mask=test_mask[0],
    )


@dataclasses.dataclass(frozen=True)
class FoldConfig:
    """Arguments of `walk_forward` other than the data-dependent ones.

    Attributes mirror `walk_forward`'s keyword arguments.
    """

    n_folds: int = 4
    val_size: int | None = None
    test_size: int | None = None
    purge: int | None = None
    embargo: int | None = None
    mode: str = "expanding"
    train_size: int | None = None
    min_train: int = 1


def split_last_validation(
    folds: Folds, n_symbols: int, fraction: float, gap: int
) -> tuple[Folds, Folds]:
    """Split the last fold's validation block in time: older part, recent part.

    The answer of a search early-stops its final fit on the older part and
    selects its ensemble, chooses and calibrates on the recent part, so the
    block that picks the answer is not the one its weights were stopped on.

    Args:
        folds: Sample-id folds (:func:`fold_samples`).
        n_symbols: S (sample id ``t * S + s``).
        fraction: Share of the block's bars in the recent part, in ``(0, 1)``.
        gap: Bars dropped between the parts (the label horizon: no label of
            the older part reads a close of the recent part).

    Returns:
        ``(older, recent)``: copies of ``folds`` whose last validation block
        holds only that part (every other index array unchanged).

    Raises:
        ValueError: If ``fraction`` is not in ``(0, 1)`` or a part is empty.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    ids, mask = folds.val[-1], folds.val_mask[-1]
    times = ids // n_symbols
    bars = np.unique(times[mask])
    n_recent = max(1, round(fraction * len(bars)))
    cut = bars[len(bars) - n_recent]
    recent = mask & (times >= cut)
    older = mask & (times < cut - gap)
    if not older.any() or not recent.any():
        raise ValueError(
            f"the last validation block ({len(bars)} bars) is too short to "
            f"split {fraction:.0%} off with a gap of {gap} bars"
        )

    def keep(part: np.ndarray) -> Folds:
        val_mask = folds.val_mask.copy()
        val_mask[-1] = part
        return folds._replace(val_mask=val_mask)

    return keep(older), keep(recent)
