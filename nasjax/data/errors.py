"""Errors and load/align reports of the data layer."""

from __future__ import annotations

import dataclasses
from typing import Any


class DataError(ValueError):
    """Bad input data: names the file, the column and the row or timestamp.

    Raised for missing or non-numeric columns, unsorted or duplicate timestamps,
    NaN/inf, non-positive prices, inconsistent OHLC, mixed timeframes, unknown
    formats, empty files, absent symbols and over-long gaps.
    """


def where(
    file: object = None,
    column: str | None = None,
    row: int | None = None,
    timestamp: Any = None,
    symbol: str | None = None,
) -> str:
    """Formats a location suffix such as ``file=a.csv, column=close, row=3``.

    Args:
        file: Source file (path-like or str) or None.
        column: Column name or None.
        row: 0-based data row within the file (header excluded) or None.
        timestamp: Offending timestamp or None.
        symbol: Symbol or None.

    Returns:
        A human-readable location string (may be empty).
    """
    parts = []
    if file is not None:
        parts.append(f"file={file}")
    if symbol is not None:
        parts.append(f"symbol={symbol}")
    if column is not None:
        parts.append(f"column={column!r}")
    if row is not None:
        parts.append(f"row={row}")
    if timestamp is not None:
        parts.append(f"timestamp={timestamp}")
    return " [" + ", ".join(parts) + "]" if parts else ""


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """What `load_ohlcv` read and which explicit repairs it applied.

    Attributes:
        files: Files read, in order.
        rows_per_symbol: Final row count per symbol.
        timeframe: The (common) timeframe string, e.g. ``"5m"``.
        rows_sorted: Rows that were out of order and sorted (repair ``"sort"``).
        duplicates_dropped: Duplicate-timestamp rows dropped (repair ``"dedupe"``),
            keeping the first occurrence.
    """

    files: tuple[str, ...]
    rows_per_symbol: dict[str, int]
    timeframe: str | None
    rows_sorted: int = 0
    duplicates_dropped: int = 0


@dataclasses.dataclass(frozen=True)
class AlignReport:
    """What `align_panel` did to put all symbols on one grid.

    Attributes:
        start: First timestamp of the grid.
        end: Last timestamp of the grid.
        n_steps: Number of grid timestamps kept.
        filled_per_symbol: Bars forward-filled per symbol (gaps <= max_fill).
        long_gaps_per_symbol: Number of gaps longer than ``max_fill`` per symbol.
        dropped_steps: Grid timestamps dropped because some symbol had a long gap
            there (``gap_policy="drop"``).
        trimmed_rows: Rows outside the common range that were cut per symbol.
        bars_per_symbol: Bars of each symbol on the grid (not forward-filled).
        dropped_per_symbol: Bars of each symbol (rows with a close) that are
            not on the grid: outside the range of an ``"intersection"`` span
            or at timestamps dropped for a long gap.
        absent_per_symbol: Grid cells of each symbol without a bar (before
            its listing or after its delisting with ``span="union"``, long
            gaps with ``gap_policy="mask"``).
        periods: First and last bar of each symbol in the input.
        dropped_symbols: Symbols removed before aligning, with the reason
            (fewer bars than ``min_history``).
    """

    start: Any
    end: Any
    n_steps: int
    filled_per_symbol: dict[str, int]
    long_gaps_per_symbol: dict[str, int]
    dropped_steps: int
    trimmed_rows: dict[str, int]
    bars_per_symbol: dict[str, int] = dataclasses.field(default_factory=dict)
    dropped_per_symbol: dict[str, int] = dataclasses.field(default_factory=dict)
    absent_per_symbol: dict[str, int] = dataclasses.field(default_factory=dict)
    periods: dict[str, tuple[Any, Any]] = dataclasses.field(default_factory=dict)
    dropped_symbols: dict[str, str] = dataclasses.field(default_factory=dict)
