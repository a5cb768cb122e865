"""Direction labels from forward log returns."""

from __future__ import annotations

import polars as pl

from nasjax.data.errors import DataError

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
    if horizon < 1:
        raise DataError(f"horizon must be >= 1, got {horizon}")
    if dead_zone < 0:
        raise DataError(f"dead_zone must be >= 0, got {dead_zone}")
    if dead_zone_mode not in DEAD_ZONE_MODES:
        raise DataError(
            f"unknown dead_zone_mode {dead_zone_mode!r}; known: {DEAD_ZONE_MODES}"
        )
    df = panel.sort(["symbol", "timestamp"])
    logc = pl.col("close").log()
    fwd = (logc.shift(-horizon) - logc).over("symbol")
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
