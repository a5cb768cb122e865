"""Torn or corrupted checkpoint files: the newest intact step is restored
exactly (the damaged one moved aside, reported with its path), never a wrong
payload and never a foreign exception."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from nasjax.app.checkpoint import CheckpointConfig, SearchCheckpointer
from tests.hostile.hostile_cases import damage

CFG = CheckpointConfig(max_to_keep=3, async_save=False)


def _payload(step: int) -> dict:
    return {"step": step, "x": np.arange(40, dtype=np.float32) * step, "tag": ("a",)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """Steps 1, 2 and 3 of distinguishable payloads."""
    folder = tmp_path_factory.mktemp("ckpt") / "ck"
    with SearchCheckpointer(folder, CFG) as ckpt:
        for step in (1, 2, 3):
            ckpt.save(step, _payload(step), info={"step": step})
    return folder


FILES = {  # a kind of file of a step -> glob under the step folder
    "meta-json": "meta/metadata",
    "arrays-metadata": "arrays/_METADATA",
    "arrays-manifest": "arrays/manifest.ocdbt",
    "arrays-data": "arrays/d/*",
    "step-metadata": "_CHECKPOINT_METADATA",
    "commit-marker": "commit_success.txt",
}


@pytest.mark.parametrize("mode", ["half", "empty", "flip", "delete"])
@pytest.mark.parametrize("kind", list(FILES))
def test_damaged_latest_step_restores_an_intact_one(
    saved: Path, tmp_path: Path, caplog, kind: str, mode: str
) -> None:
    folder = tmp_path / "ck"
    shutil.copytree(saved, folder)
    for path in (folder / "3").glob(FILES[kind]):
        damage(path, mode, flip_at=5)
    with (
        caplog.at_level(logging.WARNING, logger="nasjax.checkpoint"),
        SearchCheckpointer(folder, CFG) as ckpt,
    ):
        payload = ckpt.restore()
        info = ckpt.restore_info()
    step = payload["step"]
    assert step in (2, 3) and info == {"step": step}
    np.testing.assert_array_equal(payload["x"], _payload(step)["x"])
    if step == 2:  # reported with its path and kept aside, not deleted
        assert "step 3" in caplog.text and str(folder) in caplog.text
        assert (tmp_path / "ck.corrupt" / "3").is_dir()


def test_every_step_damaged_restores_nothing_and_deletes_nothing(
    saved: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "ck"
    shutil.copytree(saved, folder)
    for step in (1, 2, 3):
        damage(folder / str(step) / "meta" / "metadata", "half")
    with SearchCheckpointer(folder, CFG) as ckpt:
        assert ckpt.restore() is None
    kept = sorted(p.name for p in (tmp_path / "ck.corrupt").iterdir())
    assert kept == ["1", "2", "3"]
