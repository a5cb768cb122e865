"""Canonical OHLCV schema, timeframe strings and symbol naming.

Symbols are normalised to the ccxt/freqtrade unified convention
``BASE/QUOTE`` (``"BTC/USDT"``), and ``BASE/QUOTE:SETTLE`` for perpetual
futures (``"XRP/USDT:USDT"``). Binance names like ``BTCUSDT`` are split on a
known quote-asset suffix; names with no known quote suffix are kept as they are.
"""

from __future__ import annotations

import re

import polars as pl

from nasjax.data.errors import DataError

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
OHLCV_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
TIMESTAMP_DTYPE = pl.Datetime("us", "UTC")
"""All loaders return candle OPEN times as ``Datetime("us", "UTC")``."""

_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
_UNIT_US["w"] = 7 * _UNIT_US["d"]

# Longest first so that e.g. FDUSD wins over USD.
QUOTE_ASSETS: tuple[str, ...] = tuple(
    sorted(
        [
            "USDT",
            "FDUSD",
            "BUSD",
            "USDC",
            "TUSD",
            "USDP",
            "DAI",
            "USD",
            "EUR",
            "GBP",
            "TRY",
            "BRL",
            "AUD",
            "RUB",
            "UAH",
            "BIDR",
            "IDRT",
            "NGN",
            "ZAR",
            "JPY",
            "PLN",
            "RON",
            "ARS",
            "MXN",
            "COP",
            "CZK",
            "BTC",
            "ETH",
            "BNB",
            "XRP",
            "TRX",
            "DOGE",
            "DOT",
            "SOL",
        ],
        key=len,
        reverse=True,
    )
)

_TF_RE = re.compile(r"^(\d+)([smhdw])$")


def timeframe_us(timeframe: str) -> int:
    """Length of a timeframe in microseconds.

    Args:
        timeframe: Binance/freqtrade interval string: ``"1s"``, ``"5m"``, ``"1h"``,
            ``"1d"``, ``"1w"`` (months are not supported: they are not fixed-length).

    Returns:
        The bar length in microseconds.

    Raises:
        DataError: If the string is not a fixed-length timeframe.
    """
    m = _TF_RE.match(timeframe)
    if m is None or int(m.group(1)) <= 0:
        raise DataError(f"unknown timeframe {timeframe!r} (expected e.g. '5m', '1h')")
    return int(m.group(1)) * _UNIT_US[m.group(2)]


def timeframe_str(us: int) -> str:
    """Inverse of `timeframe_us` (largest exact unit), e.g. 300_000_000 -> "5m"."""
    for unit in ("w", "d", "h", "m", "s"):
        if us % _UNIT_US[unit] == 0:
            return f"{us // _UNIT_US[unit]}{unit}"
    raise DataError(f"timeframe of {us} microseconds is not a whole number of seconds")


def normalize_symbol(raw: str) -> str:
    """Normalises a symbol to ``BASE/QUOTE`` (or ``BASE/QUOTE:SETTLE``).

    Accepts ``"BTCUSDT"``, ``"BTC_USDT"``, ``"BTC-USDT"``, ``"btc/usdt"``,
    ``"XRP_USDT_USDT"`` (freqtrade futures) and already-normalised names.

    Args:
        raw: Symbol as found in a file name or column.

    Returns:
        The normalised symbol string.
    """
    s = raw.strip().upper()
    if "/" in s:
        return s
    parts = re.split(r"[_\-]", s)
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    if len(parts) == 3:
        return f"{parts[0]}/{parts[1]}:{parts[2]}"
    for quote in QUOTE_ASSETS:
        if s.endswith(quote) and len(s) > len(quote):
            return f"{s[: -len(quote)]}/{quote}"
    return s
