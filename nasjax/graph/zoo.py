"""Named architectures a person would try first, expressed in the search space.

Each constructor is ``spec -> Arch``: the model adapted to the bucket
``spec`` (its node and width capacity, op vocabulary, kernel capacity and
dilations). When a bucket cannot express it (an op missing, too few nodes)
the constructor raises :class:`Unexpressible` with the reason; the search
then skips that seed (:func:`nasjax.search.seed_archs`).

* ``linear``: stem + ``identity`` + last-step readout: a logistic regression
  on the last step's features (its ``max_width``-channel projection).
* ``linear_window``: the same with the ``window`` readout: a logistic
  regression on every step of the window (:mod:`nasjax.nn.readout`).
* ``fcn``: the fully convolutional network of time-series classification
  (Wang, Yan & Oates 2017: three convolutions of 8, 5 and 3 taps, each
  normalised, then global average pooling), with layer norm for batch norm
  and kernels capped at the bucket's ``max_kernel``.
* ``lstm``, ``transformer``, ``tcn``: the hand-designed deep baselines
  (:mod:`nasjax.baselines.deep` re-exports them), sized after common
  crypto-forecasting papers (2-layer LSTMs of 32-128 units, small causal
  Transformer encoders of width 64, TCNs with kernel 3 and dilations
  1-2-4-8). In a bucket of ``max_nodes >= 8`` with every op they are exactly
  those models; smaller buckets get fewer layers, blocks or dilation levels,
  and widths are capped at ``max_width``.

Widths are multiples of ``spec.width_step`` (what random sampling, morphs and
TPE draw), so every seed is a point of the searched space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nasjax.graph.arch import Arch
from nasjax.graph.build import chain
from nasjax.graph.spec import ArchSpec


class Unexpressible(ValueError):
    """A bucket cannot express a named architecture (the message says why)."""


def _width(spec: ArchSpec, want: int) -> int:
    """``want`` capped at ``max_width``, rounded down to a ``width_step`` multiple."""
    step = spec.width_step
    return max(step, min(want, spec.max_width) // step * step)


def _need_ops(spec: ArchSpec, name: str, ops: Sequence[str]) -> None:
    missing = [o for o in ops if o not in spec.ops]
    if missing:
        raise Unexpressible(f"{name} needs ops {missing}, not in the bucket's ops")


def _need_nodes(spec: ArchSpec, name: str, n: int) -> None:
    if spec.max_nodes < n:
        raise Unexpressible(
            f"{name} needs at least {n} nodes, the bucket has max_nodes="
            f"{spec.max_nodes}"
        )


def linear(spec: ArchSpec) -> Arch:
    """Logistic regression on the last step: stem -> ``identity`` -> last.

    The stem projects the features to ``max_width`` channels; the head reads
    the last step. Both are linear, so the logits are a linear function of
    the last step's features.
    """
    _need_ops(spec, "linear", ["identity"])
    w = _width(spec, spec.max_width)
    return chain(spec, ["identity"], [w], readout="last")


def linear_window(spec: ArchSpec) -> Arch:
    """Logistic regression on the whole window: stem -> ``identity`` -> window.

    The ``window`` readout weights every step per channel before the head:
    with two classes the logits are any linear function of the ``T x W``
    projected features (see :mod:`nasjax.nn.readout`).
    """
    _need_ops(spec, "linear_window", ["identity"])
    w = _width(spec, spec.max_width)
    return chain(spec, ["identity"], [w], readout="window")


def lstm(spec: ArchSpec, units: int = 64) -> Arch:
    """Stacked LSTM (``units`` each, 2 layers where 3 nodes fit), last-step
    readout."""
    _need_ops(spec, "lstm", ["lstm"])
    w = _width(spec, units)
    layers = min(2, spec.max_nodes - 1)
    return chain(spec, ["lstm"] * layers, [w] * layers, readout="last")


def transformer(spec: ArchSpec, width: int = 64) -> Arch:
    """Post-LN causal Transformer encoder (2 blocks where 8 nodes fit).

    Nodes: input, [attention, layernorm(x + attn), dense_gelu,
    layernorm(h + ffn)] x blocks minus the final layernorm (``4 * blocks``
    nodes): residual skips feed each layernorm with its block input.
    Positional encoding is built into the attention op. Readout: last step.
    """
    _need_ops(spec, "transformer", ["attention", "layernorm", "dense_gelu"])
    _need_nodes(spec, "transformer", 4)
    w = _width(spec, width)
    blocks = min(2, spec.max_nodes // 4)
    ops = ["attention", "layernorm", "dense_gelu", "layernorm"] * blocks
    ops = ops[:-1]
    return chain(
        spec,
        ops,
        [w] * len(ops),
        readout="last",
        skips=tuple((i, i + 2) for i in range(0, len(ops) - 1, 2)),
    )


def tcn(spec: ArchSpec, width: int = 32, kernel: int = 3) -> Arch:
    """Temporal convolutional network with a dense top, last-step readout.

    Causal convs with ``kernel`` taps (capped at ``max_kernel``) and
    dilations 1, 2, 4, 8 (those the bucket allows, as many as fit before
    the dense node), residual skips over each pair of layers. With all four
    the receptive field is ``1 + 2 * (1+2+4+8) = 31`` bars.
    """
    _need_ops(spec, "tcn", ["conv", "dense_gelu"])
    _need_nodes(spec, "tcn", 3)
    w = _width(spec, width)
    k = min(kernel, spec.max_kernel)
    dil = [d for d in (1, 2, 4, 8) if d in spec.dilations] or [min(spec.dilations)]
    dil = dil[: spec.max_nodes - 2]
    n = len(dil)
    return chain(
        spec,
        ["conv"] * n + ["dense_gelu"],
        [w] * (n + 1),
        kernels=[k] * n + [1],
        dilations=[*dil, 1],
        readout="last",
        skips=tuple((i, i + 2) for i in range(0, n - 1)),
    )


def fcn(spec: ArchSpec, width: int = 128) -> Arch:
    """Fully convolutional network with global average pooling (the ``mean``
    readout): [conv, layernorm] x 3 with 8, 5 and 3 taps (capped at
    ``max_kernel``; as many blocks as fit), widths ``width`` capped at
    ``max_width``. Each conv applies GELU, so a block is conv -> GELU ->
    layer norm (the original: conv -> batch norm -> ReLU)."""
    _need_ops(spec, "fcn", ["conv", "layernorm"])
    _need_nodes(spec, "fcn", 3)
    w = _width(spec, width)
    taps = [min(k, spec.max_kernel) for k in (8, 5, 3)][: (spec.max_nodes - 1) // 2]
    ops = ["conv", "layernorm"] * len(taps)
    return chain(
        spec,
        ops,
        [w] * len(ops),
        kernels=[k for k in taps for _ in range(2)],
        dilations=[min(spec.dilations)] * len(ops),
        readout="mean",
    )


ZOO: dict[str, Callable[[ArchSpec], Arch]] = {
    "linear": linear,
    "linear_window": linear_window,
    "fcn": fcn,
    "lstm": lstm,
    "transformer": transformer,
    "tcn": tcn,
}
"""Every named constructor ``spec -> Arch``, in seeding order."""

SEED_NAMES: tuple[str, ...] = tuple(ZOO)
"""Names of :data:`ZOO`: the default seeds of a search."""
