"""Export of a search's winner, and :func:`load_model` to use it without the search.

:func:`export_model` writes a folder (``out_dir/best/`` of a run)::

    arch.json           the architecture (Arch.to_json)
    params/             trained params (orbax StandardSave)
    preprocess.json     FeatureConfig, feature names, symbols, window, horizon,
                        timeframe, alignment options and the normalisation
                        mean/std (float32, from the training part of the fold
                        the params were trained on)
    lineage.json        morph history from the seed architecture to the winner
    metrics.json        validation and test metrics
    predict.jax_export  serialized jax.export inference function:
                        float32[B, window, n_features] raw (un-normalised)
                        feature windows -> float32[B] P(up); B is symbolic
    calibration.json    the calibration map of P(up) (absent: none)

An ensemble answer has ``ensemble.json`` and ``members/<i>/`` (arch.json and
params/ of each arch member) instead of the top-level ``arch.json`` and
``params/`` (:mod:`nasjax.app.members`); its inference function averages the
members and applies the calibration. Folders exported before ensembles and
calibration existed load as they are.

:func:`load_model` returns a :class:`Model` whose :meth:`Model.predict` turns
a long OHLCV frame (``timestamp, symbol, open, high, low, close, volume``, as
:func:`nasjax.data.load_sample` returns) into P(up) per bar, with the stored
feature configuration and normalisation statistics (never re-fitted on the new
candles).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import polars as pl
from jax import export as jax_export

from nasjax import safe_json
from nasjax.app.frames import candle_frame, check_candles
from nasjax.app.members import (
    CALIBRATION_FILE,
    ENSEMBLE_FILE,
    Member,
    answer_fn,
    ensemble_record,
    read_calibration,
    read_ensemble,
    write_calibration,
)
from nasjax.data.align import align_panel
from nasjax.data.dataset import window_valid
from nasjax.data.errors import DataError
from nasjax.data.features import FeatureConfig, aligned, feature_grids
from nasjax.data.normalize import normalize
from nasjax.data.side import SideSeries, side_features
from nasjax.evaluate.calibrate import Calibration
from nasjax.graph import bucket_size, pad_rows
from nasjax.graph.arch import Arch
from nasjax.morph.lineage import arch_lineage
from nasjax.nn.model import apply, init
from nasjax.nn.readout import init_time_weights
from nasjax.typing import Params

logger = logging.getLogger("nasjax.predict")

ARCH_FILE = "arch.json"
PARAMS_DIR = "params"
PREPROCESS_FILE = "preprocess.json"
LINEAGE_FILE = "lineage.json"
METRICS_FILE = "metrics.json"
EXPORT_FILE = "predict.jax_export"
EXPORT_PLATFORMS: tuple[str, ...] = ("cpu", "cuda")
"""Platforms the inference function is lowered for."""


@dataclasses.dataclass(frozen=True, eq=False)
class Preprocess:
    """How raw candles become model inputs (fixed at training time).

    Attributes:
        features: The feature configuration.
        feature_names: F feature names, in model-input order.
        symbols: S symbols the model was trained on (sorted); cross-asset
            features need all of them in every frame.
        window: Lookback window W in bars.
        horizon: Label horizon h in bars (P(up) is for close[t+h] > close[t]).
        timeframe: Bar size, e.g. ``"5m"``.
        mean: ``float32[F]`` normalisation mean (training part of the fold).
        std: ``float32[F]`` normalisation std.
        max_fill: Gap filling of :func:`nasjax.data.align_panel`.
        gap_policy: Long-gap policy of :func:`nasjax.data.align_panel`.
        span: Grid span of :func:`nasjax.data.align_panel` (``"union"``: a
            coin without bars at the start or end of a frame is masked there,
            the others are still predicted).
        side: Side series joined as features (``data.side``; files as
            absolute paths, bundled ones by name): they are read again when
            new candles are featurised.
    """

    features: FeatureConfig
    feature_names: tuple[str, ...]
    symbols: tuple[str, ...]
    window: int
    horizon: int
    timeframe: str
    mean: np.ndarray
    std: np.ndarray
    max_fill: int = 3
    gap_policy: str = "mask"
    span: str = "union"
    side: tuple[SideSeries, ...] = ()

    @property
    def warmup_bars(self) -> int:
        """Bars of history a prediction needs before (and including) its bar:
        the window plus the features' lookback. The first ``warmup_bars - 1``
        bars of each coin in a frame get no prediction."""
        return self.window + self.features.lookback()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (float32 statistics as exact decimal floats)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["features"] = dataclasses.asdict(self.features)
        d["side"] = [dataclasses.asdict(s) for s in self.side]
        d["mean"] = np.asarray(self.mean, np.float32).tolist()
        d["std"] = np.asarray(self.std, np.float32).tolist()
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Preprocess:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        feats: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in d["features"].items()
        }
        d["features"] = FeatureConfig(**feats)
        d["side"] = tuple(_side_series(s) for s in d.get("side", ()))
        d["feature_names"] = tuple(d["feature_names"])
        d["symbols"] = tuple(d["symbols"])
        d["mean"] = np.asarray(d["mean"], np.float32)
        d["std"] = np.asarray(d["std"], np.float32)
        return cls(**d)


def _side_series(d: Mapping[str, Any]) -> SideSeries:
    """A `SideSeries` from its ``dataclasses.asdict`` JSON."""
    return SideSeries(
        path=str(d["path"]),
        columns=tuple(d.get("columns", ())),
        **{k: v for k, v in d.items() if k not in ("path", "columns")},
    )


def inference_fn(
    arch: Arch, params: Params, mean: np.ndarray, std: np.ndarray
) -> Callable[[jax.Array], jax.Array]:
    """``x: float32[B, W, F]`` raw windows -> ``float32[B]`` P(up).

    Normalises with ``mean``/``std`` (``float32[F]``), applies the network and
    returns the softmax probability of class 1 (up).
    """
    mu = jnp.asarray(mean, jnp.float32)
    sd = jnp.asarray(std, jnp.float32)

    def predict(x: jax.Array) -> jax.Array:
        logits = apply(arch, params, normalize(x, mu, sd))
        return jax.nn.softmax(logits, axis=-1)[:, 1]

    return predict


def export_function(
    fn: Callable[[jax.Array], jax.Array],
    window: int,
    n_features: int,
    platforms: Sequence[str] = EXPORT_PLATFORMS,
) -> bytes:
    """Serialized :func:`jax.export` of ``fn: float32[B, window, n_features]
    -> float32[B]``; the batch dimension is symbolic, so one artifact serves
    any batch size."""
    (batch,) = jax_export.symbolic_shape("b")
    shape = jax.ShapeDtypeStruct((batch, window, n_features), jnp.float32)
    exported = jax_export.export(jax.jit(fn), platforms=tuple(platforms))(shape)
    return bytes(exported.serialize())


def export_inference(
    arch: Arch,
    params: Params,
    mean: np.ndarray,
    std: np.ndarray,
    platforms: Sequence[str] = EXPORT_PLATFORMS,
) -> bytes:
    """Serialized :func:`jax.export` of :func:`inference_fn` (params baked in).

    The batch dimension is symbolic, so one artifact serves any batch size.
    """
    spec = arch.spec
    fn = inference_fn(arch, params, mean, std)
    return export_function(fn, spec.window, spec.n_features, platforms)


lineage = arch_lineage
"""Deprecated alias of :func:`nasjax.morph.arch_lineage` (one release)."""


def _local_checkpointer() -> ocp.StandardCheckpointer:
    """An orbax checkpointer this process drives alone (no barriers with the
    other processes of a multi-process run, where only process 0 exports)."""
    if jax.process_count() == 1:
        return ocp.StandardCheckpointer()
    me = jax.process_index()
    only_me = ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})
    return ocp.StandardCheckpointer(multiprocessing_options=only_me)


def export_model(
    directory: str | Path,
    arch: Arch | None,
    params: Params | None,
    preprocess: Preprocess,
    *,
    lineage: Sequence[Mapping[str, Any]] = (),
    metrics: Mapping[str, Any] | None = None,
    platforms: Sequence[str] = EXPORT_PLATFORMS,
    members: Sequence[Member] = (),
    calibration: Calibration | None = None,
) -> Path:
    """Write the model folder (replacing an existing one).

    The folder is written next to ``directory`` under a temporary name and
    renamed at the end, so a crash never leaves a half-written export under
    the final name.

    Args:
        directory: Target folder (e.g. ``out_dir/best``).
        arch: The single (unbatched) architecture (None with ``members``).
        params: Its trained params (None with ``members``).
        preprocess: Features and normalisation the params were trained with.
        lineage: Morph history (:func:`lineage`).
        metrics: JSON-serialisable metrics (validation, test).
        platforms: Lowering platforms of the exported inference function.
        members: An ensemble (:class:`~nasjax.app.members.Member`, weights
            summing to 1) instead of ``arch``/``params``; written to
            ``ensemble.json`` and ``members/``.
        calibration: Map of the log-odds applied to the (averaged) P(up)
            (``calibration.json``; None: the identity).

    Returns:
        The folder.
    """
    cal = Calibration() if calibration is None else calibration
    if not members:
        if arch is None or params is None:
            raise ValueError("export_model needs arch and params, or members")
        members = (Member(1.0, arch, params, name=arch.fingerprint()),)
    final = Path(directory).absolute()
    tmp = final.with_name(final.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    host = tuple(
        dataclasses.replace(m, params=jax.tree.map(np.asarray, m.params))
        if m.params is not None
        else m
        for m in members
    )
    with _local_checkpointer() as ckptr:

        def save_arch(folder: Path, m: Member) -> None:
            assert m.arch is not None
            (folder / ARCH_FILE).write_text(m.arch.to_json())
            ckptr.save(folder / PARAMS_DIR, m.params)
            ckptr.wait_until_finished()

        single = len(host) == 1 and host[0].kind == "arch" and host[0].weight == 1.0
        if single:
            save_arch(tmp, host[0])
        else:
            record = ensemble_record(host, save_arch, tmp)
            (tmp / ENSEMBLE_FILE).write_text(json.dumps(record, indent=1))
    write_calibration(tmp, cal)
    (tmp / PREPROCESS_FILE).write_text(json.dumps(preprocess.to_dict(), indent=1))
    (tmp / LINEAGE_FILE).write_text(json.dumps(list(lineage), indent=1))
    (tmp / METRICS_FILE).write_text(json.dumps(metrics or {}, indent=1))
    fn = answer_fn(host, cal, preprocess.mean, preprocess.std)
    blob = export_function(
        fn, preprocess.window, len(preprocess.feature_names), platforms
    )
    (tmp / EXPORT_FILE).write_bytes(blob)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Raw feature tensor of a frame and the bars that can be predicted.

    Attributes:
        features: ``float32[T, S, F]`` un-normalised features (0 where
            missing).
        time: ``int64[n]`` time index of each predictable bar.
        coin: ``int64[n]`` symbol index of each predictable bar.
        timestamps: ``[T]`` candle open times (polars Series, UTC).
        symbols: The S symbols.
        window: Lookback window W.
    """

    features: np.ndarray
    time: np.ndarray
    coin: np.ndarray
    timestamps: pl.Series
    symbols: tuple[str, ...]
    window: int

    def windows(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``float32[n, W, F]`` raw windows of predictable bars ``start:stop``."""
        t = self.time[start:stop, None] + np.arange(1 - self.window, 1)[None, :]
        return self.features[t, self.coin[start:stop, None]]


def model_inputs(frame: pl.DataFrame, pre: Preprocess) -> Inputs:
    """Features of a long OHLCV frame, exactly as at training time.

    The frame is restricted to ``pre.symbols`` (all must be present), put on
    the ``pre.timeframe`` grid by :func:`nasjax.data.align_panel` (unless it
    already has a ``filled`` column), and featurised with ``pre.features``.
    A bar is predictable when every bar of its window exists (a coin is
    absent before its first bar, after its last and in long gaps) with
    finite features, and it was not forward-filled by the alignment.

    Raises:
        DataError: If symbols are missing or the features differ from the
            training features.
    """
    present = set(frame["symbol"].unique().to_list())
    missing = [s for s in pre.symbols if s not in present]
    if missing:
        raise DataError(
            f"the frame lacks symbols {missing}; the model was trained on "
            f"{list(pre.symbols)} and its features need all of them"
        )
    frame = frame.filter(pl.col("symbol").is_in(list(pre.symbols)))
    if "filled" not in frame.columns:
        panel = align_panel(
            frame,
            pre.timeframe,
            max_fill=pre.max_fill,
            gap_policy=pre.gap_policy,
            span=pre.span,
        )
        assert isinstance(panel, pl.DataFrame)
        frame = panel
    df, syms, n_steps = aligned(frame)
    n_sym = len(syms)
    close = df["close"].to_numpy().reshape(n_sym, n_steps)
    named = list(feature_grids(df, syms, n_steps, pre.features))
    if pre.side:
        named += side_features(
            pre.side,
            df["timestamp"].head(n_steps),
            syms,
            present=np.isfinite(close),
            taken=[n for n, _ in named],
        )
    names = tuple(n for n, _ in named)
    if names != pre.feature_names:
        raise DataError(
            f"features {names} differ from the training features {pre.feature_names}"
        )
    feats = np.empty((n_steps, n_sym, len(named)), np.float32)
    for k, (_, values) in enumerate(named):
        feats[:, :, k] = np.broadcast_to(values, (n_sym, n_steps)).T
    finite = np.isfinite(feats)
    present = np.isfinite(close.T)
    valid = np.asarray(finite.all(axis=-1)) & present
    feats[~finite] = 0.0
    filled = df["filled"].to_numpy().reshape(n_sym, n_steps).T
    ok = window_valid(valid, pre.window) & ~filled
    t, s = np.nonzero(ok)  # time-major: sample id order t * S + s
    return Inputs(
        features=feats,
        time=t.astype(np.int64),
        coin=s.astype(np.int64),
        timestamps=df["timestamp"].head(n_steps),
        symbols=syms,
        window=pre.window,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """A trained answer ready for inference on new candles.

    A single architecture (``arch``, ``params``) or an ensemble
    (``members``: archs and linear models, weighted), with the calibration
    of its probabilities.

    Attributes:
        arch: The architecture (of an ensemble: its first arch member; None
            if it has none).
        params: Its trained params (likewise).
        preprocess: Feature and normalisation settings.
        metrics: Validation and test metrics recorded at export.
        lineage: Morph history from the seed architecture.
        exported: The deserialized :func:`jax.export` inference function
            (None if the folder has none).
        members: The ensemble's members (empty: the single ``arch``).
        calibration: The map of the log-odds applied to P(up) (identity by
            default and for exports made before calibration existed).
    """

    arch: Arch | None
    params: Params | None
    preprocess: Preprocess
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    lineage: list[dict] = dataclasses.field(default_factory=list)
    exported: jax_export.Exported | None = None
    members: tuple[Member, ...] = ()
    calibration: Calibration = dataclasses.field(default_factory=Calibration)

    @property
    def components(self) -> tuple[Member, ...]:
        """The weighted members (one of weight 1 for a single arch)."""
        if self.members:
            return self.members
        if self.arch is None or self.params is None:
            raise ValueError("a Model needs arch and params, or members")
        return (Member(1.0, self.arch, self.params),)

    @functools.cached_property
    def _jitted(self) -> Callable[[jax.Array], jax.Array]:
        pre = self.preprocess
        fn = answer_fn(self.components, self.calibration, pre.mean, pre.std)
        return jax.jit(fn)

    def predict_windows(
        self, x: np.ndarray, *, use_export: bool = True, batch_size: int = 4096
    ) -> np.ndarray:
        """P(up) of raw (un-normalised) feature windows.

        Args:
            x: ``float32[B, window, n_features]``.
            use_export: Run the exported function (else arch + params).
            batch_size: Windows per call (batches are padded to powers of
                two up to this size, so few shapes are compiled).

        Returns:
            ``float32[B]``.
        """
        x = np.asarray(x, np.float32)
        if use_export and self.exported is None:
            raise ValueError("this model has no exported function; use_export=False")
        fn: Callable[..., Any] = (
            self.exported.call if use_export and self.exported else self._jitted
        )
        out = []
        for a in range(0, len(x), batch_size):
            chunk = x[a : a + batch_size]
            n = len(chunk)
            chunk = pad_rows(chunk, min(bucket_size(n), batch_size), fill=0)
            try:
                out.append(np.asarray(fn(chunk))[:n])
            except jax.errors.JaxRuntimeError as e:
                if not use_export:
                    raise
                first = str(e).strip().splitlines()[0][:300]
                raise ExportError(
                    f"the exported function ({EXPORT_FILE}) does not run ({first}); "
                    "it is damaged: export the model again, or predict with "
                    "use_export=False (the arch and params)"
                ) from e
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    @property
    def warmup_bars(self) -> int:
        """Bars of history each prediction needs (:attr:`Preprocess.warmup_bars`)."""
        return self.preprocess.warmup_bars

    def predict(
        self,
        frame: Any,
        *,
        symbol: str | None = None,
        use_export: bool = True,
        batch_size: int = 4096,
    ) -> pl.DataFrame:
        """P(up) for every bar of ``frame`` that has a full valid window.

        Args:
            frame: Candles holding every symbol of ``preprocess.symbols``
                (others are ignored): a long polars or pandas frame
                (``timestamp`` or ``date``, ``symbol``, ``open``, ``high``,
                ``low``, ``close``, ``volume``), a single-symbol frame such
                as a freqtrade strategy's dataframe (with ``symbol=``; not
                needed if the model knows one symbol), or a mapping
                ``{symbol: frame}`` (:func:`nasjax.app.frames.candle_frame`).
                Give :attr:`warmup_bars` - 1 bars of history before the
                first bar to predict.
            symbol: The symbol of a single-symbol frame.
            use_export: Run the exported function (else arch + params).
            batch_size: Windows per call.

        Returns:
            Frame ``timestamp, symbol, p_up`` sorted by (timestamp, symbol).
            ``p_up`` at (t, s) is P(close[t + horizon] > close[t]) from the
            window of bars ``t - window + 1 .. t`` (known once bar t closes;
            timestamps are candle open times). Bars inside the feature
            warm-up, with a gap in their window, or forward-filled by the
            alignment get no row.
        """
        inputs = self._inputs(frame, symbol, "predict")
        n = len(inputs.time)
        p = np.zeros(n, np.float32)
        for a in range(0, n, batch_size):
            p[a : a + batch_size] = self.predict_windows(
                inputs.windows(a, a + batch_size),
                use_export=use_export,
                batch_size=batch_size,
            )
        return _keys(inputs).with_columns(pl.Series("p_up", p))

    def windows(
        self, frame: Any, *, symbol: str | None = None
    ) -> tuple[np.ndarray, pl.DataFrame]:
        """The raw feature windows of ``frame``'s predictable bars.

        What :meth:`predict` feeds :meth:`predict_windows`, for running the
        model elsewhere (the ONNX graph of :func:`nasjax.export_onnx`,
        ``predict.jax_export``). All at once: ``n * window * n_features * 4``
        bytes (give a recent tail of a long history).

        Args:
            frame: Candles, as for :meth:`predict`.
            symbol: The symbol of a single-symbol frame.

        Returns:
            ``(windows, keys)``: ``float32[n, window, n_features]`` raw
            (un-normalised) feature windows, features in the order of
            ``preprocess.feature_names``, and the frame ``timestamp, symbol``
            of each window's last bar (row ``i`` of ``keys`` is window ``i``;
            the rows of :meth:`predict`, in its order).
        """
        inputs = self._inputs(frame, symbol, "windows")
        return inputs.windows(), _keys(inputs)

    def _inputs(self, frame: Any, symbol: str | None, caller: str) -> Inputs:
        """The checked candles' features (logging which bars are left out)."""
        pre = self.preprocess
        candles = candle_frame(frame, pre.symbols, symbol=symbol)
        check_candles(candles, pre.symbols, pre.timeframe, self.warmup_bars)
        inputs = model_inputs(candles, pre)
        n = len(inputs.time)
        given = candles.filter(pl.col("symbol").is_in(list(pre.symbols))).height
        warm = (self.warmup_bars - 1) * len(pre.symbols)
        logger.info(
            "%s: %d of %d bars; %d are in each coin's warm-up (its first "
            "%d bars), %d have a gap or a forward-filled bar in their window",
            caller,
            n,
            given,
            min(warm, given),
            self.warmup_bars - 1,
            max(given - n - warm, 0),
        )
        return inputs


def _keys(inputs: Inputs) -> pl.DataFrame:
    """``timestamp, symbol`` of every predictable bar of ``inputs``."""
    symbols = pl.Series("symbol", inputs.symbols, dtype=pl.String)
    return pl.DataFrame(
        {
            "timestamp": inputs.timestamps.gather(inputs.time),
            "symbol": symbols.gather(inputs.coin),
        }
    )


def _restore_params(path: Path, arch: Arch) -> Params:
    """The exported params of ``arch``, at the current params layout.

    Models exported before the ``window`` readout existed have no
    ``"readout"`` time weights; they get the initial ones, which their
    ``last`` / ``mean`` readouts never read.
    """
    target = jax.eval_shape(init, jax.random.key(0), arch)
    target = jax.tree.map(lambda s: np.empty(s.shape, s.dtype), target)
    with _local_checkpointer() as ckptr:
        saved = ckptr.metadata(path).item_metadata
        saved_keys = set(getattr(saved, "tree", saved) or ())
        if "readout" in saved_keys or not saved_keys:
            return ckptr.restore(path, target)
        params = ckptr.restore(
            path, {k: v for k, v in target.items() if k != "readout"}
        )
    spec = arch.spec
    return {
        **params,
        "readout": np.asarray(init_time_weights(spec.window, spec.max_width)),
    }


class ExportError(ValueError):
    """A model folder that does not load: names the damaged or missing file."""


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turns any error while reading ``path`` into an :class:`ExportError`
    naming it (JSON, orbax / tensorstore, ``jax.export`` and OS errors)."""
    try:
        yield
    except ExportError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ExportError(
            f"damaged or missing model file {path} ({type(e).__name__}: {first}); "
            "export the model again or copy the folder again"
        ) from e


def load_model(path: str | Path) -> Model:
    """Load an exported model (a ``best/`` folder, or a run folder holding one).

    Raises:
        FileNotFoundError: If ``path`` holds no exported model.
        ExportError: If a file of the folder is missing, truncated or
            corrupted (naming that file).
    """
    root = Path(path).absolute()
    if not _holds_model(root) and _holds_model(root / "best"):
        root = root / "best"
    if not _holds_model(root):
        raise FileNotFoundError(
            f"no exported nasjax model in {root} ({ARCH_FILE} or {ENSEMBLE_FILE})"
        )
    members: tuple[Member, ...] = ()

    def load_arch(folder: Path) -> tuple[Arch, Params]:
        with _reading(folder / ARCH_FILE):
            arch = Arch.from_json((folder / ARCH_FILE).read_text())
        with _reading(folder / PARAMS_DIR):
            return arch, _restore_params(folder / PARAMS_DIR, arch)

    def json_file(name: str) -> Any:
        with _reading(root / name):
            return safe_json.loads((root / name).read_text())

    if (root / ENSEMBLE_FILE).exists():
        with _reading(root / ENSEMBLE_FILE):
            members = read_ensemble(root, load_arch)
        first = next((m for m in members if m.arch is not None), None)
        arch, params = (None, None) if first is None else (first.arch, first.params)
    else:
        arch, params = load_arch(root)
    with _reading(root / PREPROCESS_FILE):
        pre = Preprocess.from_dict(
            safe_json.loads((root / PREPROCESS_FILE).read_text())
        )
    exported = None
    if (root / EXPORT_FILE).exists():
        with _reading(root / EXPORT_FILE):
            blob = bytearray((root / EXPORT_FILE).read_bytes())
            exported = jax_export.deserialize(blob)
    with _reading(root / CALIBRATION_FILE):
        calibration = read_calibration(root)
    return Model(
        arch=arch,
        params=params,
        preprocess=pre,
        metrics=json_file(METRICS_FILE),
        lineage=json_file(LINEAGE_FILE),
        exported=exported,
        members=members,
        calibration=calibration,
    )


def _holds_model(folder: Path) -> bool:
    return (folder / ARCH_FILE).exists() or (folder / ENSEMBLE_FILE).exists()
