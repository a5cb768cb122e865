"""Device-ready arrays: `Dataset`, `gather_windows` and `build_dataset`."""

from __future__ import annotations

import dataclasses
import logging
import mmap
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
from flax import struct

from nasjax.data.align import align_panel
from nasjax.data.errors import AlignReport, DataError
from nasjax.data.features import FeatureConfig, aligned, check_config, feature_grids
from nasjax.data.labels import check_label_args, label_grids
from nasjax.data.normalize import NormStats, stats_from_sums, time_sums
from nasjax.data.schema import timeframe_str
from nasjax.data.side import SideSeries, side_features
from nasjax.data.splits import FoldConfig, Folds, fold_samples, walk_forward

logger = logging.getLogger("nasjax.data")


@dataclasses.dataclass(frozen=True, eq=False)
class DatasetMeta:
    """Host-side metadata of a `Dataset` (static in the pytree, hashed by id).

    Attributes:
        symbols: S symbol names, in the order of the symbol axis.
        feature_names: F feature names, in the order of the feature axis.
        timestamps: ``datetime64[us][T]`` candle open times (UTC).
        window: Lookback window the label mask was built for.
        horizon: Label horizon in bars.
        class_names: Names of the classes of a classification dataset
            (labels index them, e.g. :mod:`nasjax.data.ucr`); empty for the
            price-direction labels of candle data.
        align: What `align_panel` did to each symbol (bars kept, dropped,
            filled and absent, first and last bar, symbols dropped); None
            when the frame came aligned or is not candle data.
    """

    symbols: tuple[str, ...]
    feature_names: tuple[str, ...]
    timestamps: np.ndarray
    window: int
    horizon: int
    class_names: tuple[str, ...] = ()
    align: AlignReport | None = None


@struct.dataclass
class Dataset:
    """Pooled multi-coin dataset; sample id of (t, s) is ``t * S + s``.

    A ragged panel (coins listed late or delisted early) has *absent* cells
    where a coin has no bar: their features are 0, and no sample whose
    window or label touches one is in ``label_mask``.

    Attributes:
        features: float32[T, S, F], un-normalised, 0 where not valid.
        labels: int32[T, S] (1 up, 0 down, 2 dead zone in ``"class"`` mode;
            0 where label_mask is False).
        label_mask: bool[T, S]: valid label, full valid lookback window (no
            absent cell, finite features) and (by default) neither bar t nor
            bar t + h forward-filled.
        forward_return: float32[T, S] log(close[t+h] / close[t]) (0 if none).
        meta: `DatasetMeta` (static).
    """

    features: jax.Array
    labels: jax.Array
    label_mask: jax.Array
    forward_return: jax.Array
    meta: DatasetMeta = struct.field(pytree_node=False)


def gather_windows(
    features: jax.Array, sample_ids: jax.Array, window: int
) -> jax.Array:
    """Gathers the lookback window ending at (and including) t for each sample.

    Jittable with ``window`` static (``jax.jit(gather_windows,
    static_argnums=2)``); only the requested windows are materialised.
    Sample ids must satisfy ``t >= window - 1`` (true for every id with
    ``label_mask``); earlier times are clipped to row 0.

    Args:
        features: float32[T, S, F].
        sample_ids: int[B] flat ids ``t * S + s``.
        window: W >= 1.

    Returns:
        float32[B, W, F]; ``out[b, -1]`` is the feature row at t.
    """
    n_steps, n_sym = features.shape[0], features.shape[1]
    ids = jnp.asarray(sample_ids)
    t, s = ids // n_sym, ids % n_sym
    times = jnp.clip(t[:, None] + jnp.arange(1 - window, 1)[None, :], 0, n_steps - 1)
    return features[times, s[:, None]]


def _aligned_empty(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """`np.empty` for a large output buffer: page-aligned and pre-faulted.

    Anonymous ``mmap`` with ``MAP_POPULATE`` where available: the pages are
    mapped in one call instead of one fault each, and without the transparent
    huge page advice numpy gives large arrays (first touch of huge pages can
    stall on memory compaction: ~1 s/GB on the benchmark VM against ~0.3 s/GB
    here). Page alignment also lets JAX's CPU client alias the buffer.
    """
    count = int(np.prod(shape))
    n = count * np.dtype(dtype).itemsize
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    if flags and n >= 1 << 24:
        buf = mmap.mmap(-1, n, flags=flags | getattr(mmap, "MAP_POPULATE", 0))
        return np.frombuffer(buf, dtype, count).reshape(shape)
    raw = np.empty(n + 64, np.uint8)
    offset = -raw.ctypes.data % 64
    return raw[offset : offset + n].view(dtype).reshape(shape)


def window_valid(valid: np.ndarray, window: int) -> np.ndarray:
    """Which bars have a complete window: the rule training and serving share.

    Args:
        valid: ``bool[T, S]`` whether each bar's features are all finite.
        window: Lookback window W in bars.

    Returns:
        ``bool[T, S]``: rows ``t-W+1..t`` all valid (False for ``t < W-1``).
    """
    bad = np.cumsum(~valid, axis=0, dtype=np.int64)
    prev = np.zeros_like(bad)
    prev[window:] = bad[:-window]
    out = (bad - prev) == 0
    out[: window - 1] = False
    return out


def _infer_timeframe(frame: pl.DataFrame) -> str:
    step = (
        frame.sort(["symbol", "timestamp"])
        .select(pl.col("timestamp").diff().over("symbol").dt.total_microseconds())
        .to_series()
    )
    pos = step.filter(step > 0)
    if pos.len() == 0:
        raise DataError("cannot infer the timeframe: pass timeframe=")
    return timeframe_str(int(pos.min()))  # type: ignore[arg-type]


class FoldedData(NamedTuple):
    """A dataset with its walk-forward folds and per-fold normalisation.

    The one value the training, search and evaluation layers take instead of
    three loose arguments. It is a ``NamedTuple``, so
    ``dataset, folds, norm = data`` still unpacks it.

    Attributes:
        dataset: The pooled samples (:class:`Dataset`).
        folds: Sample-id walk-forward folds (:class:`~nasjax.data.Folds`).
        norm: Per-fold normalisation statistics fitted on each fold's train
            part (:class:`~nasjax.data.NormStats`).
    """

    dataset: Dataset
    folds: Folds
    norm: NormStats


def build_dataset(
    frame: pl.DataFrame,
    feature_cfg: FeatureConfig | None = None,
    horizon: int = 1,
    window: int = 32,
    folds: FoldConfig | None = None,
    *,
    timeframe: str | None = None,
    max_fill: int = 3,
    gap_policy: str = "mask",
    span: str = "union",
    min_history: int = 0,
    dead_zone: float = 0.0,
    dead_zone_mode: str = "drop",
    mask_filled: bool = True,
    symbols: Sequence[str] | None = None,
    side: Sequence[SideSeries] = (),
) -> FoldedData:
    """Long OHLCV frame -> (`Dataset`, sample-id `Folds`, per-fold `NormStats`).

    Aligns the frame (unless it already has a ``filled`` column from
    `align_panel`), computes causal features and labels, builds the
    [T, S, F] tensor, the label mask, walk-forward folds over sample ids with
    valid labels, and normalisation statistics from each fold's train part.

    By default the panel is ragged: it spans the union of the coins'
    periods, a coin listed late or delisted early keeps all its bars, and
    its cells before its first bar, after its last bar and in its long gaps
    are absent (no sample of that coin touches them; the other coins keep
    theirs). What happened to each coin is logged (``nasjax.data`` logger)
    and kept in ``dataset.meta.align``.

    Args:
        frame: Long frame as from `load_ohlcv` / `load_sample` / `synthetic`.
        feature_cfg: Features to compute (default `FeatureConfig()`).
        horizon: Label horizon h in bars.
        window: Model lookback W in bars.
        folds: Walk-forward configuration (default `FoldConfig()`; purge >= h + W
            is enforced).
        timeframe: Grid step; inferred from the data when None.
        max_fill: Passed to `align_panel`.
        gap_policy: Passed to `align_panel` (``"mask"``: a long gap of one
            coin masks that coin only; ``"drop"``: its timestamps are dropped
            for every coin).
        span: Passed to `align_panel` (``"union"``: ragged panel;
            ``"intersection"``: cut to the period every coin trades).
        min_history: Coins with fewer bars are dropped (logged with the
            reason); 0 keeps all.
        dead_zone: Passed to `make_labels`.
        dead_zone_mode: Passed to `make_labels`.
        mask_filled: Exclude samples whose bar t or t + h was forward-filled.
        symbols: Optional subset of symbols (in this order on the symbol axis
            after sorting by name).
        side: Side series (`nasjax.data.side.SideSeries`) joined as of their
            publication; their columns are appended to the features (a bar
            without a visible value masks the samples whose window touches
            it, or raises, per the series' ``missing``).

    Returns:
        :class:`FoldedData` ``(dataset, folds, norm)``.

    Raises:
        DataError: On bad input or configuration.
    """
    feature_cfg = FeatureConfig() if feature_cfg is None else feature_cfg
    folds = FoldConfig() if folds is None else folds
    if window < 1:
        raise DataError(f"window must be >= 1, got {window}")
    if symbols is not None:
        frame = frame.filter(pl.col("symbol").is_in(list(symbols)))
    report = None
    if "filled" not in frame.columns:
        tf = timeframe or _infer_timeframe(frame)
        aligned_frame = align_panel(
            frame,
            tf,
            max_fill=max_fill,
            gap_policy=gap_policy,
            span=span,
            min_history=min_history,
            return_report=True,
        )
        assert isinstance(aligned_frame, tuple)
        frame, report = aligned_frame
        log_coverage(report)
    feature_cfg = check_config(feature_cfg)
    check_label_args(horizon, dead_zone, dead_zone_mode)
    df, syms, n_steps = aligned(frame)
    n_sym = len(syms)
    # Features straight from the dense [S, T] grid into float32[T, S, F]: no
    # long feature frame is ever built.
    named = list(feature_grids(df, syms, n_steps, feature_cfg))

    def grid(col: str) -> np.ndarray:
        return df[col].to_numpy().reshape(n_sym, n_steps)

    if side:
        named += side_features(
            side,
            df["timestamp"].head(n_steps),
            syms,
            present=np.isfinite(grid("close")),
            taken=[name for name, _ in named],
        )
    names = [name for name, _ in named]
    n_feat = len(named)

    # Labels and the parts of the mask known before the features.
    fwd_st, label_st, label_ok = label_grids(
        grid("close"), horizon, dead_zone, dead_zone_mode
    )
    mask = np.ascontiguousarray(label_ok.T)
    # Absent cells (no bar: a coin not listed yet, delisted, in a masked gap)
    # are never valid, whatever the features (e.g. calendar only).
    present = np.isfinite(grid("close")).T
    if mask_filled:
        filled = np.ascontiguousarray(grid("filled").T)
        later = np.ones_like(filled)
        later[:-horizon] = filled[horizon:]
        mask &= ~filled & ~later
        del filled, later
    feats = _aligned_empty((n_steps, n_sym, n_feat), np.float32)
    valid = np.empty((n_steps, n_sym), bool)
    s1 = np.empty((n_steps, n_feat))
    s2 = np.empty((n_steps, n_feat))
    count = np.empty(n_steps)
    # Filled in blocks of time steps: each feature is cast into a contiguous
    # float32 [F, S, block] scratch that fits in cache, then the block is
    # transposed into place (one strided write per feature over the whole
    # tensor would touch every cache line F times). The window mask and the
    # per-time sums of the norm statistics use the block while it is in cache.
    block = max(1, (1 << 20) // max(1, n_sym * n_feat))
    scratch = np.empty((n_feat, n_sym, block), np.float32)
    for a in range(0, n_steps, block):
        b = min(block, n_steps - a)
        part = scratch[:, :, :b]
        for k, (_, values) in enumerate(named):
            part[k] = values[:, a : a + b]
        finite = np.isfinite(part)
        valid[a : a + b] = finite.all(axis=0).T & present[a : a + b]
        np.copyto(part, np.float32(0.0), where=~finite)
        out = feats[a : a + b]
        out[...] = part.transpose(2, 1, 0)
        lo = max(0, a - window + 1)  # the window reaches back window - 1 bars
        mask[a : a + b] &= window_valid(valid[lo : a + b], window)[a - lo :]
        s1[a : a + b], s2[a : a + b], count[a : a + b] = time_sums(out, mask[a : a + b])
    del named, scratch
    labels = np.where(mask, label_st.T, 0).astype(np.int32)
    fwd = np.where(mask, fwd_st.T, 0.0).astype(np.float32)
    time_folds = walk_forward(
        n_steps,
        folds.n_folds,
        window,
        horizon,
        val_size=folds.val_size,
        test_size=folds.test_size,
        purge=folds.purge,
        embargo=folds.embargo,
        mode=folds.mode,
        train_size=folds.train_size,
        min_train=folds.min_train,
    )
    sample_folds = fold_samples(time_folds, mask)
    stats = stats_from_sums(s1, s2, count, time_folds)
    timestamps = df["timestamp"].head(n_steps).dt.replace_time_zone(None).to_numpy()
    meta = DatasetMeta(
        symbols=syms,
        feature_names=tuple(names),
        timestamps=timestamps,
        window=window,
        horizon=horizon,
        align=report,
    )
    # On the CPU backend `device_put` of a 64-byte aligned array is zero-copy:
    # the features tensor is not duplicated (and nothing here writes to it
    # afterwards). Elsewhere it is the usual host-to-device copy.
    dataset = Dataset(
        features=jax.device_put(feats),
        labels=jnp.asarray(labels),
        label_mask=jnp.asarray(mask),
        forward_return=jnp.asarray(fwd),
        meta=meta,
    )
    return FoldedData(dataset, sample_folds, stats)


prepare = build_dataset
"""Alias of `build_dataset`."""


def log_coverage(report: AlignReport) -> None:
    """Logs the bars each symbol kept, lost, had filled and lacks (INFO), and
    the symbols dropped with the reason (WARNING), to ``nasjax.data``."""
    for sym, why in report.dropped_symbols.items():
        logger.warning("%s dropped: %s", sym, why)
    for sym, kept in report.bars_per_symbol.items():
        first, last = report.periods.get(sym, (None, None))
        logger.info(
            "%s: %d bars kept (%s .. %s), %d dropped, %d filled, %d absent",
            sym,
            kept,
            first,
            last,
            report.dropped_per_symbol.get(sym, 0),
            report.filled_per_symbol.get(sym, 0),
            report.absent_per_symbol.get(sym, 0),
        )
