"""Downloader against a local http.server (no internet needed)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from nasjax.data import load_ohlcv
from nasjax.data.download import (
    ChecksumError,
    download,
    kline_url,
    main,
    months,
    parse_args,
)

ROW = "{t},100.0,101.0,99.0,100.5,3.0,{c},301.5,7,1.5,150.7,0\n"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def publish(root: Path, base: str, sym: str, month: str, t0: int) -> Path:
    url = kline_url(sym, "5m", month, base_url=base)
    rel = url.split("/", 3)[3]
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    csv = "".join(
        ROW.format(t=t0 + i * 300_000, c=t0 + i * 300_000 + 299_999) for i in range(4)
    )
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr(dest.with_suffix(".csv").name, csv)
    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
    Path(str(dest) + ".CHECKSUM").write_text(f"{digest}  {dest.name}\n")
    return dest


def test_months_and_args() -> None:
    assert months("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    args = parse_args(["symbols=[BTCUSDT,ETHUSDT]", "interval=5m", "out=x"])
    assert args["symbols"] == ["BTCUSDT", "ETHUSDT"] and args["interval"] == "5m"
    assert kline_url("BTCUSDT", "5m", "2023-01").endswith(
        "/data/spot/monthly/klines/BTCUSDT/5m/BTCUSDT-5m-2023-01.zip"
    )


def test_download_resume_and_404(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    publish(root, base, "BTCUSDT", "2023-01", 1_672_531_200_000)
    publish(root, base, "BTCUSDT", "2023-02", 1_675_209_600_000)
    out = tmp_path / "out"
    rep = download(["BTCUSDT"], "5m", "2023-01", "2023-03", out, base, progress=False)
    assert len(rep.downloaded) == 2 and len(rep.missing) == 1
    assert rep.missing[0].endswith("BTCUSDT-5m-2023-03.zip")
    assert not list(out.glob("*.part"))
    again = download(["BTCUSDT"], "5m", "2023-01", "2023-02", out, base, progress=False)
    assert len(again.skipped) == 2 and not again.downloaded
    df = load_ohlcv(out)
    assert isinstance(df, pl.DataFrame) and df.height == 8
    assert df["symbol"].unique().to_list() == ["BTC/USDT"]
    # A corrupted local copy is re-downloaded.
    (out / "BTCUSDT-5m-2023-01.zip").write_bytes(b"garbage")
    third = download(["BTCUSDT"], "5m", "2023-01", "2023-01", out, base, progress=False)
    assert len(third.downloaded) == 1


def test_checksum_mismatch(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    dest = publish(root, base, "ETHUSDT", "2023-01", 1_672_531_200_000)
    Path(str(dest) + ".CHECKSUM").write_text(f"{'0' * 64}  {dest.name}\n")
    with pytest.raises(
        ChecksumError, match=r"checksum mismatch for ETHUSDT-5m-2023-01"
    ):
        download(
            ["ETHUSDT"], "5m", "2023-01", "2023-01", tmp_path, base, progress=False
        )
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.zip"))


def test_cli(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    publish(root, base, "BTCUSDT", "2023-01", 1_672_531_200_000)
    argv = [
        "symbols=[BTCUSDT]",
        "interval=5m",
        "start=2023-01",
        "end=2023-01",
        f"out={tmp_path / 'cli'}",
        f"base_url={base}",
        "progress=false",
    ]
    assert main(argv) == 0
    assert (tmp_path / "cli" / "BTCUSDT-5m-2023-01.zip").exists()
    assert main(["symbols=BTCUSDT"]) == 1
