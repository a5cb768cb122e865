"""nasjax.data: loading, alignment, features, labels, splits and datasets.

Symbols use the ``BASE/QUOTE`` convention (``"BTC/USDT"``; perpetual futures
``"XRP/USDT:USDT"``). Timestamps are candle OPEN times, ``Datetime("us",
"UTC")``. Bad input raises `DataError` (a `ValueError`) naming file, column
and row or timestamp.
"""

from nasjax.data.align import align_panel
from nasjax.data.config import DATA_SOURCES, DataConfig, load_data
from nasjax.data.dataset import (
    Dataset,
    DatasetMeta,
    FoldedData,
    build_dataset,
    gather_windows,
    prepare,
)
from nasjax.data.errors import AlignReport, DataError, LoadReport
from nasjax.data.features import FeatureConfig, compute_features
from nasjax.data.joins import join_asof, join_daily
from nasjax.data.labels import make_labels
from nasjax.data.load import load_ohlcv
from nasjax.data.normalize import NormStats, fit_norm_stats, normalize
from nasjax.data.sample import load_sample
from nasjax.data.schema import normalize_symbol, timeframe_us
from nasjax.data.side import SIDE_PRESETS, SideSeries, read_side
from nasjax.data.splits import FoldConfig, Folds, fold_samples, walk_forward
from nasjax.data.synthetic import SyntheticData, synthetic

__all__ = [
    "DATA_SOURCES",
    "SIDE_PRESETS",
    "AlignReport",
    "DataConfig",
    "DataError",
    "Dataset",
    "DatasetMeta",
    "FeatureConfig",
    "FoldConfig",
    "FoldedData",
    "Folds",
    "LoadReport",
    "NormStats",
    "SideSeries",
    "SyntheticData",
    "align_panel",
    "build_dataset",
    "compute_features",
    "fit_norm_stats",
    "fold_samples",
    "gather_windows",
    "join_asof",
    "join_daily",
    "load_data",
    "load_ohlcv",
    "load_sample",
    "make_labels",
    "normalize",
    "normalize_symbol",
    "prepare",
    "read_side",
    "synthetic",
    "timeframe_us",
    "walk_forward",
]
