"""Keeping the host-side search state identical on every process.

nasjax's choice for multi-process search: **every process runs the same
searcher with the same keys on the same inputs**, so the search state
(archive, surrogate data, inherited params) is computed redundantly and is
identical everywhere, and only training is distributed. Nothing has to be
broadcast each round, and the searchers stay plain single-process code.
:func:`check_same_everywhere` verifies the premise cheaply each round (a
16-byte digest per process is all-gathered) and fails loudly when a process
diverged (e.g. a non-deterministic accelerator reduction); a driver may
then fall back to :func:`broadcast_from_main`, which makes process 0's state
everyone's. Only process 0 writes results, checkpoints metadata and plots.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from nasjax.distributed.mesh import allgather_host
from nasjax.serialize import RECORD_TYPES, array_specs, content_hash, decode, encode


class StateDivergedError(RuntimeError):
    """Processes that should hold identical host state do not."""


def fingerprint(tree: Any, records: Mapping[str, type] = RECORD_TYPES) -> str:
    """Hex digest of a host object: structure, scalars, strings and arrays.

    Accepts whatever :func:`nasjax.serialize.encode` accepts (search states,
    archives, proposals, ``Arch``, dicts, tuples, numpy / jax arrays, PRNG
    keys). Two objects have the same fingerprint iff they encode to the same
    skeleton and the same array bytes.
    """
    skeleton, arrays = encode(tree, records)
    text = json.dumps(skeleton, sort_keys=True)
    return content_hash([text, *(arrays[k] for k in sorted(arrays))])


def check_same_everywhere(
    tree: Any,
    what: str = "search state",
    records: Mapping[str, type] = RECORD_TYPES,
) -> str:
    """Assert ``tree`` is identical on every process; return its fingerprint.

    A collective with more than one process (every process must call it at
    the same point); with one process it only computes the fingerprint.

    Args:
        tree: Host object (see :func:`fingerprint`).
        what: Name used in the error message.
        records: Record types ``tree`` may contain.

    Returns:
        The fingerprint (hex).

    Raises:
        StateDivergedError: Naming the processes whose fingerprint differs
            from process 0's.
    """
    fp = fingerprint(tree, records)
    if jax.process_count() == 1:
        return fp
    digests = allgather_host(np.frombuffer(bytes.fromhex(fp), np.uint8))
    hexes = [bytes(d).hex() for d in digests]
    bad = [i for i, h in enumerate(hexes) if h != hexes[0]]
    if bad:
        raise StateDivergedError(
            f"{what} differs across processes: process(es) {bad} disagree with "
            f"process 0 (fingerprints {hexes}). Every process must run the same "
            "searcher with the same keys and inputs; use broadcast_from_main to "
            "resynchronise."
        )
    return fp


def _broadcast_bytes(buf: bytes) -> bytes:
    n = int(multihost_utils.broadcast_one_to_all(np.int32(len(buf))))
    if n == 0:
        return b""
    local = np.zeros(n, np.uint8)
    if jax.process_index() == 0:
        local[:] = np.frombuffer(buf, np.uint8)
    return np.asarray(multihost_utils.broadcast_one_to_all(local), np.uint8).tobytes()


def broadcast_from_main(tree: Any, records: Mapping[str, type] = RECORD_TYPES) -> Any:
    """Process 0's ``tree`` on every process (exact: bytes are broadcast).

    A collective with more than one process; with one process ``tree`` is
    returned as is. Other processes' values are ignored (their structure may
    differ from process 0's).

    Args:
        tree: Host object (see :func:`fingerprint`).
        records: Record types ``tree`` may contain.

    Returns:
        A decoded copy of process 0's object.
    """
    if jax.process_count() == 1:
        return tree
    skeleton, arrays = encode(tree, records)
    main = json.loads(_broadcast_bytes(json.dumps(skeleton).encode()))
    specs = array_specs(main)
    keys = sorted(specs)
    if jax.process_index() == 0:
        raw = b"".join(np.ascontiguousarray(arrays[k]).tobytes() for k in keys)
    else:
        raw = b""
    data = _broadcast_bytes(raw)
    out: dict[str, np.ndarray] = {}
    offset = 0
    for k in keys:
        spec = specs[k]
        size = spec.size * spec.dtype.itemsize
        chunk = np.frombuffer(data[offset : offset + size], spec.dtype)
        out[k] = chunk.reshape(spec.shape).copy()
        offset += size
    return decode(main, out, records)
