"""Crash-safe checkpoints of a whole search with orbax.

A search state mixes arrays (archive archs, fitness, inherited params) with
Python structure (NamedTuples, tuples of fingerprints, dicts of result rows).
:func:`encode` splits such a tree into

* a JSON *skeleton* that keeps the structure, every scalar and string, the
  type of every container and of every array (numpy or jax, dtype, shape),
* a flat ``{"a0": np.ndarray, ...}`` dict of the non-empty arrays,

and :func:`decode` inverts it exactly (same container types, same array kinds,
dtypes and values). :class:`SearchCheckpointer` stores the pair as one orbax
step: the arrays with ``StandardSave`` (OCDBT) and the skeleton with
``JsonSave``, under a :class:`orbax.checkpoint.CheckpointManager` that writes
to a temporary folder and renames it on commit, so a process killed with
``kill -9`` leaves either a complete step or an uncommitted temporary folder
(ignored and cleaned up on the next start).

Orbax logs several INFO lines per save through the ``absl`` logger; unless
that logger's level was set explicitly, opening a checkpointer sets it to
WARNING so that runs logging at INFO are not flooded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from nasjax.graph.arch import Arch
from nasjax.graph.spec import ArchSpec
from nasjax.search.base import Archive, Proposal, SearchState

FORMAT_VERSION = 2
"""Version of the checkpoint payload layout."""

RECORD_TYPES: dict[str, type] = {
    "SearchState": SearchState,
    "Archive": Archive,
    "Proposal": Proposal,
}
"""NamedTuple / dataclass types :func:`encode` may meet, by name."""

_ARCH_FIELDS = ("ops", "adj", "node_mask", "width", "kernel", "dilation", "readout")


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    """Checkpoint options of a search run.

    Attributes:
        enabled: Save the whole search state every round into
            ``out_dir/checkpoints`` and resume from it when present.
        max_to_keep: Committed checkpoints kept (older ones are deleted).
        force_new: Discard an existing checkpoint (even one of another
            configuration) and start afresh.
        async_save: Write checkpoints in a background thread while the next
            round trains.
    """

    enabled: bool = True
    max_to_keep: int = 2
    force_new: bool = False
    async_save: bool = True

    def __post_init__(self) -> None:
        if self.max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {self.max_to_keep}")


class CheckpointMismatchError(ValueError):
    """The folder holds a checkpoint of a different configuration or data."""


# --------------------------------------------------------------------------
# Tree <-> (JSON skeleton, arrays)


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
            fields = {f: enc(getattr(x, f), f"{path}.{f}") for f in _ARCH_FIELDS}
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


# --------------------------------------------------------------------------
# Configurations and data identity


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


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else k))
    return out


MISSING = "<absent>"
"""Value :func:`config_diff` reports for a key one side lacks."""


def config_diff(
    saved: Mapping[str, Any], current: Mapping[str, Any], ignore: Sequence[str] = ()
) -> list[tuple[str, Any, Any]]:
    """Dotted keys whose values differ, as ``(key, saved, current)``.

    Args:
        saved: JSON config of the checkpoint (:func:`to_jsonable`).
        current: JSON config of this run.
        ignore: Keys (or prefixes of dotted keys) not compared.

    Returns:
        Sorted by key; a side lacking a key reports :data:`MISSING`.
    """
    a, b = _flatten(dict(saved)), _flatten(dict(current))

    def ignored(key: str) -> bool:
        return any(key == s or key.startswith(s + ".") for s in ignore)

    keys = sorted(k for k in set(a) | set(b) if not ignored(k))
    return [
        (k, a.get(k, MISSING), b.get(k, MISSING))
        for k in keys
        if k not in a or k not in b or a[k] != b[k]
    ]


def mismatch_message(
    directory: Path, diff: Sequence[tuple[str, Any, Any]], hint: str
) -> str:
    """A readable refusal naming every differing key."""
    lines = [f"{directory} holds a checkpoint of a different run:"]
    for key, old, new in diff:
        lines.append(f"  {key}: checkpoint {json.dumps(old)}, now {json.dumps(new)}")
    lines.append(hint)
    return "\n".join(lines)


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


# --------------------------------------------------------------------------
# Orbax storage


def committed_steps(directory: str | Path) -> list[int]:
    """Committed checkpoint steps in ``directory`` (empty if none or absent)."""
    path = Path(directory)
    if not path.is_dir():
        return []
    return sorted(ocp.utils.checkpoint_steps(path))


def _quiet_absl() -> None:
    absl = logging.getLogger("absl")
    if absl.level == logging.NOTSET:
        absl.setLevel(logging.WARNING)


class SearchCheckpointer:
    """Orbax storage of encoded search payloads, one step per round.

    Use as a context manager (``close`` waits for a pending async save)::

        with SearchCheckpointer(out / "checkpoints", cfg) as ckpt:
            payload = ckpt.restore()            # None when there is none
            ...
            ckpt.save(step, payload)            # async when cfg.async_save

    Args:
        directory: Checkpoint folder (created).
        cfg: Options (``max_to_keep``, ``async_save``; ``force_new`` deletes
            the folder first).
        records: Record types the payloads may contain.
    """

    ITEMS = ("arrays", "meta")

    def __init__(
        self,
        directory: str | Path,
        cfg: CheckpointConfig | None = None,
        records: Mapping[str, type] = RECORD_TYPES,
    ) -> None:
        cfg = CheckpointConfig() if cfg is None else cfg
        self.directory = Path(directory).absolute()
        self.records = records
        if cfg.force_new:
            _remove_once(self.directory)
        _quiet_absl()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=cfg.max_to_keep,
            create=True,
            enable_async_checkpointing=cfg.async_save,
            cleanup_tmp_directories=True,
        )
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=options,
            item_handlers={
                "arrays": ocp.StandardCheckpointHandler(),
                "meta": ocp.JsonCheckpointHandler(),
            },
        )

    def __enter__(self) -> SearchCheckpointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def latest_step(self) -> int | None:
        """The newest committed step, or None."""
        return self._manager.latest_step()

    def save(
        self, step: int, payload: Any, info: Mapping[str, Any] | None = None
    ) -> None:
        """Encode ``payload`` and save it as ``step``.

        Returns before the write finishes when saving asynchronously (the
        payload is copied first, so the caller may go on mutating its own
        objects).

        Args:
            step: Step number (increasing).
            payload: Any tree :func:`encode` accepts.
            info: Plain JSON stored beside it, readable without the arrays
                (:meth:`restore_info`), e.g. the run configuration.
        """
        skeleton, arrays = encode(payload, self.records)
        meta = {
            "format": FORMAT_VERSION,
            "info": json.loads(json.dumps(dict(info or {}))),
            "skeleton": skeleton,
        }
        self._manager.save(
            step,
            args=ocp.args.Composite(
                arrays=ocp.args.StandardSave(arrays),
                meta=ocp.args.JsonSave(meta),
            ),
        )

    def _meta(self, step: int) -> dict[str, Any]:
        meta = self._manager.restore(
            step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
        )["meta"]
        if meta.get("format") != FORMAT_VERSION:
            raise CheckpointMismatchError(
                f"{self.directory}: checkpoint format {meta.get('format')}, "
                f"this nasjax reads format {FORMAT_VERSION}"
            )
        return meta

    def restore_info(self, step: int | None = None) -> dict[str, Any] | None:
        """The ``info`` saved with ``step`` (default latest), or None."""
        step = self.latest_step() if step is None else step
        return None if step is None else self._meta(step)["info"]

    def restore(self, step: int | None = None) -> Any:
        """The payload of ``step`` (default latest), or None if none exists."""
        step = self.latest_step() if step is None else step
        if step is None:
            return None
        skeleton = self._meta(step)["skeleton"]
        specs = array_specs(skeleton)
        arrays: Mapping[str, np.ndarray] = {}
        if specs:
            arrays = self._manager.restore(
                step,
                args=ocp.args.Composite(arrays=ocp.args.StandardRestore(specs)),
            )["arrays"]
        return decode(skeleton, arrays, self.records)

    def wait(self) -> None:
        """Block until a pending asynchronous save is committed."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Wait for pending saves and release the manager."""
        self._manager.wait_until_finished()
        self._manager.close()


def _remove_once(directory: Path) -> None:
    """Delete ``directory`` (process 0 only), then wait for every process."""
    if jax.process_index() == 0 and directory.exists():
        shutil.rmtree(directory)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"nasjax: removed {directory}")
