"""Disk trouble: missing folders are reported by path; a place that cannot
be written (a path under a regular file) fails with an `OSError` naming it
and leaves what exists untouched."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nasjax.app.checkpoint import CheckpointConfig, SearchCheckpointer
from nasjax.data import DataError, load_ohlcv
from nasjax.protocol import LedgerError, LedgerWriter, verify_ledger
from nasjax.protocol.crypto import GENESIS, Keyring


def test_missing_data_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"no such file or folder.*{tmp_path / 'gone'}"):
        load_ohlcv(tmp_path / "gone")


def test_missing_ledger_is_named(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="ledger file does not exist"):
        verify_ledger(tmp_path / "gone" / "ledger.jsonl")


def test_checkpoint_folder_under_a_file_fails_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file where the run folder should be")
    with (
        pytest.raises(OSError, match="out"),
        SearchCheckpointer(blocker / "checkpoints", CheckpointConfig()) as ckpt,
    ):
        ckpt.save(1, {"x": np.zeros(3)})
    assert blocker.read_text().startswith("a file")


def test_ledger_under_a_file_fails_and_an_existing_one_is_kept(tmp_path: Path) -> None:
    keys = Keyring(seed=3)
    accounts = [{"id": 0, "public": keys.public(0)}]
    blocker = tmp_path / "out"
    blocker.write_text("x")
    with pytest.raises(OSError):
        LedgerWriter.create(blocker / "l.jsonl", keys.key(GENESIS), accounts)
    path = tmp_path / "l.jsonl"
    LedgerWriter.create(path, keys.key(GENESIS), accounts, fsync=False)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        LedgerWriter.create(path, keys.key(GENESIS), accounts, fsync=False)
    assert path.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_refuses_a_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with (
            pytest.raises(OSError),
            SearchCheckpointer(folder / "ck", CheckpointConfig()) as ckpt,
        ):
            ckpt.save(1, {"x": np.zeros(3)})
    finally:
        folder.chmod(0o700)
