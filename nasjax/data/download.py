"""Downloader for Binance public kline dumps (data.binance.vision).

CLI::

    python -m nasjax.data.download symbols=[BTCUSDT,ETHUSDT] interval=5m \\
        start=2023-01 end=2023-12 out=DIR [base_url=...] [market=spot]

Monthly zips ``{base_url}/data/{market}/monthly/klines/{SYMBOL}/{interval}/
{SYMBOL}-{interval}-{YYYY-MM}.zip`` are saved flat in ``out`` and verified
against their published ``.CHECKSUM`` (``<sha256>  <filename>``). Verified
files are skipped on a re-run (resume); downloads go to ``<name>.part`` and
are renamed once verified. Missing months (HTTP 404) are reported, not fatal.
``market`` is ``spot``, ``um`` (USD-M futures) or ``cm`` (COIN-M futures).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from nasjax.data.errors import DataError

DEFAULT_BASE_URL = "https://data.binance.vision"
MARKETS = {"spot": "spot", "um": "futures/um", "cm": "futures/cm"}
_CHUNK = 1 << 20


class ChecksumError(DataError):
    """A downloaded file does not match its published sha256."""


@dataclasses.dataclass(frozen=True)
class DownloadReport:
    """Outcome of `download`.

    Attributes:
        downloaded: Files fetched and verified in this run.
        skipped: Files already present and verified (resume).
        missing: URLs that answered 404 (month not published).
    """

    downloaded: tuple[Path, ...]
    skipped: tuple[Path, ...]
    missing: tuple[str, ...]


def months(start: str, end: str) -> list[str]:
    """``"2023-11", "2024-02"`` -> ``["2023-11", "2023-12", "2024-01", "2024-02"]``."""
    try:
        y0, m0 = (int(x) for x in start.split("-"))
        y1, m1 = (int(x) for x in end.split("-"))
    except ValueError as e:
        raise DataError(f"months must be YYYY-MM, got {start!r}..{end!r}") from e
    out, i, last = [], y0 * 12 + m0 - 1, y1 * 12 + m1 - 1
    if last < i:
        raise DataError(f"end {end} is before start {start}")
    while i <= last:
        out.append(f"{i // 12:04d}-{i % 12 + 1:02d}")
        i += 1
    return out


def kline_url(
    symbol: str,
    interval: str,
    month: str,
    base_url: str = DEFAULT_BASE_URL,
    market: str = "spot",
) -> str:
    """URL of one monthly kline zip (see module docstring)."""
    if market not in MARKETS:
        raise DataError(f"unknown market {market!r}; known: {sorted(MARKETS)}")
    sym = symbol.upper().replace("/", "").replace("_", "")
    name = f"{sym}-{interval}-{month}.zip"
    path = f"data/{MARKETS[market]}/monthly/klines/{sym}/{interval}/{name}"
    return f"{base_url.rstrip('/')}/{path}"


def _fetch(url: str, timeout: float) -> bytes | None:
    """GET ``url``; None on 404."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise DataError(f"HTTP {e.code} for {url}") from e
    except urllib.error.URLError as e:
        raise DataError(f"cannot reach {url}: {e.reason}") from e


def _fetch_to(url: str, dest: Path, timeout: float) -> str | None:
    """Streams ``url`` to ``dest``; returns its sha256 (None on 404)."""
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, dest.open("wb") as f:
            while chunk := resp.read(_CHUNK):
                h.update(chunk)
                f.write(chunk)
    except urllib.error.HTTPError as e:
        dest.unlink(missing_ok=True)
        if e.code == 404:
            return None
        raise DataError(f"HTTP {e.code} for {url}") from e
    except urllib.error.URLError as e:
        dest.unlink(missing_ok=True)
        raise DataError(f"cannot reach {url}: {e.reason}") from e
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _parse_checksum(text: bytes, url: str) -> str:
    parts = text.decode("utf-8", "replace").split()
    if not parts or len(parts[0]) != 64:
        raise DataError(f"malformed CHECKSUM file {url}: {text[:100]!r}")
    return parts[0].lower()


def download(
    symbols: Sequence[str],
    interval: str,
    start: str,
    end: str,
    out: str | Path,
    base_url: str = DEFAULT_BASE_URL,
    market: str = "spot",
    progress: bool = True,
    timeout: float = 60.0,
) -> DownloadReport:
    """Downloads and verifies monthly kline zips (resumable).

    Args:
        symbols: Binance symbols, e.g. ``["BTCUSDT", "ETHUSDT"]``.
        interval: Kline interval, e.g. ``"5m"``.
        start: First month ``YYYY-MM``.
        end: Last month ``YYYY-MM`` (inclusive).
        out: Destination folder (created).
        base_url: Mirror root (default data.binance.vision).
        market: ``"spot"``, ``"um"`` or ``"cm"``.
        progress: Show a rich progress bar.
        timeout: Socket timeout in seconds.

    Returns:
        A `DownloadReport`.

    Raises:
        ChecksumError: A file does not match its CHECKSUM (the ``.part`` file
            is removed).
        DataError: Network errors other than 404, malformed CHECKSUM files.
    """
    from rich.progress import Progress

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(s, m) for s in symbols for m in months(start, end)]
    downloaded: list[Path] = []
    skipped: list[Path] = []
    missing: list[str] = []
    with Progress(disable=not progress, transient=False) as bar:
        task = bar.add_task("binance klines", total=len(jobs))
        for sym, month in jobs:
            url = kline_url(sym, interval, month, base_url, market)
            dest = out / url.rsplit("/", 1)[1]
            bar.update(task, description=dest.name)
            checksum = _fetch(url + ".CHECKSUM", timeout)
            if checksum is None:
                missing.append(url)
                bar.advance(task)
                continue
            want = _parse_checksum(checksum, url + ".CHECKSUM")
            if dest.exists() and _sha256(dest) == want:
                skipped.append(dest)
                bar.advance(task)
                continue
            part = dest.with_name(dest.name + ".part")
            got = _fetch_to(url, part, timeout)
            if got is None:
                missing.append(url)
            elif got != want:
                part.unlink(missing_ok=True)
                raise ChecksumError(
                    f"checksum mismatch for {dest.name}: expected sha256 {want}, "
                    f"got {got} (url={url})"
                )
            else:
                part.replace(dest)
                downloaded.append(dest)
            bar.advance(task)
    return DownloadReport(tuple(downloaded), tuple(skipped), tuple(missing))


def parse_args(argv: Sequence[str]) -> dict[str, str | list[str]]:
    """Parses ``key=value`` arguments; ``[a,b]`` or ``a,b`` give lists."""
    out: dict[str, str | list[str]] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise DataError(f"expected key=value, got {arg!r}")
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            out[key] = [v.strip() for v in value[1:-1].split(",") if v.strip()]
        else:
            out[key] = value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (see module docstring). Returns the exit status."""
    from rich.console import Console

    console = Console(stderr=True)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        required = ("symbols", "interval", "start", "end", "out")
        absent = [k for k in required if k not in args]
        unknown = set(args) - {*required, "base_url", "market", "progress"}
        if absent or unknown:
            raise DataError(f"missing arguments {absent}, unknown {sorted(unknown)}")
        syms = args["symbols"]
        syms = syms if isinstance(syms, list) else syms.split(",")
        report = download(
            syms,
            str(args["interval"]),
            str(args["start"]),
            str(args["end"]),
            str(args["out"]),
            base_url=str(args.get("base_url", DEFAULT_BASE_URL)),
            market=str(args.get("market", "spot")),
            progress=str(args.get("progress", "true")).lower() != "false",
        )
    except DataError as e:
        console.print(f"[red]error:[/red] {e}")
        return 1
    console.print(
        f"downloaded {len(report.downloaded)}, already verified "
        f"{len(report.skipped)}, missing {len(report.missing)}"
    )
    for url in report.missing:
        console.print(f"  missing (404): {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
