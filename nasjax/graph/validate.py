"""Host-side validation of architectures with clear error messages."""

from __future__ import annotations

import numpy as np

from nasjax.graph.arch import Arch, unstack
from nasjax.graph.spec import READOUTS


def validate(arch: Arch) -> Arch:
    """Check that ``arch`` (single or stacked) is a well-formed DAG of its bucket.

    Returns:
        ``arch`` unchanged, so it can be used inline.

    Raises:
        ValueError: Naming the problem and the nodes involved: a cycle or
            backward edge, an edge from/to an inactive node, a width over
            capacity, an unknown op id, a non-prefix node mask, a node with
            no input or no consumer, a bad kernel/dilation/readout, or arrays
            whose shapes do not match the spec.
    """
    if arch.batch_shape:
        if len(arch.batch_shape) != 1:
            raise ValueError(f"validate: unsupported batch shape {arch.batch_shape}")
        for i, member in enumerate(unstack(arch)):
            try:
                validate(member)
            except ValueError as err:
                raise ValueError(f"population member {i}: {err}") from None
        return arch
    spec = arch.spec
    n_max, w_max = spec.max_nodes, spec.max_width
    a = arch.to_numpy()
    expected = {
        "ops": (n_max,),
        "adj": (n_max, n_max),
        "node_mask": (n_max,),
        "width": (n_max,),
        "kernel": (n_max,),
        "dilation": (n_max,),
        "readout": (),
    }
    for name, shape in expected.items():
        if a[name].shape != shape:
            raise ValueError(
                f"field {name} has shape {a[name].shape}, expected {shape}"
            )
    mask = a["node_mask"].astype(bool)
    adj = a["adj"].astype(bool)
    n = int(mask.sum())
    if n < 2:
        raise ValueError(
            f"an arch needs the input node and at least one op node, got {n}"
        )
    if not mask[:n].all():
        raise ValueError(
            "active nodes must be a prefix 0..n-1; node_mask is "
            f"{mask.astype(int).tolist()}"
        )
    back = np.argwhere(np.tril(adj))
    if len(back):
        i, j = back[0]
        kind = "self-loop" if i == j else "backward edge"
        raise ValueError(
            f"cycle: {kind} {i} -> {j} (adjacency must be strictly upper-triangular)"
        )
    bad_edges = np.argwhere(adj & ~(mask[:, None] & mask[None, :]))
    if len(bad_edges):
        i, j = bad_edges[0]
        which = i if not mask[i] else j
        raise ValueError(f"edge {i} -> {j} touches inactive node {which}")
    width = a["width"]
    for i in range(n):
        if not 1 <= width[i] <= w_max:
            raise ValueError(
                f"node {i} width {width[i]} is outside [1, max_width={w_max}]"
            )
    for i in range(1, n):
        op = int(a["ops"][i])
        if not 0 <= op < spec.n_ops:
            raise ValueError(
                f"node {i} has unknown op id {op} (vocabulary has {spec.n_ops} ops)"
            )
        if spec.ops[op] == "conv":
            if not 1 <= a["kernel"][i] <= spec.max_kernel:
                raise ValueError(
                    f"node {i} conv kernel {a['kernel'][i]} outside "
                    f"[1, {spec.max_kernel}]"
                )
            if int(a["dilation"][i]) not in spec.dilations:
                raise ValueError(
                    f"node {i} conv dilation {a['dilation'][i]} not in {spec.dilations}"
                )
        if not adj[:, i].any():
            raise ValueError(f"node {i} has no input edge")
    for i in range(n - 1):
        if not adj[i].any():
            raise ValueError(f"node {i} feeds no other node (only the output node may)")
    if not 0 <= int(a["readout"]) < len(READOUTS):
        raise ValueError(f"readout {int(a['readout'])} outside [0, {len(READOUTS)})")
    return arch
