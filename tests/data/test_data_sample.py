"""The bundled real sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nasjax.data import load_sample
from nasjax.data.make_sample import SAMPLE_BASES, SAMPLE_DIR, make_sample, sample_file

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "crypto"


def test_load_sample() -> None:
    df = load_sample()
    assert df["symbol"].n_unique() == len(SAMPLE_BASES)
    assert df.group_by("symbol").len()["len"].to_list() == [28966] * len(SAMPLE_BASES)
    assert df.schema["timestamp"] == pl.Datetime("us", "UTC")
    btc = load_sample(["BTCUSDT"])
    assert btc["symbol"].unique().to_list() == ["BTC/USDT"]
    assert str(btc["timestamp"][0]) == "2022-01-06 00:00:00+00:00"
    size = sum(p.stat().st_size for p in SAMPLE_DIR.iterdir())
    assert size < 6_000_000
    assert (SAMPLE_DIR / "PROVENANCE.md").read_text().count("sha256") >= 1


@pytest.mark.skipif(not (SHARED / "saulo_2022").exists(), reason="no shared data")
@pytest.mark.parametrize("base", SAMPLE_BASES)
def test_sample_values_exact(base: str) -> None:
    rows = json.loads((SHARED / "saulo_2022" / f"{base}_USDT-5m.json").read_text())
    src = np.asarray(rows, dtype=np.float64)
    got = pl.read_parquet(SAMPLE_DIR / sample_file(base))
    ms = got["timestamp"].dt.epoch("ms").to_numpy()
    np.testing.assert_array_equal(ms, src[:, 0].astype(np.int64))
    for j, c in enumerate(("open", "high", "low", "close", "volume"), start=1):
        assert np.array_equal(got[c].to_numpy(), src[:, j])  # bit-exact


@pytest.mark.skipif(not (SHARED / "saulo_2022").exists(), reason="no shared data")
def test_make_sample_rebuilds_identically(tmp_path: Path) -> None:
    make_sample(SHARED / "saulo_2022", tmp_path)
    for base in SAMPLE_BASES:
        a = pl.read_parquet(tmp_path / sample_file(base))
        assert a.equals(pl.read_parquet(SAMPLE_DIR / sample_file(base)))
    assert (tmp_path / "PROVENANCE.md").read_text() == (
        SAMPLE_DIR / "PROVENANCE.md"
    ).read_text()
