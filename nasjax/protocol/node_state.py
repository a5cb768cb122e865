"""A protocol node's local state on disk: written atomically, checked on load.

A node (:mod:`nasjax.protocol.node`) keeps in its own folder

* ``key.hex``: its private key (mode 0600, written once), and
* ``state.json``: what the chain cannot tell it after a crash: the salts,
  claims and architectures of its committed proposals, the salts and votes
  of its committed votes, and the last protocol block it processed.

Every write goes to a temporary file in the same folder, is flushed and
``fsync``'d, and replaces ``state.json`` with ``os.replace`` (then the
folder is ``fsync``'d), so ``kill -9`` at any instant leaves either the old
or the new state, never a torn one. The file carries the SHA-256 of its
body; a file that does not match (edited, truncated by hand) is refused with
:class:`StateError` naming it rather than half-read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

STATE = "state.json"
KEY = "key.hex"
VERSION = 1


class StateError(RuntimeError):
    """A node's state file is corrupt, tampered with or of another node."""


def _digest(body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def new_state(index: int, address: str, contract: str) -> dict[str, Any]:
    """The state of a node that has not acted yet."""
    return {
        "version": VERSION,
        "index": index,
        "address": address,
        "contract": contract,
        "last_block": -1,
        "proposals": {},  # commitment hex -> {task, claimed, salt, secret, ...}
        "votes": {},  # pid -> {accept, score, salt, round}
        "starts": 0,
        "dropped": [],  # commitments whose reveal window passed
    }


def save_state(folder: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (a JSON-ready dict) atomically with its checksum."""
    doc = {"sha256": _digest(state), "state": state}
    atomic_write(Path(folder) / STATE, json.dumps(doc, sort_keys=True, indent=1))


def load_state(
    folder: Path, address: str | None = None, contract: str | None = None
) -> dict[str, Any] | None:
    """The saved state, or ``None`` if the node never saved one.

    Leftover temporary files of an interrupted write are removed.

    Args:
        folder: The node's folder.
        address: Require this node address (case-insensitive).
        contract: Require this contract address.

    Raises:
        StateError: If the file is not JSON, its checksum fails, its version
            is unknown, or it belongs to another node or contract.
    """
    folder = Path(folder)
    for tmp in folder.glob(f".{STATE}.*.tmp"):
        tmp.unlink(missing_ok=True)
    path = folder / STATE
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        state, digest = doc["state"], doc["sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise StateError(f"{path}: not a node state file ({err})") from None
    if _digest(state) != digest:
        raise StateError(f"{path}: checksum mismatch (edited or corrupt)")
    if state.get("version") != VERSION:
        raise StateError(f"{path}: unknown version {state.get('version')!r}")
    for name, want in (("address", address), ("contract", contract)):
        if want is not None and str(state[name]).lower() != want.lower():
            raise StateError(f"{path}: {name} {state[name]} != {want}")
    return state


def save_key(folder: Path, key: bytes) -> None:
    """Store the node's private key (mode 0600); refuses to overwrite another."""
    path = Path(folder) / KEY
    if path.exists():
        if load_key(folder) != key:
            raise StateError(f"{path}: holds another key")
        return
    atomic_write(path, key.hex() + "\n", mode=0o600)


def load_key(folder: Path) -> bytes:
    """The node's private key.

    Raises:
        StateError: If the key file is missing or malformed.
    """
    path = Path(folder) / KEY
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as err:
        raise StateError(f"{path}: no usable key ({err})") from None
    if len(key) != 32:
        raise StateError(f"{path}: key of {len(key)} bytes, want 32")
    return key


__all__ = [
    "StateError",
    "atomic_write",
    "load_key",
    "load_state",
    "new_state",
    "save_key",
    "save_state",
]
