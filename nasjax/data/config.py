"""Where the candles come from and how they become samples: `DataConfig` and
`load_data`, the one way a configuration becomes a `FoldedData`."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from nasjax.data.dataset import FoldedData, build_dataset
from nasjax.data.errors import DataError
from nasjax.data.features import FeatureConfig
from nasjax.data.load import load_ohlcv
from nasjax.data.sample import load_sample
from nasjax.data.schema import timeframe_us
from nasjax.data.side import SideSeries
from nasjax.data.splits import FoldConfig
from nasjax.data.synthetic import synthetic
from nasjax.data.ucr import build_ucr_dataset

DATA_SOURCES: tuple[str, ...] = (
    "sample",
    "synthetic",
    "binance",
    "freqtrade",
    "csv",
    "parquet",
    "auto",
    "ucr",
)
"""`DataConfig.source` values: the bundled sample, the synthetic panel, a file
format read from `DataConfig.path` by `load_ohlcv`, or ``"ucr"``: the bundled
UCR/UEA classification dataset `DataConfig.name` (`nasjax.data.ucr`)."""

LOAD_FORMATS: dict[str, str] = {
    "binance": "binance",
    "csv": "csv",
    "parquet": "parquet",
    "auto": "auto",
    "freqtrade": "auto",  # freqtrade json or feather, decided per file
}
"""File sources -> the ``format`` argument of `load_ohlcv`."""


@dataclass(frozen=True)
class DataConfig:
    """Where the candles come from and how they become samples.

    Attributes:
        source: ``sample`` (bundled real data), ``synthetic`` (planted signal),
            a file format read from ``path``: ``binance``, ``freqtrade``,
            ``csv``, ``parquet``, ``auto``; or ``ucr`` (a UCR/UEA
            classification dataset bundled with aeon, named ``name``;
            ``window`` and ``horizon`` are then ignored: the window is the
            series length).
        path: File or folder for the file formats.
        name: Dataset name for ``source=ucr`` (e.g. ``BasicMotions``).
        timeframe: Bar size of the files (``"5m"``); None infers it.
        symbols: Subset of symbols (``BASE/QUOTE``); None keeps all.
        window: Lookback window in bars.
        horizon: Label horizon in bars.
        n_folds: Walk-forward validation folds.
        repair: Explicit repairs of the files (``sort``: sort rows by time,
            ``dedupe``: drop repeated timestamps, keeping the first), counted
            in the load report; none by default (such files are refused).
        min_history_bars: Coins with fewer bars are dropped (with a logged
            reason, and listed under ``data.dropped_coins`` in
            ``summary.json``); the others keep all their bars: the panel
            spans the union of the coins' periods (a coin listed late or
            delisted early is masked where it has no bar). 0 keeps every
            coin.
        synthetic_signal: Planted signal strength (Bayes accuracy 0.5 + it).
        synthetic_symbols: Coins of the synthetic panel.
        synthetic_steps: Bars of the synthetic panel.
        side: Side series (sentiment, on-chain activity) joined as of their
            publication, their columns appended to the features
            (`nasjax.data.side.SideSeries`: ``path`` of a CSV/Parquet file or
            ``fear_greed``, ``columns``, ``time_column``, ``symbol_column``, ``lag``,
            ``max_age``, ``missing``, ``prefix``); none by default. Candle
            sources only.

    Raises:
        ValueError: On an unknown source, a source missing its ``path`` or
            ``name``, a window, horizon or fold count below 1, or a timeframe
            that is not a fixed bar length.
    """

    source: str = "sample"
    path: str | None = None
    name: str | None = None
    timeframe: str | None = "5m"
    symbols: tuple[str, ...] | None = None
    window: int = 32
    horizon: int = 1
    n_folds: int = 3
    min_history_bars: int = 288
    repair: tuple[str, ...] = ()
    synthetic_signal: float = 0.1
    synthetic_symbols: int = 4
    synthetic_steps: int = 4000
    side: tuple[SideSeries, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if self.source not in DATA_SOURCES:
            problems.append(f"data.source must be one of {DATA_SOURCES}")
        if self.source in LOAD_FORMATS and not self.path:
            problems.append(
                f"data.source={self.source} needs data.path (a file or folder)"
            )
        if self.source == "ucr" and not self.name:
            problems.append("data.source=ucr needs data.name (e.g. BasicMotions)")
        unknown = [r for r in self.repair if r not in ("sort", "dedupe")]
        if unknown:
            problems.append(f"data.repair takes sort and/or dedupe, got {unknown}")
        if self.min_history_bars < 0:
            problems.append("data.min_history_bars must be >= 0")
        for key in ("window", "horizon", "n_folds"):
            if getattr(self, key) < 1:
                problems.append(f"data.{key} must be >= 1, got {getattr(self, key)}")
        if self.timeframe is not None:
            try:
                timeframe_us(self.timeframe)
            except DataError as e:
                problems.append(f"data.timeframe: {e}")
        if self.side and self.source == "ucr":
            problems.append("data.side needs candle data (not data.source=ucr)")
        if problems:
            raise ValueError("; ".join(problems))


def load_data(
    cfg: DataConfig, features: FeatureConfig | None = None, seed: int = 0
) -> FoldedData:
    """The `FoldedData` a data configuration asks for.

    Args:
        cfg: Where the data comes from and how it is windowed and folded.
        features: Features of candle data (default `FeatureConfig()`; unused
            for ``ucr``).
        seed: Seed of the synthetic panel and of the UCR validation folds.

    Returns:
        ``(dataset, folds, norm)``.

    Raises:
        DataError: On bad files or a bad configuration.
    """
    features = FeatureConfig() if features is None else features
    if cfg.source == "ucr":
        assert cfg.name is not None
        return build_ucr_dataset(cfg.name, n_folds=cfg.n_folds, seed=seed)
    symbols = None
    if cfg.source == "sample":
        frame = load_sample(cfg.symbols)
    elif cfg.source in LOAD_FORMATS:
        assert cfg.path is not None
        loaded = load_ohlcv(
            cfg.path,
            format=LOAD_FORMATS[cfg.source],
            timeframe=cfg.timeframe,
            symbols=cfg.symbols,
            repair=cfg.repair,
        )
        assert isinstance(loaded, pl.DataFrame)
        frame = loaded
    else:
        frame = synthetic(
            seed,
            n_symbols=cfg.synthetic_symbols,
            n_steps=cfg.synthetic_steps,
            signal=cfg.synthetic_signal,
        ).frame
        symbols = cfg.symbols
    return build_dataset(
        frame,
        features,
        horizon=cfg.horizon,
        window=cfg.window,
        folds=FoldConfig(n_folds=cfg.n_folds),
        min_history=cfg.min_history_bars,
        symbols=symbols,
        side=cfg.side,
    )
