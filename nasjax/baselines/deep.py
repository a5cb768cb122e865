"""Hand-designed deep models as FIXED archs of the search space.

Sizes follow common crypto-forecasting papers (2-layer LSTMs of 32-128
units, small causal Transformer encoders of width 64, TCNs with kernel 3 and
dilations 1-2-4-8) while fitting a bucket of ``max_nodes >= 8``.
"""

from __future__ import annotations

from nasjax.graph.arch import Arch
from nasjax.graph.build import chain
from nasjax.graph.spec import ArchSpec


def _width(spec: ArchSpec, want: int) -> int:
    return min(want, spec.max_width)


def lstm(spec: ArchSpec, units: int = 64) -> Arch:
    """2-layer stacked LSTM (``units`` each), last-step readout."""
    w = _width(spec, units)
    return chain(spec, ["lstm", "lstm"], [w, w], readout="last")


def transformer(spec: ArchSpec, width: int = 64) -> Arch:
    """2-block post-LN causal Transformer encoder.

    Nodes: input, [attention, layernorm(x + attn), dense_gelu,
    layernorm(h + ffn)] x 2 minus the final layernorm (8 nodes): residual skips
    feed each layernorm with its block input. Positional encoding is built
    into the attention op. Readout: last step.
    """
    w = _width(spec, width)
    ops = [
        "attention",
        "layernorm",
        "dense_gelu",
        "layernorm",
        "attention",
        "layernorm",
        "dense_gelu",
    ]
    return chain(
        spec,
        ops,
        [w] * len(ops),
        readout="last",
        skips=((0, 2), (2, 4), (4, 6)),
    )


def tcn(spec: ArchSpec, width: int = 32, kernel: int = 3) -> Arch:
    """Temporal convolutional network: causal convs, dilations 1, 2, 4, 8,
    ``kernel`` taps, residual skips over each pair of layers, then a dense
    layer; last-step readout (receptive field 1 + 2 * (1+2+4+8) = 31 bars)."""
    w = _width(spec, width)
    k = min(kernel, spec.max_kernel)
    dil = [d for d in (1, 2, 4, 8) if d in spec.dilations]
    ops = ["conv"] * len(dil) + ["dense_gelu"]
    n = len(dil)
    skips = tuple((i, i + 2) for i in range(0, n - 1))
    return chain(
        spec,
        ops,
        [w] * len(ops),
        kernels=[k] * n + [1],
        dilations=[*dil, 1],
        readout="last",
        skips=skips,
    )


DEEP_ARCHS = {"lstm": lstm, "transformer": transformer, "tcn": tcn}
"""Constructors ``spec -> Arch`` of the deep baselines."""
