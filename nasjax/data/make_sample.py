"""Rebuilds the bundled sample: ``python -m nasjax.data.make_sample SRC_DIR``.

SRC_DIR holds the freqtrade JSON files ``{BASE}_USDT-5m.json`` of
github.com/SauloHenriqueAguiar/freqtrades (commit
96ca5a8f7f178b8944b51386a91a0734b36c9b0b, user_data/data/binance/). Each coin
is written unchanged (values byte-exact as parsed float64, open times as
``Datetime("us", "UTC")``) to ``nasjax/data/sample/{BASE}_USDT-5m.parquet``
(zstd), and ``PROVENANCE.md`` is rewritten with the source sha256s.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import polars as pl

from nasjax.data.load import load_ohlcv

SAMPLE_DIR = Path(__file__).parent / "sample"
SAMPLE_BASES: tuple[str, ...] = (
    "BTC",
    "ETH",
    "SOL",
    "XRP",
    "ADA",
    "DOT",
    "AVAX",
    "LINK",
)
SOURCE_REPO = "github.com/SauloHenriqueAguiar/freqtrades"
SOURCE_COMMIT = "96ca5a8f7f178b8944b51386a91a0734b36c9b0b"


def sample_file(base: str) -> str:
    """Parquet file name of one sample coin, e.g. ``BTC_USDT-5m.parquet``."""
    return f"{base}_USDT-5m.parquet"


def make_sample(src_dir: Path, out_dir: Path = SAMPLE_DIR) -> list[Path]:
    """Converts the source JSON files to the bundled Parquet sample.

    Args:
        src_dir: Folder with ``{BASE}_USDT-5m.json``.
        out_dir: Destination folder (default: the package's ``sample/``).

    Returns:
        The written Parquet files.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written, rows = [], []
    for base in SAMPLE_BASES:
        src = src_dir / f"{base}_USDT-5m.json"
        df = load_ohlcv(src)
        assert isinstance(df, pl.DataFrame)
        dst = out_dir / sample_file(base)
        df.drop("symbol").write_parquet(dst, compression="zstd", compression_level=19)
        digest = hashlib.sha256(src.read_bytes()).hexdigest()
        first, last = df["timestamp"].min(), df["timestamp"].max()
        rows.append(
            f"| {src.name} | {dst.name} | {df.height} | {first} | {last} | `{digest}` |"
        )
        written.append(dst)
    (out_dir / "PROVENANCE.md").write_text(_provenance(rows))
    return written


def _provenance(rows: list[str]) -> str:
    table = "\n".join(rows)
    return f"""# Bundled sample data (nasjax/data/sample)

Real Binance spot 5-minute candles of {len(rows)} USDT pairs, 2022-01-06 00:00
to 2022-04-16 13:45 UTC, shipped as package data so the demo and the tests run
without downloads.

- Source repository: {SOURCE_REPO}
- Commit: {SOURCE_COMMIT} (committed 2022-04-17)
- Source folder: user_data/data/binance/ (freqtrade JSON, one array of
  `[open_time_ms, open, high, low, close, volume]` rows)
- Origin of the numbers: Binance spot market data as downloaded by freqtrade
  (public exchange market data). The source repository states no license for
  these data files; they are factual exchange prices redistributed here
  unchanged for testing and demonstration only. Check the exchange's terms
  before other uses.

What was done: each JSON file was parsed (Python float64, exact), the open
time converted to a UTC timestamp (microseconds) and the six columns written
unchanged to Parquet (zstd level 19) without the symbol column (the symbol
comes from the file name). No row was dropped, reordered or edited; a test
checks value-exact round-trip equality against the source files when they are
present. Rebuild with:

    python -m nasjax.data.make_sample /path/to/saulo_2022

| source | sample | rows | first open (UTC) | last open (UTC) | source sha256 |
|---|---|---|---|---|---|
{table}
"""


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: ``python -m nasjax.data.make_sample SRC_DIR [OUT_DIR]``."""
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        sys.stderr.write("usage: python -m nasjax.data.make_sample SRC_DIR [OUT]\n")
        return 2
    out = Path(args[1]) if len(args) == 2 else SAMPLE_DIR
    make_sample(Path(args[0]), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
