"""``Arch``: an architecture as a fixed-shape pytree of its bucket.

Also the population helpers :func:`stack` / :func:`unstack` and
:data:`ARCH_FIELDS`, the names of the array fields.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from nasjax import safe_json
from nasjax.graph.fingerprint import fingerprint as _fingerprint
from nasjax.graph.spec import READOUTS, ArchSpec

_DTYPES = {"adj": np.bool_, "node_mask": np.bool_}


@struct.dataclass
class Arch:
    """A DAG architecture padded to its bucket (``N = spec.max_nodes``).

    Active nodes are always a prefix ``0 .. n_active - 1`` in topological
    order; node 0 is the input projection and node ``n_active - 1`` the output.
    Every field may carry leading batch axes (a stacked population).

    Attributes:
        ops: ``int32[N]`` op id per node into ``spec.ops`` (ignored for node 0
            and for inactive nodes, which hold 0).
        adj: ``bool[N, N]`` edges ``i -> j``; strictly upper-triangular, so the
            graph is acyclic.
        node_mask: ``bool[N]`` active nodes (a prefix).
        width: ``int32[N]`` active channels per node, ``<= spec.max_width``;
            0 for inactive nodes.
        kernel: ``int32[N]`` causal-convolution taps (used by ``conv`` nodes).
        dilation: ``int32[N]`` causal-convolution dilation (``conv`` nodes).
        readout: ``int32[]`` index into :data:`~nasjax.graph.spec.READOUTS`.
        spec: The static bucket description (not a leaf).
    """

    ops: jax.Array
    adj: jax.Array
    node_mask: jax.Array
    width: jax.Array
    kernel: jax.Array
    dilation: jax.Array
    readout: jax.Array
    spec: ArchSpec = struct.field(pytree_node=False)

    def replace(self, **changes: Any) -> Arch:
        """A copy with ``changes`` applied (out of place)."""
        return dataclasses.replace(self, **changes)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading population axes (``()`` for a single arch)."""
        return tuple(self.node_mask.shape[:-1])

    @property
    def n_active(self) -> jax.Array:
        """Number of active nodes, ``int32[*batch]``."""
        return jnp.sum(self.node_mask, axis=-1, dtype=jnp.int32)

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Host copies of every array field."""
        return {f: np.asarray(getattr(self, f)) for f in ARCH_FIELDS}

    def to_json(self) -> str:
        """Serialise a single arch (no batch axes) to a JSON string."""
        if self.batch_shape:
            raise ValueError(
                f"to_json needs a single arch, got batch shape {self.batch_shape}; "
                "use nasjax.graph.unstack first"
            )
        payload = {"spec": self.spec.to_dict()}
        for name, value in self.to_numpy().items():
            payload[name] = value.astype(int).tolist()
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Arch:
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: If the text is not a serialised arch.
        """
        try:
            payload = safe_json.loads(text)
            spec = ArchSpec.from_dict(payload["spec"])
            arrays = {
                f: jnp.asarray(np.asarray(payload[f], dtype=_DTYPES.get(f, np.int32)))
                for f in ARCH_FIELDS
            }
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"not a serialised nasjax Arch: {err}") from err
        return cls(spec=spec, **arrays)

    def fingerprint(self) -> str:
        """Canonical hash of the computed graph (:mod:`nasjax.graph.fingerprint`)."""
        return _fingerprint(self)

    def summary(self) -> str:
        """One-line human description of the nodes and the readout, e.g.
        ``0:input[16] 1:lstm[32]<-(0) | last``."""
        a = self.to_numpy()
        n = int(a["node_mask"].sum())
        parts = [f"0:input[{a['width'][0]}]"]
        for i in range(1, n):
            name = self.spec.ops[a["ops"][i]]
            extra = f",k{a['kernel'][i]}d{a['dilation'][i]}" if name == "conv" else ""
            preds = ",".join(str(j) for j in np.flatnonzero(a["adj"][:, i]))
            parts.append(f"{i}:{name}[{a['width'][i]}{extra}]<-({preds})")
        return " ".join(parts) + f" | {READOUTS[int(a['readout'])]}"


ARCH_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Arch) if f.metadata.get("pytree_node", True)
)
"""Names of the array fields (pytree leaves) of :class:`Arch`, in declaration
order: ``("ops", "adj", "node_mask", "width", "kernel", "dilation",
"readout")``; ``spec`` (static) is not one."""


def stack(archs: Sequence[Arch]) -> Arch:
    """Stack single archs of one bucket into a population (leading axis P).

    Raises:
        ValueError: If the list is empty or the specs differ.
    """
    if not archs:
        raise ValueError("stack: empty list of archs")
    specs = {a.spec for a in archs}
    if len(specs) != 1:
        raise ValueError(
            "stack: archs come from different buckets; pad them to one spec with "
            "nasjax.graph.pad_to first"
        )
    return jax.tree.map(lambda *xs: jnp.stack(xs), *archs)


def unstack(population: Arch) -> list[Arch]:
    """Inverse of :func:`stack`: a list of single archs."""
    if len(population.batch_shape) != 1:
        raise ValueError(
            f"unstack: expected one batch axis, got {population.batch_shape}"
        )
    n = population.batch_shape[0]
    return [jax.tree.map(lambda x, i=i: x[i], population) for i in range(n)]
