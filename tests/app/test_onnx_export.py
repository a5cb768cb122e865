"""ONNX export of an answer, checked against the JAX model with onnxruntime."""

import json

import numpy as np
import polars as pl
import pytest

import nasjax
from nasjax.app import onnx_export
from nasjax.app.cli import main as cli_main
from nasjax.app.export import Model, Preprocess, export_model, load_model
from nasjax.app.members import Member
from nasjax.app.onnx_export import (
    INPUT,
    OUTPUT,
    OnnxExportError,
    check_windows,
    onnx_predict,
    to_onnx,
)
from nasjax.baselines.trees import TreeModel
from nasjax.data import FeatureConfig
from nasjax.evaluate.calibrate import Calibration
from nasjax.graph import ArchSpec, chain
from tests.helpers import (
    EXPORT_FEATURES,
    data_spec,
    fold_frame,
    random_params,
    tiny_synthetic,
)

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

FEATURES = EXPORT_FEATURES
TOL = 1e-4


def _preprocess(ds, norm, window: int) -> Preprocess:
    return Preprocess(
        features=FEATURES,
        feature_names=ds.meta.feature_names,
        symbols=ds.meta.symbols,
        window=window,
        horizon=1,
        timeframe="5m",
        mean=np.asarray(norm.mean)[1],
        std=np.asarray(norm.std)[1],
    )


def _random_trees(
    rng: np.random.Generator, n_inputs: int, lags: int, n_trees: int = 8, depth: int = 3
) -> TreeModel:
    """Full binary trees with random splits (what a fitted GBDT stores, without
    fitting one): node ``i``'s children are ``2i + 1`` and ``2i + 2``."""
    n_inner, n = 2**depth - 1, 2 ** (depth + 1) - 1
    idx = np.arange(n)
    inner = idx < n_inner
    shape = (n_trees, n)

    def child(offset: int) -> np.ndarray:
        return np.broadcast_to(np.where(inner, 2 * idx + offset, idx), shape)

    return TreeModel(
        feature=np.where(inner, rng.integers(0, n_inputs, shape), 0).astype(np.int32),
        threshold=np.where(inner, rng.normal(0, 0.7, shape), 0.0),
        missing_left=rng.random(shape) < 0.5,
        left=child(1).astype(np.int32),
        right=child(2).astype(np.int32),
        value=np.where(inner, 0.0, rng.normal(0, 0.3, shape)),
        baseline=0.1,
        lags=lags,
        depth=depth,
    )


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    """An exported ensemble (an arch, a linear model, boosted trees, Platt
    calibration) on a small synthetic frame."""
    frame = tiny_synthetic(3, n_steps=600).frame
    ds, _, norm = fold_frame(frame, features=FEATURES, window=8)
    spec = data_spec(ds, ops=("dense_gelu", "conv"))
    arch = chain(spec, ["conv", "dense_gelu"], [16, 8], skips=((0, 2),))
    params = random_params(arch, 0)
    rng = np.random.default_rng(0)
    n_feat = spec.n_features
    trees = _random_trees(rng, 2 * n_feat, lags=1)
    members = (
        Member(0.5, arch, params, name="arch"),
        Member(0.25, coef=rng.normal(0, 0.3, (2, n_feat)), intercept=0.1, name="lin"),
        Member(0.25, trees=trees, name="gbdt"),
    )
    path = export_model(
        tmp_path_factory.mktemp("onnx") / "best",
        None,
        None,
        _preprocess(ds, norm, 8),
        members=members,
        calibration=Calibration("platt", 0.7, -0.05),
        platforms=("cpu",),
    )
    return frame, path


def test_onnx_matches_the_model_on_candles(ensemble, tmp_path):
    """The ONNX file of an exported ensemble, on the windows of a candle
    frame: the P(up) of ``Model.predict``, row for row."""
    frame, path = ensemble
    out = nasjax.export_onnx(path, tmp_path / "m" / "model.onnx")
    assert out.is_file()
    model = load_model(path)
    windows, keys = model.windows(frame)
    want = model.predict(frame)
    assert keys.equals(want.select("timestamp", "symbol"))
    assert windows.dtype == np.float32
    assert windows.shape == (want.height, 8, len(model.preprocess.feature_names))
    got = onnx_predict(out, windows)
    assert got.shape == (want.height,) and got.dtype == np.float32
    assert np.max(np.abs(got - want["p_up"].to_numpy())) < TOL
    proto = onnx.load(str(out))
    (inp,), (outp,) = proto.graph.input, proto.graph.output
    assert (inp.name, outp.name) == (INPUT, OUTPUT)
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["n", 8, len(model.preprocess.feature_names)]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["nasjax.warmup_bars"] == str(model.warmup_bars)
    stored = Preprocess.from_dict(json.loads(meta["nasjax.preprocess"]))
    assert stored.feature_names == model.preprocess.feature_names
    assert {n.op_type for n in proto.graph.node} >= {"TreeEnsembleRegressor"}


def test_command_line(ensemble, tmp_path, capsys):
    _, path = ensemble
    out = tmp_path / "model.onnx"
    cli_main(["export-onnx", str(path.parent), str(out)])
    printed = capsys.readouterr().out
    assert out.is_file() and f"wrote {out}" in printed
    assert "checked with onnxruntime: max |P(up) ONNX - JAX| = " in printed
    model = load_model(path)
    x = check_windows(model, 5, seed=1)
    np.testing.assert_allclose(onnx_predict(out, x), model.predict_windows(x), atol=TOL)


OP_ARCHS = {
    "all-ops-window": (
        ["lstm", "gru", "attention", "layernorm", "conv", "dense_tanh", "identity"],
        [16, 8, 16, 16, 8, 16, 16],
        {"dilations": [1, 1, 1, 1, 2, 1, 1], "readout": "window"},
        ((0, 3), (1, 5)),
    ),
    "narrow-mean": (
        ["dense_gelu", "conv", "attention"],
        [8, 16, 8],
        {"kernels": [1, 4, 1], "dilations": [1, 4, 1], "readout": "mean"},
        (),
    ),
}


@pytest.mark.parametrize("name", list(OP_ARCHS))
def test_every_op_converts(name):
    """Every op of the search space (recurrent, attention with narrow heads,
    masked layer norm, dilated conv reaching past the window) and every
    readout give the JAX model's P(up)."""
    ops, widths, kw, skips = OP_ARCHS[name]
    spec = ArchSpec(n_features=5, window=8, max_nodes=8, max_width=16)
    arch = chain(spec, ops, widths, skips=skips, **kw)
    params = random_params(arch, 1)
    rng = np.random.default_rng(2)
    pre = Preprocess(
        features=FeatureConfig.minimal(),
        feature_names=tuple(f"f{i}" for i in range(5)),
        symbols=("BTC/USDT",),
        window=8,
        horizon=1,
        timeframe="5m",
        mean=rng.normal(size=5).astype(np.float32),
        std=rng.uniform(0.5, 2.0, 5).astype(np.float32),
    )
    model = Model(arch, params, pre)
    x = check_windows(model, 32)
    want = model.predict_windows(x, use_export=False)
    got = onnx_predict(to_onnx(model), x)
    assert np.max(np.abs(got - want)) < TOL
    assert want.std() > 1e-2, want.std()  # not a constant function


def test_an_op_without_conversion_is_named(ensemble, monkeypatch, tmp_path):
    _, path = ensemble
    monkeypatch.delitem(onnx_export.ONNX_OPS, "conv")
    with pytest.raises(
        OnnxExportError, match=r"op\(s\) \['conv'\].*no ONNX conversion"
    ):
        nasjax.export_onnx(path, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_a_graph_that_disagrees_is_not_written(ensemble, monkeypatch, tmp_path):
    _, path = ensemble
    model = load_model(path)
    monkeypatch.setattr(
        onnx_export, "onnx_predict", lambda proto, x: np.full(len(x), 2.0, np.float32)
    )
    with pytest.raises(OnnxExportError, match="differs from the JAX model's"):
        nasjax.export_onnx(model, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_windows_of_a_frame_match_predict_windows(ensemble):
    frame, path = ensemble
    model = load_model(path)
    first = model.preprocess.symbols[0]
    windows, keys = model.windows(frame)
    p = model.predict_windows(windows)
    want = model.predict(frame)
    np.testing.assert_allclose(p, want["p_up"].to_numpy(), atol=1e-6)
    assert keys.filter(pl.col("symbol") == first).height == len(frame) // 3 - (
        model.warmup_bars - 1
    )


def test_tree_splits_on_the_last_bit_as_in_jax():
    """A GBDT split sitting between the exact ``(x - mean) / std`` and what
    XLA computes for the JAX model (``(x - mean) * (1 / std)``): the ONNX
    graph sends every window the way the JAX model does."""
    rng = np.random.default_rng(3)
    pre = Preprocess(
        features=FeatureConfig.minimal(),
        feature_names=("a", "b"),
        symbols=("BTC/USDT",),
        window=4,
        horizon=1,
        timeframe="5m",
        mean=np.asarray([0.1, -0.2], np.float32),
        std=np.asarray([0.3, 0.7], np.float32),
    )
    x = rng.normal(size=(4096, 4, 2)).astype(np.float32)
    exact = (x[:, -1, 0] - pre.mean[0]) / pre.std[0]
    xla = (x[:, -1, 0] - pre.mean[0]) * (np.float32(1) / pre.std[0])
    tie = np.flatnonzero(exact != xla)
    assert tie.size, "no window where the two roundings differ"
    i = tie[0]
    stump = TreeModel(
        feature=np.zeros((1, 3), np.int32),
        threshold=np.asarray([[min(exact[i], xla[i]), 0.0, 0.0]]),
        missing_left=np.zeros((1, 3), bool),
        left=np.asarray([[1, 1, 2]], np.int32),
        right=np.asarray([[2, 1, 2]], np.int32),
        value=np.asarray([[0.0, -2.0, 2.0]]),
        baseline=0.0,
        lags=0,
        depth=1,
    )
    model = Model(None, None, pre, members=(Member(1.0, trees=stump, name="stump"),))
    want = model.predict_windows(x[tie], use_export=False)
    got = onnx_predict(to_onnx(model), x[tie])
    np.testing.assert_allclose(got, want, atol=1e-6)
