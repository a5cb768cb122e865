"""`load_sample`: the small real dataset bundled with the package."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from nasjax.data.load import load_ohlcv

SAMPLE_DIR = Path(__file__).parent / "sample"


def load_sample(symbols: Sequence[str] | None = None) -> pl.DataFrame:
    """Loads the bundled sample (Binance spot 5m, 2022-01-06..2022-04-16).

    Coins: BTC, ETH, SOL, XRP, ADA, DOT, AVAX, LINK against USDT (see
    ``nasjax/data/sample/PROVENANCE.md``).

    Args:
        symbols: Optional subset, any spelling (``"BTC/USDT"``, ``"BTCUSDT"``).

    Returns:
        Long frame as `load_ohlcv`: ``timestamp``, ``symbol``, OHLCV.
    """
    df = load_ohlcv(SAMPLE_DIR, timeframe="5m", symbols=symbols)
    assert isinstance(df, pl.DataFrame)
    return df
