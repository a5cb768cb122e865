"""A freqtrade strategy trading on a nasjax model's P(up).

Setup (freqtrade and nasjax in the same environment)::

    cp examples/freqtrade/NasjaxStrategy.py user_data/strategies/
    # point it at a nasjax run's exported answer (its best/ folder), either in
    # config.json ("nasjax_model": "/path/to/RUN/best") or in the environment:
    export NASJAX_MODEL=/path/to/RUN/best
    freqtrade backtesting --strategy NasjaxStrategy --timerange 20220301-

What it does:

* ``timeframe`` is the model's (``5m`` for the bundled data) unless the
  config sets one; a model refuses candles of another bar size;
* ``startup_candle_count`` is ``model.warmup_bars``: the bars one prediction
  needs (the window plus the features' lookback);
* ``informative_pairs`` asks freqtrade for every coin the model was trained on:
  cross-asset features (market return, ...) need all of them, so the model's
  pairs must be available on the exchange (``to_pair`` maps a model symbol to
  a pair: edit it for futures, e.g. ``f"{symbol}:USDT"``);
* ``populate_indicators`` adds ``p_up``, the model's calibrated
  P(close[t + horizon] > close[t]) at each closed candle ``t`` (NaN during the
  warm-up); one ``Model.predict`` serves every pair of a candle;
* enter long when ``p_up > entry_threshold``, exit when
  ``p_up < exit_threshold``.

Only pairs among the model's symbols can be traded (a model predicts the
coins it was trained on). The thresholds, ROI and stoploss are placeholders,
not advice: backtest before anything else.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
from freqtrade.strategy import IStrategy
from pandas import DataFrame

import nasjax
from nasjax.app.strategy import align_p_up

DEFAULT_MODEL = "user_data/nasjax/best"


def to_pair(symbol: str) -> str:
    """The exchange pair of a model symbol (spot: the same name)."""
    return symbol


def to_symbol(pair: str) -> str:
    """The model symbol of an exchange pair (the inverse of ``to_pair``)."""
    return pair


class NasjaxStrategy(IStrategy):
    """Long when the nasjax model's P(up) is high, out when it drops."""

    INTERFACE_VERSION = 3
    timeframe = "5m"
    can_short = False
    minimal_roi: ClassVar[dict[str, float]] = {"0": 100.0}  # exits: the signal
    stoploss = -0.10
    use_exit_signal = True
    process_only_new_candles = True
    startup_candle_count: int = 0  # set from the model in __init__

    entry_threshold = 0.55
    exit_threshold = 0.50

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        path = config.get("nasjax_model") or os.environ.get(
            "NASJAX_MODEL", DEFAULT_MODEL
        )
        self.model = nasjax.load_model(path)
        self.timeframe = self.model.preprocess.timeframe
        self.startup_candle_count = self.model.warmup_bars
        self._cache: tuple[Any, Any] | None = None

    def informative_pairs(self) -> list[tuple[str, str]]:
        """Every coin of the model, at the model's timeframe."""
        return [(to_pair(s), self.timeframe) for s in self.model.preprocess.symbols]

    def p_up(self, dataframe: DataFrame, pair: str) -> np.ndarray:
        """P(up) of each row of ``pair``'s dataframe (NaN without one).

        The model predicts every coin at once; the predictions are kept
        until the candles change, so the other pairs of the same candle
        reuse them.
        """
        symbol = to_symbol(pair)
        key = (len(dataframe), dataframe["date"].iloc[0], dataframe["date"].iloc[-1])
        if self._cache is None or self._cache[0] != key:
            frames = {
                s: self.dp.get_pair_dataframe(pair=to_pair(s), timeframe=self.timeframe)
                for s in self.model.preprocess.symbols
                if s != symbol
            }
            frames[symbol] = dataframe
            self._cache = (key, self.model.predict(frames))
        return align_p_up(self._cache[1], dataframe, symbol)

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["p_up"] = self.p_up(dataframe, metadata["pair"])
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = (dataframe["p_up"] > self.entry_threshold).astype(int)
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = (dataframe["p_up"] < self.exit_threshold).astype(int)
        return dataframe
