"""ONNX export of an answer: its inference on feature windows as one ONNX graph.

:func:`export_onnx` writes the model of a ``best/`` folder (or a loaded
:class:`~nasjax.app.export.Model`) as an ``.onnx`` file and checks it against
the JAX predictions with onnxruntime; :func:`to_onnx` builds the graph in
memory. From the command line::

    python -m nasjax export-onnx RUN/best model.onnx
    python -m nasjax.app.onnx_export RUN/best model.onnx      # the same

The graph (ONNX opset 17, plus ``ai.onnx.ml`` 3 for GBDT members):

* input ``windows``: ``float32[n, window, n_features]`` **raw (un-normalised)
  feature windows**, the features of ``preprocess.json`` in its order, bars
  ``t - window + 1 .. t`` of one coin; exactly what
  :meth:`~nasjax.app.export.Model.predict_windows` and ``predict.jax_export``
  take, and what :meth:`~nasjax.app.export.Model.windows` builds from a
  candle frame (the features of candles are not part of the graph);
* output ``p_up``: ``float32[n]`` P(close[t + horizon] > close[t]), with the
  normalisation (the stored mean and std), every member, the ensemble
  weights and the calibration inside.

The graph reproduces the JAX model to float rounding (about 1e-7 on P(up)),
including where a GBDT member splits: the normalisation is computed as XLA
computes the JAX model's, ``(x - mean) * (1 / std)``.

The graph is written out from the concrete architecture as
:func:`nasjax.nn.static.apply_static` runs it: only its active nodes, each
with the one op it runs (``dense_gelu``, ``dense_tanh``, ``conv``, ``lstm``,
``gru``, ``attention``, ``layernorm``, ``identity``; :data:`ONNX_OPS`), in
standard ONNX operators (the recurrent ones as ONNX ``LSTM`` / ``GRU``); a
linear member is a ``MatMul`` + ``Sigmoid``, a GBDT member a
``TreeEnsembleRegressor``. An op or member kind without a conversion raises
:class:`OnnxExportError` naming it. The file's metadata
(``metadata_props``) holds ``preprocess.json`` and the input's description.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from nasjax.app.export import Model, load_model
from nasjax.app.members import Member
from nasjax.baselines.trees import TreeModel
from nasjax.evaluate.calibrate import Calibration
from nasjax.graph.arch import Arch
from nasjax.graph.spec import READOUTS, ArchSpec
from nasjax.ops.attention import alibi_bias

if TYPE_CHECKING:
    import onnx

logger = logging.getLogger("nasjax.onnx")

OPSET = 17
"""ONNX opset of the default domain."""
ML_OPSET = 3
"""Opset of ``ai.onnx.ml`` (``TreeEnsembleRegressor``, GBDT members)."""
INPUT = "windows"
"""Name of the graph's input ``float32[n, window, n_features]``."""
OUTPUT = "p_up"
"""Name of the graph's output ``float32[n]``."""
TOLERANCE = 1e-4
"""Largest |P(up) ONNX - P(up) JAX| :func:`export_onnx` accepts."""
INPUT_DOC = (
    "windows: float32[n, window, n_features] raw (un-normalised) feature "
    "windows, features in the order of preprocess.json's feature_names, bars "
    "t - window + 1 .. t of one coin (nasjax: Model.windows(frame)); "
    "p_up: float32[n] calibrated P(close[t + horizon] > close[t])"
)
_CLIP = 1e-7


class OnnxExportError(ValueError):
    """A model that cannot be written as ONNX, or whose ONNX graph does not
    reproduce its JAX predictions (the message says which part)."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as e:
        raise ImportError(
            "the ONNX export needs the onnx package: pip install 'nasjax[onnx]'"
        ) from e
    return onnx


class _Graph:
    """The nodes and constants of an ONNX graph under construction."""

    def __init__(self) -> None:
        self.onnx = _onnx()
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, hint: str = "c", dtype: Any = np.float32) -> str:
        """A constant tensor (an initializer) holding ``value``."""
        name = self._name(hint)
        array = np.array(value, dtype)  # a copy, C-ordered; 0-d stays 0-d
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def ints(self, *values: int) -> str:
        """An ``int64[len(values)]`` constant (shapes, axes, indices)."""
        return self.const(np.asarray(values, np.int64), "i", np.int64)

    def op(
        self, op_type: str, *inputs: str, domain: str = "", out: str | None = None
    ) -> Callable[..., str]:
        """``op(...)(**attributes)``: add node ``op_type`` and return its output."""

        def with_attributes(**attributes: Any) -> str:
            name = out or self._name(op_type.lower())
            node = self.onnx.helper.make_node(
                op_type, list(inputs), [name], domain=domain, **attributes
            )
            self.nodes.append(node)
            return name

        return with_attributes

    def __call__(self, op_type: str, *inputs: str) -> str:
        """An attribute-free node's output."""
        return self.op(op_type, *inputs)()

    def dense(self, x: str, kernel: Any, bias: Any | None = None) -> str:
        """``x @ kernel + bias`` on the last axis."""
        y = self("MatMul", x, self.const(kernel, "kernel"))
        return y if bias is None else self("Add", y, self.const(bias, "bias"))

    def mask(self, x: str, width: int, channels: int) -> str:
        """``x`` with channels at or above ``width`` set to zero."""
        if width >= channels:
            return x
        keep = (np.arange(channels) < width).astype(np.float32)
        return self("Mul", x, self.const(keep, "mask"))

    def gelu(self, x: str) -> str:
        """``jax.nn.gelu`` (the tanh approximation flax uses)."""
        cube = self("Mul", self("Mul", x, x), x)
        inner = self("Add", x, self("Mul", self.const(0.044715), cube))
        t = self("Tanh", self("Mul", self.const(math.sqrt(2 / math.pi)), inner))
        cdf = self("Mul", self.const(0.5), self("Add", self.const(1.0), t))
        return self("Mul", x, cdf)

    def zeros_like(self, x: str) -> str:
        """A float32 tensor of zeros of ``x``'s shape."""
        zero = self.onnx.numpy_helper.from_array(np.zeros(1, np.float32))
        return self.op("ConstantOfShape", self("Shape", x))(value=zero)

    def time_major(self, x: str) -> str:
        """``[B, T, C] <-> [T, B, C]``."""
        return self.op("Transpose", x)(perm=[1, 0, 2])


def _keep(width: int, channels: int) -> np.ndarray:
    return (np.arange(channels) < width).astype(np.float32)


# --------------------------------------------------------------------------
# Ops: (graph, node params (host arrays), x [B, T, W], width, kernel,
# dilation, spec) -> y [B, T, W] before the node's output mask, as the op's
# ``apply`` in nasjax.ops computes it.

OpConversion = Callable[[_Graph, dict[str, Any], str, int, int, int, ArchSpec], str]


def _dense_gelu(g, p, x, width, kernel, dilation, spec) -> str:
    return g.gelu(g.dense(x, p["kernel"], p["bias"]))


def _dense_tanh(g, p, x, width, kernel, dilation, spec) -> str:
    return g("Tanh", g.dense(x, p["kernel"], p["bias"]))


def _conv(g, p, x, width, kernel, dilation, spec) -> str:
    """Causal dilated convolution + GELU: tap ``k`` is ``x`` delayed by
    ``k * dilation`` bars (zeros before the start); taps reaching past the
    window and (as in JAX) dilations outside ``spec.dilations`` are zero."""
    t_len = spec.window
    w = np.asarray(p["kernel"], np.float32)  # [max_kernel, C, W]
    taps, used = [x], [0]
    if dilation in spec.dilations:
        for k in range(1, min(kernel, spec.max_kernel)):
            shift = k * dilation
            if shift >= t_len:
                break
            pads = g.ints(0, shift, 0, 0, 0, 0)
            padded = g("Pad", x, pads)
            taps.append(g("Slice", padded, g.ints(0), g.ints(t_len), g.ints(1)))
            used.append(k)
    stacked = taps[0] if len(taps) == 1 else g.op("Concat", *taps)(axis=-1)
    kern = w[used].reshape(-1, w.shape[-1])
    return g.gelu(g.dense(stacked, kern, p["bias"]))


def _masked(p: dict[str, Any], keep: np.ndarray) -> dict[str, Any]:
    """Every leaf of ``p`` times ``keep`` along its last axes (as the ops
    mask their params)."""
    return jax.tree.map(lambda leaf: np.asarray(leaf, np.float32) * keep, p)


def _recurrent(g: _Graph, x: str, op_type: str, w, r, b, hidden: int, **attrs) -> str:
    """An ONNX ``LSTM`` / ``GRU`` over ``x: [B, T, C]`` (zero initial state),
    returning every step's hidden state ``[B, T, hidden]``."""
    consts = [g.const(a[None], n) for a, n in ((w, "W"), (r, "R"), (b, "B"))]
    y = g.op(op_type, g.time_major(x), *consts)(hidden_size=hidden, **attrs)
    return g.time_major(g("Squeeze", y, g.ints(1)))  # [T, 1, B, H] -> [B, T, H]


def _lstm(g, p, x, width, kernel, dilation, spec) -> str:
    """flax ``OptimizedLSTMCell``: ONNX gate order i, o, f, c(g); input
    kernels have no bias."""
    c = _masked(p, _keep(width, spec.max_width))["cell"]
    gates = ("i", "o", "f", "g")
    w = np.concatenate([c[f"i{k}"]["kernel"].T for k in gates])
    r = np.concatenate([c[f"h{k}"]["kernel"].T for k in gates])
    rb = np.concatenate([c[f"h{k}"]["bias"] for k in gates])
    b = np.concatenate([np.zeros_like(rb), rb])
    return _recurrent(g, x, "LSTM", w, r, b, spec.max_width)


def _gru(g, p, x, width, kernel, dilation, spec) -> str:
    """flax ``GRUCell``: ONNX gate order z, r, h(n) with the reset gate applied
    after the hidden projection (``linear_before_reset=1``)."""
    c = _masked(p, _keep(width, spec.max_width))["cell"]
    gates = ("z", "r", "n")
    w = np.concatenate([c[f"i{k}"]["kernel"].T for k in gates])
    r = np.concatenate([c[f"h{k}"]["kernel"].T for k in gates])
    wb = np.concatenate([c[f"i{k}"]["bias"] for k in gates])
    hn = c["hn"]["bias"]
    rb = np.concatenate([np.zeros_like(hn), np.zeros_like(hn), hn])
    b = np.concatenate([wb, rb])
    return _recurrent(g, x, "GRU", w, r, b, spec.max_width, linear_before_reset=1)


def _attention(g, p, x, width, kernel, dilation, spec) -> str:
    """flax ``MultiHeadDotProductAttention``, causal, with the ALiBi bias."""
    w_all, d = spec.max_width, spec.head_dim
    h = w_all // d
    keep = _keep(width, w_all).reshape(h, d)
    heads = {k: _masked(p[k], keep) for k in ("query", "key", "value")}
    split = g.ints(0, 0, h, d)

    def project(name: str, perm: list[int]) -> str:
        q = heads[name]
        y = g.dense(x, q["kernel"].reshape(w_all, h * d), q["bias"].reshape(-1))
        return g.op("Transpose", g("Reshape", y, split))(perm=perm)

    query = g("Div", project("query", [0, 2, 1, 3]), g.const(np.sqrt(np.float32(d))))
    key_t = project("key", [0, 2, 3, 1])  # [B, H, D, T]
    value = project("value", [0, 2, 1, 3])  # [B, H, T, D]
    t_len = spec.window
    scores = g("Add", g("MatMul", query, key_t), g.const(alibi_bias(t_len, h)))
    causal = g.const(np.tri(t_len, dtype=bool), "causal", bool)
    big_neg = g.const(np.finfo(np.float32).min)
    weights = g.op("Softmax", g("Where", causal, scores, big_neg))(axis=-1)
    ctx = g.op("Transpose", g("MatMul", weights, value))(perm=[0, 2, 1, 3])
    ctx = g("Reshape", ctx, g.ints(0, 0, h * d))
    out = p["out"]
    return g.dense(ctx, np.asarray(out["kernel"]).reshape(h * d, w_all), out["bias"])


def _layernorm(g, p, x, width, kernel, dilation, spec) -> str:
    """Layer norm over the first ``width`` channels (``MaskedLayerNorm``)."""
    last = g.ints(-1)
    m = g.const(_keep(width, spec.max_width), "mask")
    n = g.const(float(max(width, 1)))

    def channel_mean(v: str) -> str:
        return g("Div", g.op("ReduceSum", v, last)(keepdims=1), n)

    centred = g("Mul", g("Sub", x, channel_mean(g("Mul", x, m))), m)
    var = channel_mean(g("Mul", centred, centred))
    std = g("Sqrt", g("Add", var, g.const(1e-5)))
    y = g("Mul", g("Div", centred, std), g.const(p["scale"]))
    return g("Add", y, g.const(p["bias"]))


def _identity(g, p, x, width, kernel, dilation, spec) -> str:
    return x


ONNX_OPS: dict[str, OpConversion] = {
    "dense_gelu": _dense_gelu,
    "dense_tanh": _dense_tanh,
    "conv": _conv,
    "lstm": _lstm,
    "gru": _gru,
    "attention": _attention,
    "layernorm": _layernorm,
    "identity": _identity,
}
"""Op name -> its ONNX conversion (every op of :data:`nasjax.graph.KNOWN_OPS`)."""


# --------------------------------------------------------------------------
# Members


def _arch_proba(g: _Graph, arch: Arch, params: Any, xn: str) -> str:
    """P(up) ``[B]`` of an arch member on normalised windows ``xn``."""
    spec = arch.spec
    if arch.batch_shape:
        raise OnnxExportError(f"a single arch is needed, got {arch.batch_shape}")
    a = arch.to_numpy()
    p = jax.tree.map(np.asarray, params)
    w = spec.max_width
    n_active = int(a["node_mask"].sum())
    unknown = sorted(
        {spec.ops[int(a["ops"][i])] for i in range(1, n_active)} - set(ONNX_OPS)
    )
    if unknown:
        raise OnnxExportError(
            f"op(s) {unknown} of arch {arch.summary()} have no ONNX conversion; "
            f"convertible ops: {sorted(ONNX_OPS)}"
        )
    gate = np.asarray(p["edge_gate"], np.float32)
    h0 = g.dense(xn, p["stem"]["kernel"], p["stem"]["bias"])
    outs = [g.mask(h0, int(a["width"][0]), w)]
    for i in range(1, n_active):
        terms = [
            outs[j] if gate[j, i] == 1.0 else g("Mul", outs[j], g.const(gate[j, i]))
            for j in np.flatnonzero(a["adj"][:i, i])
        ]
        if terms:
            x = terms[0]
            for t in terms[1:]:
                x = g("Add", x, t)
        else:
            x = g.zeros_like(h0)
        name = spec.ops[int(a["ops"][i])]
        node_params = jax.tree.map(lambda leaf, i=i: leaf[i], p["nodes"][name])
        width = int(a["width"][i])
        kernel, dilation = int(a["kernel"][i]), int(a["dilation"][i])
        y = ONNX_OPS[name](g, node_params, x, width, kernel, dilation, spec)
        outs.append(g.mask(y, width, w))
    final = outs[-1] if n_active > 1 else g.zeros_like(outs[0])
    readout = READOUTS[int(a["readout"])]
    if readout == "last":
        feats = g.op("Gather", final, g.const(spec.window - 1, "t", np.int64))(axis=1)
    elif readout == "mean":
        total = g.op("ReduceSum", final, g.ints(1))(keepdims=0)
        feats = g("Div", total, g.const(float(spec.window)))
    else:
        weighted = g("Mul", final, g.const(p["readout"]))
        feats = g.op("ReduceSum", weighted, g.ints(1))(keepdims=0)
    logits = g.dense(feats, p["head"]["kernel"], p["head"]["bias"])
    proba = g.op("Softmax", logits)(axis=-1)
    return g.op("Gather", proba, g.const(1, "up", np.int64))(axis=1)


def _last_bars(g: _Graph, xn: str, n: int, window: int, what: str) -> str:
    """``[B, n * F]``: the normalised features of bars ``t, t - 1, ...,
    t - n + 1`` side by side (as ``xn[:, ::-1][:, :n]`` flattened)."""
    if n > window:
        raise OnnxExportError(
            f"{what} reads {n} bars but the window has {window}; it cannot run "
            "on this model's windows"
        )
    bars = g.const(np.arange(window - 1, window - 1 - n, -1), "bars", np.int64)
    return g("Reshape", g.op("Gather", xn, bars)(axis=1), g.ints(0, -1))


def _linear_proba(g: _Graph, m: Member, xn: str, window: int) -> str:
    coef = np.asarray(m.coef, np.float32)
    lagged = _last_bars(g, xn, coef.shape[0], window, f"linear member {m.name!r}")
    z = g("Squeeze", g.dense(lagged, coef.reshape(-1, 1)), g.ints(1))
    return g("Sigmoid", g("Add", z, g.const(np.float32(m.intercept))))


def _trees_proba(g: _Graph, trees: TreeModel, xn: str, window: int, name: str) -> str:
    """P(up) of boosted trees (``ai.onnx.ml.TreeEnsembleRegressor``, float32
    thresholds and leaf values as in :meth:`TreeModel.logits`)."""
    lagged = _last_bars(g, xn, trees.lags + 1, window, f"trees member {name!r}")
    nodes: dict[str, list] = {
        k: []
        for k in (
            "treeids",
            "nodeids",
            "featureids",
            "modes",
            "values",
            "truenodeids",
            "falsenodeids",
            "missing_value_tracks_true",
        )
    }
    targets: dict[str, list] = {"treeids": [], "nodeids": [], "weights": []}
    for t in range(trees.feature.shape[0]):
        todo = [0]
        while todo:
            i = todo.pop()
            left, right = int(trees.left[t, i]), int(trees.right[t, i])
            leaf = left == i and right == i
            nodes["treeids"].append(t)
            nodes["nodeids"].append(i)
            nodes["featureids"].append(0 if leaf else int(trees.feature[t, i]))
            nodes["modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            nodes["values"].append(0.0 if leaf else float(trees.threshold[t, i]))
            nodes["truenodeids"].append(0 if leaf else left)
            nodes["falsenodeids"].append(0 if leaf else right)
            nodes["missing_value_tracks_true"].append(
                0 if leaf else int(trees.missing_left[t, i])
            )
            if leaf:
                targets["treeids"].append(t)
                targets["nodeids"].append(i)
                targets["weights"].append(float(np.float32(trees.value[t, i])))
            else:
                todo += [right, left]
    n_targets = len(targets["treeids"])
    raw = g.op("TreeEnsembleRegressor", lagged, domain="ai.onnx.ml")(
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        base_values=[float(np.float32(trees.baseline))],
        target_ids=[0] * n_targets,
        target_treeids=targets["treeids"],
        target_nodeids=targets["nodeids"],
        target_weights=targets["weights"],
        **{f"nodes_{k}": v for k, v in nodes.items()},
    )
    return g("Sigmoid", g("Squeeze", raw, g.ints(1)))


def _member_proba(g: _Graph, m: Member, xn: str, window: int) -> str:
    if m.kind == "arch" and m.arch is not None:
        return _arch_proba(g, m.arch, m.params, xn)
    if m.kind == "linear":
        return _linear_proba(g, m, xn, window)
    if m.kind == "trees" and m.trees is not None:
        return _trees_proba(g, m.trees, xn, window, m.name)
    raise OnnxExportError(f"member {m.name!r} of kind {m.kind!r} has no ONNX form")


def _calibrated(g: _Graph, p: str, cal: Calibration) -> str:
    """``sigmoid(a * logit(clip(p)) + b)`` (:func:`nasjax.app.members.calibrated`)."""
    if cal.method == "none":
        return p
    q = g("Clip", p, g.const(_CLIP), g.const(1.0 - _CLIP))
    logit = g("Sub", g("Log", q), g("Log", g("Sub", g.const(1.0), q)))
    z = g("Add", g("Mul", g.const(cal.a), logit), g.const(cal.b))
    return g("Sigmoid", z)


# --------------------------------------------------------------------------
# The model


def _version() -> str:
    try:
        return importlib.metadata.version("nasjax")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _as_model(model: Model | str | Path) -> Model:
    return model if isinstance(model, Model) else load_model(model)


def to_onnx(model: Model | str | Path, *, opset: int = OPSET) -> onnx.ModelProto:
    """The ONNX graph of a model's inference: ``windows -> p_up``.

    Args:
        model: A :class:`~nasjax.app.export.Model`, or the path of an exported
            folder (``best/`` or the run folder holding it).
        opset: Opset of the default domain (17 or later).

    Returns:
        A checked ``onnx.ModelProto`` (input ``windows``:
        ``float32[n, window, n_features]`` raw feature windows; output
        ``p_up``: ``float32[n]``; see the module docstring).

    Raises:
        OnnxExportError: For an op or member without an ONNX conversion (named).
        ImportError: Without the ``onnx`` package (``nasjax[onnx]``).
    """
    onnx = _onnx()
    if opset < OPSET:
        raise ValueError(f"opset must be >= {OPSET}, got {opset}")
    model = _as_model(model)
    pre = model.preprocess
    window, n_feat = pre.window, len(pre.feature_names)
    g = _Graph()
    # (x - mean) * (1 / std), bit for bit what XLA makes of the JAX model's
    # (x - mean) / std with constant std: a GBDT split on a normalised value
    # flips with its last bit.
    mean = g.const(pre.mean, "mean")
    inv_std = g.const(np.float32(1.0) / np.asarray(pre.std, np.float32), "inv_std")
    xn = g("Mul", g("Sub", INPUT, mean), inv_std)
    p: str | None = None
    for m in model.components:
        term = _member_proba(g, m, xn, window)
        term = g("Mul", term, g.const(np.float32(m.weight), "weight"))
        p = term if p is None else g("Add", p, term)
    assert p is not None
    g.op("Identity", _calibrated(g, p, model.calibration), out=OUTPUT)()
    helper, tp = onnx.helper, onnx.TensorProto
    graph = helper.make_graph(
        g.nodes,
        "nasjax_p_up",
        [helper.make_tensor_value_info(INPUT, tp.FLOAT, ["n", window, n_feat])],
        [helper.make_tensor_value_info(OUTPUT, tp.FLOAT, ["n"])],
        initializer=g.initializers,
        doc_string=INPUT_DOC,
    )
    opsets = [helper.make_opsetid("", opset)]
    if any(n.domain == "ai.onnx.ml" for n in g.nodes):
        opsets.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    proto = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="nasjax",
        producer_version=_version(),
        doc_string="nasjax answer: P(up) of raw feature windows",
    )
    # The oldest IR version that holds these opsets: readable by older runtimes.
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    meta = {
        "nasjax.input": INPUT_DOC,
        "nasjax.members": json.dumps(
            [
                {"kind": m.kind, "weight": m.weight, "name": m.name}
                for m in model.components
            ]
        ),
        "nasjax.calibration": json.dumps(model.calibration.to_dict()),
        "nasjax.preprocess": json.dumps(pre.to_dict()),
        "nasjax.warmup_bars": str(model.warmup_bars),
    }
    helper.set_model_props(proto, meta)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def check_windows(model: Model, n: int = 64, seed: int = 0) -> np.ndarray:
    """``float32[n, window, n_features]`` test windows: the stored mean plus
    ``std`` times standard normal draws (the scale the model was trained on)."""
    pre = model.preprocess
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, pre.window, len(pre.feature_names)))
    return (pre.mean + pre.std * z).astype(np.float32)


def onnx_predict(
    path_or_proto: str | Path | onnx.ModelProto, windows: Any
) -> np.ndarray:
    """``float32[n]`` P(up) of raw feature windows, with onnxruntime (CPU).

    Raises:
        ImportError: Without onnxruntime (``nasjax[onnx]``).
    """
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ImportError(
            "running the ONNX model needs onnxruntime: pip install 'nasjax[onnx]'"
        ) from e
    if isinstance(path_or_proto, str | Path):
        source: Any = str(path_or_proto)
    else:
        source = path_or_proto.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    x = np.asarray(windows, np.float32)
    return np.asarray(session.run([OUTPUT], {INPUT: x})[0])


def check_onnx(model: Model, proto: onnx.ModelProto, n: int = 64) -> float:
    """The largest |P(up) ONNX - P(up) JAX| on ``n`` test windows.

    Runs ``proto`` with onnxruntime on :func:`check_windows` and compares with
    ``model.predict_windows(..., use_export=False)`` (the params).

    Raises:
        OnnxExportError: If it exceeds :data:`TOLERANCE`.
        ImportError: Without onnxruntime.
    """
    x = check_windows(model, n)
    got = onnx_predict(proto, x)
    want = model.predict_windows(x, use_export=False)
    diff = float(np.max(np.abs(got - want)))
    if not diff <= TOLERANCE:
        raise OnnxExportError(
            f"the ONNX graph's P(up) differs from the JAX model's by up to "
            f"{diff:.3g} (> {TOLERANCE}) on {len(x)} test windows"
        )
    return diff


def export_onnx(
    model: Model | str | Path,
    out_path: str | Path,
    *,
    opset: int = OPSET,
    check: bool = True,
) -> Path:
    """Write a model's inference as an ONNX file (:func:`to_onnx`).

    Args:
        model: A :class:`~nasjax.app.export.Model`, or the path of an exported
            folder (``best/`` or the run folder holding it).
        out_path: The ``.onnx`` file to write (its folder is created).
        opset: Opset of the default domain.
        check: Run the graph with onnxruntime on 64 windows and compare its
            P(up) with the JAX model's (:func:`check_onnx`) before writing.

    Returns:
        The written file.

    Raises:
        OnnxExportError: For an op or member without an ONNX conversion, or
            (``check``) when the ONNX and JAX P(up) differ by more than
            :data:`TOLERANCE`; nothing is written then.
        ImportError: Without ``onnx`` (or, with ``check``, ``onnxruntime``):
            ``pip install 'nasjax[onnx]'``.
    """
    return _export(model, out_path, opset, check)[0]


def _export(
    model: Model | str | Path, out_path: str | Path, opset: int, check: bool
) -> tuple[Path, float | None]:
    """:func:`export_onnx`, also returning the checked difference."""
    model = _as_model(model)
    proto = to_onnx(model, opset=opset)
    diff = None
    if check:
        diff = check_onnx(model, proto)
        logger.info("onnx: max |P(up) ONNX - JAX| = %.2g on 64 windows", diff)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(proto.SerializeToString())
    return out, diff


def main(argv: Sequence[str] | None = None) -> Path:
    """``python -m nasjax export-onnx MODEL OUT.onnx [--opset N] [--no-check]``."""
    parser = argparse.ArgumentParser(
        prog="nasjax export-onnx",
        description="Write an exported nasjax model (best/) as an ONNX file: "
        f"{INPUT_DOC}.",
    )
    parser.add_argument("model", help="the exported folder (RUN/best, or RUN)")
    parser.add_argument("out", help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=OPSET, help="default %(default)s")
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="skip the onnxruntime comparison with the JAX predictions",
    )
    args = parser.parse_args(argv)
    out, diff = _export(args.model, args.out, args.opset, not args.no_check)
    print(f"wrote {out}: {INPUT_DOC}")
    if diff is not None:
        print(f"checked with onnxruntime: max |P(up) ONNX - JAX| = {diff:.2g}")
    return out


if __name__ == "__main__":
    main()
