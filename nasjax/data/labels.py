"""Direction labels from forward log returns."""

from __future__ import annotations

import numpy as np
import polars as pl

from nasjax.data.errors import DataError
from nasjax.data.features import SORT_KEY, is_sorted_by_symbol_time

DEAD_ZONE_MODES: tuple[str, ...] = ("drop", "class")


def make_labels(
    panel: pl.DataFrame,
    horizon: int = 1,
    dead_zone: float = 0.0,
    dead_zone_mode: str = "drop",
) -> pl.DataFrame:
    """Adds ``forward_return``, ``label`` and ``label_valid`` columns.

    ``forward_return[t] = log(close[t + h] / close[t])`` per symbol. The label
    is 1 (up) if it is > 0 and 0 (down) if < 0. Returns in the dead zone,
    ``|r| < dead_zone`` or exactly 0 (a tie), are either invalid
    (``dead_zone_mode="drop"``: ``label`` null, ``label_valid`` False) or class
    2 (``"class"``). The last ``h`` rows of each symbol have no label.

    Args:
        panel: Long frame with ``timestamp``, ``symbol``, ``close`` (aligned).
        horizon: h, in bars (>= 1).
        dead_zone: eps >= 0 of the dead zone, in log-return units.
        dead_zone_mode: ``"drop"`` or ``"class"``.

    Returns:
        The frame sorted by (symbol, timestamp) with ``forward_return``
        (Float64, null at the end), ``label`` (Int32, null where invalid) and
        ``label_valid`` (Boolean).

    Raises:
        DataError: Bad horizon, dead zone or mode.
    """
    check_label_args(horizon, dead_zone, dead_zone_mode)
    df = panel if is_sorted_by_symbol_time(panel) else panel.sort(SORT_KEY)
    logc = pl.col("close").log()
    sym = pl.col("symbol")
    # Rows are grouped by symbol: row t + h is the same coin iff same symbol.
    fwd = pl.when(sym.shift(-horizon) == sym).then(logc.shift(-horizon) - logc)
    df = df.with_columns(fwd.alias("forward_return"))
    r = pl.col("forward_return")
    in_dead = (r.abs() < dead_zone) | (r == 0)
    direction = pl.when(r > 0).then(1).otherwise(0)
    if dead_zone_mode == "drop":
        label = pl.when(r.is_null() | in_dead).then(None).otherwise(direction)
    else:
        label = (
            pl.when(r.is_null()).then(None).when(in_dead).then(2).otherwise(direction)
        )
    return df.with_columns(label.cast(pl.Int32).alias("label")).with_columns(
        pl.col("label").is_not_null().alias("label_valid")
    )


def check_label_args(horizon: int, dead_zone: float, dead_zone_mode: str) -> None:
    """Raises `DataError` on a bad horizon, dead zone or mode."""
    if horizon < 1:
        raise DataError(f"horizon must be >= 1, got {horizon}")
    if dead_zone < 0:
        raise DataError(f"dead_zone must be >= 0, got {dead_zone}")
    if dead_zone_mode not in DEAD_ZONE_MODES:
        raise DataError(
            f"unknown dead_zone_mode {dead_zone_mode!r}; known: {DEAD_ZONE_MODES}"
        )


def label_grids(
    close: np.ndarray, horizon: int, dead_zone: float, dead_zone_mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`make_labels` on a dense float[S, T] close grid (aligned panel).

    Returns:
        ``(forward_return, label, label_valid)``, each [S, T]: float64 (NaN
        in the last ``horizon`` bars), int32 (0 where invalid) and bool.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(close.astype(np.float64))
    fwd = np.full_like(logc, np.nan)
    if horizon < logc.shape[1]:
        fwd[:, :-horizon] = logc[:, horizon:] - logc[:, :-horizon]
    has = ~np.isnan(fwd)
    with np.errstate(invalid="ignore"):
        in_dead = (np.abs(fwd) < dead_zone) | (fwd == 0)
        label = (fwd > 0).astype(np.int32)
    if dead_zone_mode == "drop":
        valid = has & ~in_dead
    else:
        valid = has
        label[in_dead] = 2
    label[~valid] = 0
    return fwd, label, valid
