"""A model's P(up) as a column of a trading strategy's dataframe (freqtrade).

A freqtrade strategy sees one pair at a time: a pandas frame with ``date``
(candle open time, UTC) and OHLCV columns, no symbol. A nasjax model may need
more coins than that one (cross-asset features need every coin it was trained
on, ``model.preprocess.symbols``), and each prediction needs
``model.warmup_bars`` bars of history (freqtrade's ``startup_candle_count``).

* :func:`p_up_column`: P(up) for every row of a pair's dataframe (NaN where
  there is none: warm-up, a gap in the window), given the model's other coins'
  dataframes;
* :func:`align_p_up`: the same from predictions already made (one
  :meth:`~nasjax.app.export.Model.predict` call serves every pair of a
  candle).

``examples/freqtrade/NasjaxStrategy.py`` is a strategy built on them. Nothing
here imports freqtrade.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from nasjax.app.export import Model
from nasjax.app.frames import row_times
from nasjax.data.errors import DataError
from nasjax.data.schema import normalize_symbol


def align_p_up(predictions: pl.DataFrame, dataframe: Any, symbol: str) -> np.ndarray:
    """``float64[len(dataframe)]``: row ``i`` is the P(up) of ``symbol`` at
    the open time of row ``i`` of ``dataframe`` (NaN without a prediction).

    Args:
        predictions: The output of :meth:`~nasjax.app.export.Model.predict`
            (``timestamp, symbol, p_up``).
        dataframe: One symbol's candles (a freqtrade dataframe: ``date``).
        symbol: Its symbol (any spelling, e.g. ``"BTC/USDT"``).

    Raises:
        DataError: If the predictions hold no row of ``symbol`` at all (it is
            not one of the model's symbols, or the frame is too short).
    """
    sym = normalize_symbol(symbol)
    mine = predictions.filter(pl.col("symbol") == sym).select("timestamp", "p_up")
    if mine.is_empty():
        known = sorted(predictions["symbol"].unique().to_list())
        raise DataError(
            f"no prediction for {sym}: the predictions hold {known}; a model "
            "predicts only the symbols it was trained on, after its warm-up"
        )
    rows = pl.DataFrame([row_times(dataframe)]).with_row_index("row")
    joined = rows.join(mine, on="timestamp", how="left").sort("row")
    return joined["p_up"].cast(pl.Float64).fill_null(np.nan).to_numpy()


def p_up_column(
    model: Model,
    dataframe: Any,
    symbol: str,
    others: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """P(up) of every row of one symbol's dataframe.

    Args:
        model: The loaded model (:func:`nasjax.load_model`).
        dataframe: The candles of ``symbol`` (pandas or polars; ``date`` or
            ``timestamp``, OHLCV), e.g. a freqtrade strategy's dataframe.
        symbol: Its symbol, one of ``model.preprocess.symbols``.
        others: ``{symbol: dataframe}`` of the model's other symbols (needed
            when it was trained on several coins).

    Returns:
        ``float64[len(dataframe)]`` P(close[t + horizon] > close[t]) at each
        row's bar ``t`` (known when bar ``t`` closes), NaN for the first
        ``model.warmup_bars - 1`` rows and rows with a gap in their window.

    Raises:
        DataError: As :meth:`~nasjax.app.export.Model.predict` (e.g. a symbol
            of the model missing from ``others``), or if ``symbol`` is not
            one of the model's symbols.
    """
    sym = normalize_symbol(symbol)
    if sym not in model.preprocess.symbols:
        raise DataError(
            f"{sym} is not one of the model's symbols {list(model.preprocess.symbols)}"
        )
    frames = {normalize_symbol(s): f for s, f in (others or {}).items()}
    frames[sym] = dataframe
    return align_p_up(model.predict(frames), dataframe, sym)
