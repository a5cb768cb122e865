"""``Arch``: an architecture as a fixed-shape pytree of its bucket."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from nasjax.graph.spec import ArchSpec

_ARRAY_FIELDS = ("ops", "adj", "node_mask", "width", "kernel", "dilation", "readout")
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
        return {f: np.asarray(getattr(self, f)) for f in _ARRAY_FIELDS}

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
            payload = json.loads(text)
            spec = ArchSpec.from_dict(payload["spec"])
            arrays = {
                f: jnp.asarray(np.asarray(payload[f], dtype=_DTYPES.get(f, np.int32)))
                for f in _ARRAY_FIELDS
            }
        except (KeyError, TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"not a serialised nasjax Arch: {err}") from err
        return cls(spec=spec, **arrays)

    def fingerprint(self) -> str:
        """Canonical hash of the computed graph (:mod:`nasjax.graph.fingerprint`)."""
        from nasjax.graph.fingerprint import fingerprint

        return fingerprint(self)

    def summary(self) -> str:
        """One-line human description, e.g. ``input:16 -> lstm:32 -> ...``."""
        a = self.to_numpy()
        n = int(a["node_mask"].sum())
        parts = [f"0:input[{a['width'][0]}]"]
        for i in range(1, n):
            name = self.spec.ops[a["ops"][i]]
            extra = f",k{a['kernel'][i]}d{a['dilation'][i]}" if name == "conv" else ""
            preds = ",".join(str(j) for j in np.flatnonzero(a["adj"][:, i]))
            parts.append(f"{i}:{name}[{a['width'][i]}{extra}]<-({preds})")
        return " ".join(parts)
