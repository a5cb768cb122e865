"""P(up) on freqtrade dataframes, and the example strategy without freqtrade."""

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from nasjax.app.export import Preprocess, export_model, load_model
from nasjax.app.strategy import align_p_up, p_up_column
from nasjax.data import DataError
from nasjax.data.sample import SAMPLE_DIR
from nasjax.graph import chain
from tests.helpers import EXPORT_FEATURES, data_spec, fold_frame, random_params

STRATEGY = Path(__file__).parents[2] / "examples" / "freqtrade" / "NasjaxStrategy.py"
FEATURES = EXPORT_FEATURES
PAIRS = ("BTC/USDT", "ETH/USDT")
N_BARS = 700


def freqtrade_frame(pair: str, n: int = N_BARS) -> pd.DataFrame:
    """The first ``n`` candles of a bundled coin as freqtrade hands them to a
    strategy: pandas, ``date`` (UTC), OHLCV, no symbol."""
    path = SAMPLE_DIR / f"{pair.replace('/', '_')}-5m.parquet"
    return pl.read_parquet(path).head(n).rename({"timestamp": "date"}).to_pandas()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """An export (random params) on two coins of the bundled sample."""
    frame = pl.concat(
        pl.from_pandas(freqtrade_frame(p))
        .rename({"date": "timestamp"})
        .with_columns(symbol=pl.lit(p))
        for p in PAIRS
    )
    ds, _, norm = fold_frame(frame, features=FEATURES, window=8)
    assert ds.meta.symbols == PAIRS
    arch = chain(data_spec(ds, ops=("dense_gelu",)), ["dense_gelu"], [8])
    pre = Preprocess(
        features=FEATURES,
        feature_names=ds.meta.feature_names,
        symbols=ds.meta.symbols,
        window=8,
        horizon=1,
        timeframe="5m",
        mean=np.asarray(norm.mean)[1],
        std=np.asarray(norm.std)[1],
    )
    params = random_params(arch, 0, scale=0.1)
    out = tmp_path_factory.mktemp("ft") / "best"
    return export_model(out, arch, params, pre, platforms=("cpu",))


def test_p_up_column_on_a_freqtrade_dataframe(model_path):
    model = load_model(model_path)
    btc, eth = (freqtrade_frame(p) for p in PAIRS)
    p = p_up_column(model, btc, "BTC/USDT", others={"ETH/USDT": eth})
    assert p.shape == (len(btc),) and p.dtype == np.float64
    warm = model.warmup_bars - 1
    assert np.isnan(p[:warm]).all() and np.isfinite(p[warm:]).all()
    want = model.predict({"BTC/USDT": btc, "ETH/USDT": eth})
    want = want.filter(pl.col("symbol") == "BTC/USDT")["p_up"].to_numpy()
    np.testing.assert_allclose(p[warm:], want, atol=1e-7)
    # Rows in another order: each row keeps its own bar's P(up).
    order = np.random.default_rng(0).permutation(len(btc))
    shuffled = btc.iloc[order].reset_index(drop=True)
    got = p_up_column(model, shuffled, "BTC/USDT", others={"ETH/USDT": eth})
    np.testing.assert_array_equal(got, p[order])


def test_p_up_column_refuses_what_it_cannot_predict(model_path):
    model = load_model(model_path)
    btc, eth = (freqtrade_frame(p) for p in PAIRS)
    with pytest.raises(DataError, match="SOL/USDT is not one of the model's symbols"):
        p_up_column(model, btc, "SOL/USDT", others={"ETH/USDT": eth})
    with pytest.raises(DataError, match=r"lacks symbols \['ETH/USDT'\]"):
        p_up_column(model, btc, "BTC/USDT")
    predictions = model.predict({"BTC/USDT": btc, "ETH/USDT": eth})
    with pytest.raises(DataError, match="no prediction for SOL/USDT"):
        align_p_up(predictions, btc, "SOL/USDT")


class _DataProvider:
    """freqtrade's ``DataProvider.get_pair_dataframe``, on the bundled sample."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def get_pair_dataframe(self, pair: str, timeframe: str) -> pd.DataFrame:
        self.calls.append((pair, timeframe))
        return freqtrade_frame(pair)


@pytest.fixture
def strategy_class(monkeypatch):
    """``examples/freqtrade/NasjaxStrategy.py`` imported against a stand-in
    ``freqtrade.strategy.IStrategy`` (freqtrade is not a dependency)."""

    class IStrategy:
        def __init__(self, config):
            self.config = config

    freqtrade = types.ModuleType("freqtrade")
    strategy = types.ModuleType("freqtrade.strategy")
    strategy.IStrategy = IStrategy  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "freqtrade", freqtrade)
    monkeypatch.setitem(sys.modules, "freqtrade.strategy", strategy)
    spec = importlib.util.spec_from_file_location("NasjaxStrategy", STRATEGY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.NasjaxStrategy


def test_example_strategy_signals(model_path, strategy_class, monkeypatch):
    monkeypatch.delenv("NASJAX_MODEL", raising=False)
    strat = strategy_class({"nasjax_model": str(model_path)})
    model = strat.model
    assert strat.startup_candle_count == model.warmup_bars
    assert strat.timeframe == "5m"
    assert strat.informative_pairs() == [(p, "5m") for p in PAIRS]
    strat.dp = _DataProvider()
    frames = {}
    for pair in PAIRS:
        df = strat.populate_indicators(freqtrade_frame(pair), {"pair": pair})
        df = strat.populate_entry_trend(df, {"pair": pair})
        frames[pair] = strat.populate_exit_trend(df, {"pair": pair})
    # One prediction served both pairs of the candle.
    assert strat.dp.calls == [("ETH/USDT", "5m")]
    want = model.predict({p: freqtrade_frame(p) for p in PAIRS})
    for pair, df in frames.items():
        mine = want.filter(pl.col("symbol") == pair)["p_up"].to_numpy()
        np.testing.assert_allclose(df["p_up"].to_numpy()[-len(mine) :], mine)
        p = df["p_up"].to_numpy()
        np.testing.assert_array_equal(df["enter_long"].eq(1), p > strat.entry_threshold)
        np.testing.assert_array_equal(df["exit_long"].eq(1), p < strat.exit_threshold)
    # The model path can come from the environment too.
    monkeypatch.setenv("NASJAX_MODEL", str(model_path))
    assert strategy_class({}).model.preprocess.symbols == PAIRS
