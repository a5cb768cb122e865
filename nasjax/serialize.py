"""Search states as JSON skeletons plus flat arrays, JSON values, content hashes.

A search state mixes arrays (archive archs, fitness, inherited params) with
Python structure (NamedTuples, tuples of fingerprints, dicts of result rows).
:func:`encode` splits such a tree into

* a JSON *skeleton* that keeps the structure, every scalar and string, the
  type of every container and of every array (numpy or jax, dtype, shape),
* a flat ``{"a0": np.ndarray, ...}`` dict of the non-empty arrays,

and :func:`decode` inverts it exactly (same container types, same array kinds,
dtypes and values). The checkpoints of a run (:mod:`nasjax.app.checkpoint`)
store the pair with orbax; the multi-process consistency check
(:mod:`nasjax.distributed.consistency`) compares it across processes.
:func:`to_jsonable` / :func:`json_default` turn configurations and results
into plain JSON, :func:`content_hash` identifies data.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.graph.arch import ARCH_FIELDS, Arch
from nasjax.graph.spec import ArchSpec
from nasjax.search.base import Archive, Proposal, SearchState

RECORD_TYPES: dict[str, type] = {
    "SearchState": SearchState,
    "Archive": Archive,
    "Proposal": Proposal,
}
"""NamedTuple / dataclass types :func:`encode` may meet, by name."""


def encode(
    tree: Any, records: Mapping[str, type] = RECORD_TYPES
) -> tuple[Any, dict[str, np.ndarray]]:
    """Split ``tree`` into a JSON skeleton and a flat dict of host arrays.

    Supported: None, bool, int, float (NaN and inf included), str, tuples,
    lists, dicts with str keys, numpy arrays and scalars, jax arrays
    (including typed PRNG keys), :class:`~nasjax.graph.Arch` (its static
    spec goes to the skeleton) and the NamedTuple / dataclass types of
    ``records``.

    Args:
        tree: The object to encode.
        records: Record types by name.

    Returns:
        ``(skeleton, arrays)``; ``arrays`` maps ``"a<i>"`` to a host copy of
        every non-empty array (empty ones live in the skeleton).

    Raises:
        TypeError: For an unsupported object (the message names its path).
    """
    arrays: dict[str, np.ndarray] = {}
    names = {cls: name for name, cls in records.items()}

    def array(x: Any, kind: str) -> dict[str, Any]:
        host = np.asarray(x)
        node: dict[str, Any] = {"t": "array", "kind": kind, "dtype": host.dtype.str}
        node["shape"] = list(host.shape)
        if host.size:
            key = f"a{len(arrays)}"
            arrays[key] = np.array(host, copy=True)
            node["key"] = key
        return node

    def enc(x: Any, path: str) -> Any:
        if x is None or isinstance(x, bool | int | float | str):
            return x
        if isinstance(x, np.generic):
            return {"t": "scalar", "dtype": x.dtype.str, "v": x.item()}
        if isinstance(x, np.ndarray):
            return array(x, "numpy")
        if isinstance(x, jax.Array):
            if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
                data = array(jax.random.key_data(x), "numpy")
                return {"t": "key", "impl": str(jax.random.key_impl(x)), "data": data}
            return array(x, "jax")
        if isinstance(x, Arch):
            fields = {f: enc(getattr(x, f), f"{path}.{f}") for f in ARCH_FIELDS}
            return {"t": "Arch", "spec": x.spec.to_dict(), "v": fields}
        if type(x) in names:
            items = (
                cast(Any, x)._asdict().items()
                if isinstance(x, tuple)
                else ((f.name, getattr(x, f.name)) for f in dataclasses.fields(x))
            )
            v = {k: enc(val, f"{path}.{k}") for k, val in items}
            return {"t": "record", "type": names[type(x)], "v": v}
        if isinstance(x, dict):
            bad = [k for k in x if not isinstance(k, str)]
            if bad:
                raise TypeError(f"{path}: dict keys must be str, got {bad[:3]}")
            return {
                "t": "dict",
                "v": {k: enc(v, f"{path}[{k!r}]") for k, v in x.items()},
            }
        if isinstance(x, tuple | list):
            t = "tuple" if isinstance(x, tuple) else "list"
            return {"t": t, "v": [enc(v, f"{path}[{i}]") for i, v in enumerate(x)]}
        raise TypeError(f"{path}: cannot checkpoint a {type(x).__name__}")

    return enc(tree, "state"), arrays


def array_specs(skeleton: Any) -> dict[str, np.ndarray]:
    """Restore targets: an empty array of the right shape/dtype per key."""
    out: dict[str, np.ndarray] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("t") == "array" and "key" in node:
                out[node["key"]] = np.empty(node["shape"], np.dtype(node["dtype"]))
                return
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(skeleton)
    return out


def decode(
    skeleton: Any,
    arrays: Mapping[str, np.ndarray],
    records: Mapping[str, type] = RECORD_TYPES,
) -> Any:
    """Inverse of :func:`encode`."""

    def array(node: dict[str, Any]) -> Any:
        dtype = np.dtype(node["dtype"])
        if "key" in node:
            host = np.asarray(arrays[node["key"]], dtype).reshape(node["shape"])
        else:
            host = np.empty(node["shape"], dtype)
        if node["kind"] == "numpy":
            return host
        # 64-bit arrays (made under ``jax.enable_x64``) keep their dtype.
        with jax.enable_x64(dtype.itemsize == 8):
            return jnp.asarray(host)

    def dec(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        t = node["t"]
        if t == "array":
            return array(node)
        if t == "scalar":
            return np.dtype(node["dtype"]).type(node["v"])
        if t == "key":
            return jax.random.wrap_key_data(
                jnp.asarray(array(node["data"])), impl=node["impl"]
            )
        if t == "Arch":
            fields = {k: dec(v) for k, v in node["v"].items()}
            return Arch(spec=ArchSpec.from_dict(node["spec"]), **fields)
        if t == "record":
            return records[node["type"]](**{k: dec(v) for k, v in node["v"].items()})
        if t == "dict":
            return {k: dec(v) for k, v in node["v"].items()}
        if t in ("tuple", "list"):
            items = [dec(v) for v in node["v"]]
            return tuple(items) if t == "tuple" else items
        raise ValueError(f"unknown checkpoint node type {t!r}")

    return dec(skeleton)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, mappings and sequences as plain JSON values (sorted keys)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
        }
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in sorted(obj.items())}
    if isinstance(obj, tuple | list):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return str(obj)


def json_default(x: Any) -> Any:
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays as
    Python values, anything else (paths, ...) as its ``str``.

    ``json`` calls it only for objects it cannot write itself (Python floats,
    NaN included, never reach it).
    """
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def content_hash(tree: Any) -> str:
    """Hex digest of the arrays and strings in ``tree`` (order matters).

    Hashes dtype, shape and bytes of every leaf without copying arrays.
    """
    h = hashlib.blake2b(digest_size=16)
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, str):
            h.update(b"s" + leaf.encode())
            continue
        a: np.ndarray = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data.cast("B"))
    return h.hexdigest()
