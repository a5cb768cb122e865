"""A single concrete architecture as straight-line code (what a user hand-writes).

:func:`nasjax.nn.apply` serves every architecture of a bucket with one traced
program (a ``lax.scan`` over all ``N`` node slots, a ``lax.switch`` over the
op vocabulary at each). :func:`apply_static` reads a *concrete* architecture
on the host and traces only what it uses: its active nodes in order, the one
op each runs, and sums over its real edges. It computes the same function as
``apply`` with the same params (to float rounding), so trained params move
freely between the two. One compile per architecture: the right choice for a
fixed model (inference, a final refit), and the honest "one model per
architecture" baseline of ``benchmarks/bench_population_train.py``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.graph.arch import Arch
from nasjax.nn.model import check_input
from nasjax.nn.readout import read_out_static
from nasjax.ops.base import NodeConfig, channel_mask, run
from nasjax.ops.registry import ops_for
from nasjax.typing import Params


def _host_arch(arch: Arch) -> dict[str, np.ndarray]:
    try:
        return arch.to_numpy()
    except jax.errors.TracerArrayConversionError:
        raise ValueError(
            "apply_static needs a concrete arch (its structure is compiled in): "
            "close over it instead of passing it through jit, or use "
            "nasjax.nn.apply for a traced arch"
        ) from None


def embed_static(arch: Arch, params: Params, x: jax.Array) -> jax.Array:
    """:func:`nasjax.nn.embed` of a concrete ``arch``: ``float32[batch, W]``.

    Args:
        arch: A single architecture with concrete (host-readable) fields.
        params: Its params at bucket shapes (from :func:`nasjax.nn.init`).
        x: ``float32[batch, window, n_features]``.
    """
    check_input(arch, x, caller="apply_static")
    a = _host_arch(arch)
    spec = arch.spec
    w = spec.max_width
    ops = ops_for(spec)
    n_active = int(a["node_mask"].sum())
    gate = params["edge_gate"]
    h0 = run(nn.Dense(w), params["stem"], x.astype(jnp.float32))
    outs = [h0 * channel_mask(w, jnp.int32(a["width"][0]))]
    for i in range(1, n_active):
        preds = np.flatnonzero(a["adj"][:i, i])
        inp = sum((gate[j, i] * outs[j] for j in preds), start=jnp.zeros_like(outs[0]))
        op = ops[int(a["ops"][i])]
        cfg = NodeConfig(
            *(jnp.int32(a[field][i]) for field in ("width", "kernel", "dilation"))
        )
        node_params = jax.tree.map(lambda leaf, i=i: leaf[i], params["nodes"][op.name])
        y = op.apply(node_params, inp, cfg)
        outs.append(y * channel_mask(w, cfg.width))
    final = outs[-1] if n_active > 1 else jnp.zeros_like(outs[0])
    return read_out_static(int(a["readout"]), params["readout"], final)


def apply_static(arch: Arch, params: Params, x: jax.Array) -> jax.Array:
    """Logits of a concrete ``arch``, equal to :func:`nasjax.nn.apply`.

    Args:
        arch: A single architecture with concrete fields (not traced).
        params: Its params (bucket shapes).
        x: ``float32[batch, window, n_features]``.

    Returns:
        ``float32[batch, n_classes]``.

    Raises:
        ValueError: For a batched or traced ``arch`` or a badly shaped ``x``.
    """
    h = embed_static(arch, params, x)
    return run(nn.Dense(arch.spec.n_classes), params["head"], h)
