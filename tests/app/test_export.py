"""Export of a trained arch and ``load_model(...).predict`` on new candles."""

import contextlib
import json

import jax
import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

import nasjax
from nasjax.app.export import (
    EXPORT_FILE,
    Preprocess,
    export_model,
    lineage,
    load_model,
    model_inputs,
)
from nasjax.app.members import Member
from nasjax.baselines.trees import TreeModel
from nasjax.data import DataError, FoldConfig, SideSeries, build_dataset
from nasjax.evaluate.calibrate import Calibration
from nasjax.graph import chain
from nasjax.nn import init
from nasjax.train.predict import predict_proba
from tests.helpers import EXPORT_FEATURES, data_spec, fold_frame, tiny_synthetic

FEATURES = EXPORT_FEATURES
FOLD = 1


def preprocess_of(ds, norm, **extra) -> Preprocess:
    """The :class:`Preprocess` of a window-8 dataset ``ds`` built with
    ``FEATURES`` (fold ``FOLD``'s normalisation)."""
    return Preprocess(
        features=FEATURES,
        feature_names=ds.meta.feature_names,
        symbols=ds.meta.symbols,
        window=8,
        horizon=1,
        timeframe="5m",
        mean=np.asarray(norm.mean)[FOLD],
        std=np.asarray(norm.std)[FOLD],
        **extra,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A dataset, an arch with (random) params, and its export folder."""
    frame = tiny_synthetic(2, n_steps=1200).frame
    ds, folds, norm = fold_frame(frame, features=FEATURES, window=8)
    spec = data_spec(ds, ops=("dense_gelu", "conv"))
    arch = chain(spec, ["conv", "dense_gelu"], [16, 8], skips=((0, 2),))
    params = init(jax.random.key(0), arch)
    pre = preprocess_of(ds, norm)
    rows = [{"fingerprint": arch.fingerprint(), "parent_fingerprint": "", "round": 0}]
    path = export_model(
        tmp_path_factory.mktemp("export") / "best",
        arch,
        params,
        pre,
        lineage=lineage(rows, arch.fingerprint()),
        metrics={"test": {"accuracy": 0.5}},
    )
    return frame, (ds, folds, norm), arch, params, pre, path


def _reference(ds, norm, arch, params) -> pl.DataFrame:
    """In-process P(up) for every labelled sample (the training pipeline)."""
    ids = np.flatnonzero(np.asarray(ds.label_mask).reshape(-1))
    p = predict_proba(
        arch,
        params,
        ds.features,
        ids,
        np.asarray(norm.mean)[FOLD],
        np.asarray(norm.std)[FOLD],
    )[:, 1]
    n_sym = len(ds.meta.symbols)
    ts = pl.Series(ds.meta.timestamps[ids // n_sym]).dt.replace_time_zone("UTC")
    symbols = [ds.meta.symbols[s] for s in ids % n_sym]
    return pl.DataFrame({"timestamp": ts, "symbol": symbols, "ref": p})


def test_export_folder_contents(trained):
    *_, pre, path = trained
    names = {p.name for p in path.iterdir()}
    assert names == {
        "arch.json",
        "params",
        "preprocess.json",
        "lineage.json",
        "metrics.json",
        EXPORT_FILE,
    }
    assert not path.with_name("best.partial").exists()
    stored = Preprocess.from_dict(json.loads((path / "preprocess.json").read_text()))
    assert stored.features == pre.features
    assert stored.feature_names == pre.feature_names
    assert stored.symbols == pre.symbols
    for a, b in ((stored.mean, pre.mean), (stored.std, pre.std)):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_loaded_model_restores_arch_params_and_metadata(trained):
    _, _, arch, params, _, path = trained
    model = nasjax.load_model(path)
    assert model.arch.to_json() == arch.to_json()
    jax.tree.map(np.testing.assert_array_equal, model.params, params)
    assert model.metrics == {"test": {"accuracy": 0.5}}
    assert model.lineage[0]["origin"] == "seed"
    assert model.exported is not None
    assert set(model.exported.platforms) >= {"cpu", "cuda"}
    # The run folder (parent of best/) works too.
    assert nasjax.load_model(path.parent).arch.to_json() == arch.to_json()
    with pytest.raises(FileNotFoundError, match="no exported nasjax model"):
        load_model(path / "params")


def test_a_model_exported_before_the_window_readout_still_loads(trained, tmp_path):
    """Params saved without the ``readout`` time weights (older exports) load
    with the initial ones, which a last-step arch never reads."""
    import shutil

    import orbax.checkpoint as ocp

    params, path = trained[3], trained[5]
    old = tmp_path / "best"
    shutil.copytree(path, old)
    shutil.rmtree(old / "params")
    legacy = {k: v for k, v in params.items() if k != "readout"}
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(old / "params", jax.tree.map(np.asarray, legacy))
    model = load_model(old)
    for key in legacy:
        jax.tree.map(np.testing.assert_array_equal, model.params[key], params[key])
    np.testing.assert_array_equal(model.params["readout"], params["readout"])


def test_side_series_are_stored_and_joined_again_for_new_candles(tmp_path):
    """A model trained with side features keeps their series in
    preprocess.json and featurises new candles exactly as in training."""
    frame = tiny_synthetic(2, n_steps=600).frame  # 2022-01-01: in the index
    own = tmp_path / "own.csv"
    own.write_text("date,x\n2021-12-31,1.5\n2022-01-01,2.5\n")
    side = (SideSeries("fear_greed"), SideSeries(own.name, prefix="own_"))
    with contextlib.chdir(tmp_path):
        ds, _, norm = build_dataset(
            frame, FEATURES, window=8, folds=FoldConfig(n_folds=2), side=side
        )
        stored = tuple(s.absolute() for s in side)
    assert stored[0].path == "fear_greed" and stored[1].path == str(own)
    pre = preprocess_of(ds, norm, side=stored)
    back = Preprocess.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert back.side == stored
    inputs = model_inputs(frame, back)
    assert ds.meta.feature_names[-2:] == ("fng_value", "own_x")
    np.testing.assert_array_equal(inputs.features, np.asarray(ds.features))
    # Without its series the features differ: a clear error, not a guess.
    bare = Preprocess.from_dict({**pre.to_dict(), "side": []})
    with pytest.raises(DataError, match="differ from the training features"):
        model_inputs(frame, bare)
    old = pre.to_dict()
    del old["side"]  # preprocess.json written before side series existed
    assert Preprocess.from_dict(old).side == ()


def test_predict_matches_the_in_process_model(trained):
    frame, (ds, _, norm), arch, params, _, path = trained
    model = load_model(path)
    out = model.predict(frame)
    assert out.columns == ["timestamp", "symbol", "p_up"]
    assert out["p_up"].dtype == pl.Float32
    assert out.sort(["timestamp", "symbol"]).equals(out)
    ref = _reference(ds, norm, arch, params)
    joined = ref.join(out, on=["timestamp", "symbol"], how="left")
    # Every labelled bar of the training pipeline is predicted, identically.
    assert joined["p_up"].null_count() == 0
    np.testing.assert_allclose(joined["p_up"], joined["ref"], atol=1e-5)
    # The exported function and arch + params agree.
    direct = model.predict(frame, use_export=False)
    assert direct.select("timestamp", "symbol").equals(
        out.select("timestamp", "symbol")
    )
    np.testing.assert_allclose(direct["p_up"], out["p_up"], atol=1e-6)


def test_new_candles_use_the_stored_statistics(trained):
    """A short recent frame gives the same P(up) as the full history for the
    bars it can predict: nothing is re-fitted on the new candles."""
    frame, *_, path = trained
    model = load_model(path)
    full = model.predict(frame)
    times = frame["timestamp"].unique().sort()
    recent = frame.filter(pl.col("timestamp") >= times[-60])
    part = model.predict(recent)
    lookback = FEATURES.lookback() + model.preprocess.window - 1
    assert part.height == 3 * (60 - lookback)
    joined = part.join(full, on=["timestamp", "symbol"], suffix="_full")
    assert joined.height == part.height
    np.testing.assert_allclose(joined["p_up"], joined["p_up_full"], atol=1e-5)


def test_predict_on_a_ragged_frame(trained):
    """A coin listed late and one delisted early: every bar the training
    pipeline would label on that frame is predicted, identically, and no
    prediction of a coin uses a bar where it had none."""
    frame, (_, _, norm), arch, params, pre, path = trained
    model = load_model(path)
    late, gone = pre.symbols[0], pre.symbols[2]
    i = pl.int_range(pl.len()).over("symbol")
    ragged = frame.filter(
        ~(
            ((pl.col("symbol") == late) & (i < 300))
            | ((pl.col("symbol") == gone) & (i >= 900))
        )
    )
    out = model.predict(ragged)
    ds = fold_frame(ragged, features=FEATURES, window=8).dataset
    assert ds.features.shape[0] == 1200
    ref = _reference(ds, norm, arch, params)
    joined = ref.join(out, on=["timestamp", "symbol"], how="left")
    assert joined["p_up"].null_count() == 0
    np.testing.assert_allclose(joined["p_up"], joined["ref"], atol=1e-5)
    warm = FEATURES.lookback() + pre.window - 1
    for sym, rows in ragged.group_by("symbol"):
        got = out.filter(pl.col("symbol") == sym[0])["timestamp"]
        assert got.min() >= rows["timestamp"].sort()[warm]
        assert got.max() <= rows["timestamp"].max()
    # The coin trading throughout is predicted from its warm-up on.
    stay = out.filter(pl.col("symbol") == pre.symbols[1])
    assert stay.height == 1200 - warm


def test_predict_windows_any_batch_size(trained):
    *_, path = trained
    model = load_model(path)
    w, f = model.preprocess.window, len(model.preprocess.feature_names)
    x = np.random.default_rng(0).normal(size=(7, w, f)).astype(np.float32)
    full = model.predict_windows(x)
    assert full.shape == (7,) and full.dtype == np.float32
    np.testing.assert_allclose(model.predict_windows(x[:1]), full[:1], atol=1e-6)
    np.testing.assert_allclose(model.predict_windows(x, batch_size=3), full, atol=1e-6)
    np.testing.assert_allclose(
        model.predict_windows(x, use_export=False), full, atol=1e-6
    )


def test_missing_symbols_are_an_error(trained):
    frame, *_, path = trained
    model = load_model(path)
    drop = model.preprocess.symbols[0]
    with pytest.raises(DataError, match=f"lacks symbols.*{drop}"):
        model.predict(frame.filter(pl.col("symbol") != drop))


def test_lineage_follows_parents_from_the_seed():
    rows = [
        {"fingerprint": "a", "parent_fingerprint": "", "morphs": "", "round": 0},
        {"fingerprint": "b", "parent_fingerprint": "", "morphs": "", "round": 0},
        {"fingerprint": "c", "parent_fingerprint": "a", "morphs": "widen", "round": 1},
        {
            "fingerprint": "d",
            "parent_fingerprint": "c",
            "morphs": "deepen,add_skip",
            "round": 2,
            "fitness": 0.6,
            "params_count": 10,
        },
    ]
    chain_ = lineage(rows, "d")
    assert [s["fingerprint"] for s in chain_] == ["a", "c", "d"]
    assert [s["morphs"] for s in chain_] == [[], ["widen"], ["deepen", "add_skip"]]
    assert chain_[0]["origin"] == "seed"
    assert chain_[-1]["fitness"] == 0.6 and chain_[-1]["params_count"] == 10
    orphan = lineage(
        [{"fingerprint": "x", "parent_fingerprint": "gone", "round": 3}], "x"
    )
    assert "gone" in orphan[0]["origin"]
    with pytest.raises(KeyError):
        lineage(rows, "zzz")


def test_ensemble_export_round_trip(trained, tmp_path):
    """An ensemble (two archs, a linear model, boosted trees) with a calibration map:
    ``load_model(...).predict`` computes the weighted, calibrated average of
    the members, through the exported function and through the params."""
    frame, (ds, _, norm), arch, params, pre, _ = trained
    other = chain(arch.spec, ["dense_gelu"], [8])
    params2 = init(jax.random.key(1), other)
    rng = np.random.default_rng(0)
    coef = rng.normal(0, 0.3, (2, arch.spec.n_features))
    n_feat = arch.spec.n_features
    xs = rng.normal(size=(400, 2 * n_feat))
    gb = HistGradientBoostingClassifier(max_iter=10, random_state=0)
    trees = TreeModel.from_sklearn(gb.fit(xs, (xs[:, 0] > 0).astype(int)), lags=1)
    members = (
        Member(0.5, arch, params, name="a"),
        Member(0.25, other, params2, name="b"),
        Member(0.125, coef=coef, intercept=0.1, name="logistic"),
        Member(0.125, trees=trees, name="gbdt"),
    )
    cal = Calibration("platt", 0.7, -0.05)
    path = export_model(
        tmp_path / "best", None, None, pre, members=members, calibration=cal
    )
    assert not (path / "arch.json").exists() and (path / "ensemble.json").exists()
    model = load_model(tmp_path)
    assert [m.kind for m in model.members] == ["arch", "arch", "linear", "trees"]
    assert [m.weight for m in model.members] == [0.5, 0.25, 0.125, 0.125]
    assert model.calibration == cal
    np.testing.assert_array_equal(model.members[2].coef, coef)
    assert model.arch is not None and model.arch.fingerprint() == arch.fingerprint()
    # Reference: the members' P(up) from the training pipeline, by hand.
    ids = np.flatnonzero(np.asarray(ds.label_mask).reshape(-1))[:300]
    mean, std = np.asarray(norm.mean)[FOLD], np.asarray(norm.std)[FOLD]
    p_a = predict_proba(arch, params, ds.features, ids, mean, std)[:, 1]
    p_b = predict_proba(other, params2, ds.features, ids, mean, std)[:, 1]
    feats = np.asarray(ds.features)
    n_sym = feats.shape[1]
    t, s = ids // n_sym, ids % n_sym
    z = 0.1 + sum(((feats[t - j, s] - mean) / std) @ coef[j] for j in range(2))
    p_lin = 1 / (1 + np.exp(-z))
    lagged = np.concatenate([(feats[t - j, s] - mean) / std for j in range(2)], 1)
    p_trees = 1 / (1 + np.exp(-trees.predict_raw(lagged)))
    avg = 0.5 * p_a + 0.25 * p_b + 0.125 * p_lin + 0.125 * p_trees
    expected = cal.apply(avg.astype(np.float64))
    x = np.stack([feats[t - 7 + k, s] for k in range(8)], axis=1)
    for use_export in (True, False):
        got = model.predict_windows(x, use_export=use_export)
        np.testing.assert_allclose(got, expected, atol=2e-5)
    out = model.predict(frame)
    assert out.columns == ["timestamp", "symbol", "p_up"]
    assert out["p_up"].is_between(0.0, 1.0).all()


def test_predict_takes_pandas_freqtrade_and_mapping_frames(trained):
    """The same candles as a pandas frame, as per-symbol freqtrade frames
    (``date`` column, no symbol) in a mapping, or lazily: the same P(up)."""
    frame, *_, path = trained
    model = load_model(path)
    want = model.predict(frame)
    per_symbol = {
        sym: frame.filter(pl.col("symbol") == sym)
        .drop("symbol")
        .rename({"timestamp": "date"})
        .to_pandas()
        for sym in model.preprocess.symbols
    }
    for given in (frame.to_pandas(), per_symbol, frame.lazy()):
        got = model.predict(given)
        assert got.equals(want)
    # warmup_bars: the bars each prediction needs, its own included.
    first = want.filter(pl.col("symbol") == model.preprocess.symbols[1])["timestamp"]
    times = frame["timestamp"].unique().sort()
    assert first.min() == times[model.warmup_bars - 1]


def test_a_frame_without_symbols_needs_one(trained):
    frame, *_, path = trained
    model = load_model(path)
    one = frame.filter(pl.col("symbol") == model.preprocess.symbols[0]).drop("symbol")
    with pytest.raises(DataError, match="no 'symbol' column: pass symbol="):
        model.predict(one)
    # Given, it is one coin of three: the cross-asset features need the rest.
    with pytest.raises(DataError, match="lacks symbols"):
        model.predict(one, symbol=model.preprocess.symbols[0])


def _hostile(frame: pl.DataFrame, case: str) -> pl.DataFrame:
    sym = frame["symbol"][0]
    row = (pl.col("symbol") == sym) & (pl.int_range(pl.len()).over("symbol") == 500)
    if case == "nan-close":
        return frame.with_columns(
            pl.when(row).then(float("nan")).otherwise(pl.col("close")).alias("close")
        )
    if case == "negative-low":
        return frame.with_columns(
            pl.when(row).then(-1.0).otherwise(pl.col("low")).alias("low")
        )
    if case == "duplicate":
        return pl.concat([frame, frame.filter(row)])
    if case == "hourly":
        return frame.filter(pl.col("timestamp").dt.minute() == 0)
    if case == "too-short":
        return frame.group_by("symbol", maintain_order=True).head(10)
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("nan-close", "NaN or infinite value.*close"),
        ("negative-low", "non-positive price.*low"),
        ("duplicate", "duplicate candle"),
        ("hourly", "timeframe 1h differs from the requested timeframe 5m"),
        ("too-short", r"too few bars to predict anything.*needs \d+ bars"),
    ],
)
def test_predict_refuses_candles_it_cannot_use(trained, case, message):
    """Bad prices, duplicates, another timeframe or too little history: a
    DataError that says so, not rows silently dropped."""
    frame, *_, path = trained
    model = load_model(path)
    with pytest.raises(DataError, match=message):
        model.predict(_hostile(frame, case))


def test_predict_says_which_bars_it_skipped(trained, caplog):
    frame, *_, path = trained
    model = load_model(path)
    with caplog.at_level("INFO", logger="nasjax.predict"):
        out = model.predict(frame)
    n_sym = len(model.preprocess.symbols)
    warm = (model.warmup_bars - 1) * n_sym
    assert f"predict: {out.height} of {frame.height} bars; {warm} are" in caplog.text
