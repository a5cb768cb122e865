"""Canonical fingerprints of architectures (Weisfeiler-Lehman hashing).

Two archs get the same fingerprint when they compute the same labelled graph:
padding, inactive nodes, the order of parallel nodes and the op vocabulary's
ordering are ignored. Labels are op names and the hyper-parameters that change
the computation (width; kernel and dilation for convolutions).

This module sits below :mod:`nasjax.graph.arch` (``Arch.fingerprint`` calls
it), so it takes any :class:`ArchLike` rather than importing ``Arch``.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np

from nasjax.graph.spec import READOUTS, ArchSpec


class ArchLike(Protocol):
    """What fingerprinting reads of an arch: :class:`nasjax.graph.Arch` is one."""

    @property
    def spec(self) -> ArchSpec:
        """The bucket (its ``ops`` name the op ids)."""
        ...

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading population axes (``()`` for a single arch)."""
        ...

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Host copies of the array fields (``ops``, ``adj``, ``node_mask``,
        ``width``, ``kernel``, ``dilation``, ``readout``)."""
        ...


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def node_labels(arch: ArchLike) -> list[str]:
    """Initial WL label of each active node."""
    a = arch.to_numpy()
    n = int(a["node_mask"].sum())
    labels = [f"input:{a['width'][0]}"]
    for i in range(1, n):
        name = arch.spec.ops[int(a["ops"][i])]
        label = f"{name}:{a['width'][i]}"
        if name == "conv":
            label += f":k{a['kernel'][i]}:d{a['dilation'][i]}"
        labels.append(label)
    labels[-1] = "out|" + labels[-1]
    return labels


def fingerprint(arch: ArchLike) -> str:
    """SHA-256 hex digest of the WL-refined labelled DAG of a single arch."""
    if arch.batch_shape:
        raise ValueError(
            "fingerprint needs a single arch; unstack the population first"
        )
    a = arch.to_numpy()
    labels = node_labels(arch)
    n = len(labels)
    adj = a["adj"][:n, :n]
    for _ in range(n):
        labels = [
            _digest(
                labels[i]
                + "|p:"
                + ",".join(sorted(labels[j] for j in np.flatnonzero(adj[:, i])))
                + "|s:"
                + ",".join(sorted(labels[j] for j in np.flatnonzero(adj[i])))
            )
            for i in range(n)
        ]
    readout = READOUTS[int(a["readout"])]
    return _digest(f"{readout}|{n}|" + ",".join(sorted(labels)))[:32]
