"""Builders of valid candle files that the hostile cases then damage."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import polars as pl

from tests.helpers import ohlcv

T0_MS = 1_672_531_200_000  # 2023-01-01 00:00 UTC
STEP_MS = 300_000  # 5 minutes
HEADER = "timestamp,symbol,open,high,low,close,volume"
BINANCE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)


def candles(n: int = 24, symbol: str = "BTC/USDT", seed: int = 0) -> pl.DataFrame:
    """A valid long frame of ``n`` 5-minute bars of one coin."""
    a = ohlcv(n, seed)
    ts = pl.Series([T0_MS + STEP_MS * i for i in range(n)]).cast(pl.Datetime("ms"))
    return pl.DataFrame(
        {
            "timestamp": ts.dt.cast_time_unit("us").dt.replace_time_zone("UTC"),
            "symbol": [symbol] * n,
            **{c: a[:, j] for j, c in enumerate(("open", "high", "low", "close"))},
            "volume": a[:, 4],
        }
    )


def csv_lines(n: int = 24, symbol: str = "BTC/USDT") -> list[str]:
    """Header and rows of a generic CSV (ISO times, symbol column)."""
    rows = [HEADER]
    for i, (o, h, lo, c, v) in enumerate(ohlcv(n).tolist()):
        t = f"2023-01-01 {(5 * i) // 60:02d}:{(5 * i) % 60:02d}:00"
        rows.append(f"{t},{symbol},{o!r},{h!r},{lo!r},{c!r},{v!r}")
    return rows


def binance_lines(n: int = 24, header: bool = False) -> list[str]:
    """Rows of a Binance kline CSV (ms open times)."""
    rows = [BINANCE_HEADER] if header else []
    for i, (o, h, lo, c, v) in enumerate(ohlcv(n).tolist()):
        t = T0_MS + i * STEP_MS
        rows.append(
            f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r},{t + STEP_MS - 1},"
            f"{v * c!r},{10 + i},{v / 2!r},{v * c / 2!r},0"
        )
    return rows


def json_rows(n: int = 24) -> list[list[float]]:
    """Rows ``[ms, open, high, low, close, volume]`` of a freqtrade JSON file."""
    return [[T0_MS + i * STEP_MS, *row] for i, row in enumerate(ohlcv(n).tolist())]


def zip_bytes(text: str, name: str = "BTCUSDT-5m-2023-01.csv") -> bytes:
    """A deflated zip archive holding one file."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, text)
    return buf.getvalue()


def write(path: Path, data: str | bytes) -> Path:
    """Writes text or bytes (creating the folder) and returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def damage(path: Path, mode: str, flip_at: int | None = None) -> None:
    """Damage one file: ``half`` (truncated to half), ``empty``, ``flip`` (one
    byte inverted, at ``flip_at`` or the middle) or ``delete``."""
    data = path.read_bytes()
    if mode == "half":
        path.write_bytes(data[: len(data) // 2])
    elif mode == "empty":
        path.write_bytes(b"")
    elif mode == "flip":
        i = len(data) // 2 if flip_at is None else flip_at
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    elif mode == "delete":
        path.unlink()
    else:
        raise ValueError(f"unknown damage {mode!r}")
