"""Truncated, emptied, corrupted or deleted files of an exported ``best/``
folder: `load_model` raises an `ExportError` naming the file (or loads a
model that predicts exactly as the intact one), never a foreign exception."""

from __future__ import annotations

import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

import nasjax
from nasjax.app.export import ExportError, Preprocess, export_model
from nasjax.data import FeatureConfig
from nasjax.graph import chain
from nasjax.nn import init
from tests.helpers import data_spec, fold_frame, tiny_synthetic
from tests.hostile.hostile_cases import damage

FEATURES = FeatureConfig.minimal()

# A failed orbax restore leaves callbacks on its closed asyncio loop; they
# raise "Event loop is closed" in orbax's threads after the ExportError.
pytestmark = [
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The smallest export (an untrained one-layer arch, cpu lowering only),
    its candles and its predictions."""
    frame = tiny_synthetic(1, n_steps=300).frame
    ds, _, norm = fold_frame(frame, features=FEATURES, window=4)
    arch = chain(data_spec(ds, ops=("dense_gelu",), max_width=8), ["dense_gelu"], [8])
    pre = Preprocess(
        features=FEATURES,
        feature_names=ds.meta.feature_names,
        symbols=ds.meta.symbols,
        window=4,
        horizon=1,
        timeframe="5m",
        mean=np.asarray(norm.mean)[0],
        std=np.asarray(norm.std)[0],
    )
    path = export_model(
        tmp_path_factory.mktemp("export") / "best",
        arch,
        init(jax.random.key(0), arch),
        pre,
        metrics={"test": {"accuracy": 0.5}},
        platforms=("cpu",),
    )
    return path, frame, nasjax.load_model(path).predict(frame)


FILES = {
    "arch": "arch.json",
    "preprocess": "preprocess.json",
    "metrics": "metrics.json",
    "lineage": "lineage.json",
    "jax-export": "predict.jax_export",
    "params-metadata": "params/_METADATA",
    "params-manifest": "params/manifest.ocdbt",
    "params-data": "params/d/*",
}


@pytest.mark.parametrize("mode", ["half", "empty", "flip"])
@pytest.mark.parametrize("kind", list(FILES))
def test_damaged_export_file_is_named(exported, tmp_path: Path, kind: str, mode: str):
    source, frame, want = exported
    folder = tmp_path / "best"
    shutil.copytree(source, folder)
    damaged = list(folder.glob(FILES[kind]))
    assert damaged
    for path in damaged:
        damage(path, mode)
    try:
        out = nasjax.load_model(folder).predict(frame)
    except ExportError as err:
        named = FILES[kind].split("/")[0]
        assert named in str(err), str(err)
        return
    # Not detected (e.g. a changed digit of a metric): the same answer.
    assert out.equals(want)


@pytest.mark.parametrize("name", ["preprocess.json", "metrics.json", "lineage.json"])
def test_deleted_export_file_is_named(exported, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "best"
    shutil.copytree(exported[0], folder)
    (folder / name).unlink()
    with pytest.raises(ExportError, match=rf"{name}.*FileNotFoundError"):
        nasjax.load_model(folder)


def test_a_folder_without_a_model_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no exported nasjax model"):
        nasjax.load_model(tmp_path)
