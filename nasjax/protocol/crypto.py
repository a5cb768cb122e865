"""Ed25519 keys, signatures and canonical encodings (``cryptography`` package).

Keys are derived deterministically from the run seed and the node id
(SHA-256 of a domain tag, the seed and the id as the 32-byte private seed), so
a simulation and its ledger are reproducible bit for bit; Ed25519 signatures
are deterministic too. These are simulation keys: never reuse them for
anything of value.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

GENESIS: int = -1
"""Node id of the genesis (chain-spec) key."""


def canonical(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, ASCII, no NaN/inf."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def sha256_hex(*parts: bytes) -> str:
    """Hex SHA-256 of the concatenated parts."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.hexdigest()


def node_key(seed: int, node: int) -> Ed25519PrivateKey:
    """The deterministic private key of ``node`` (``GENESIS`` for the chain)."""
    material = hashlib.sha256(
        b"nasjax-protocol-key"
        + int(seed).to_bytes(8, "big", signed=True)
        + int(node).to_bytes(8, "big", signed=True)
    ).digest()
    return Ed25519PrivateKey.from_private_bytes(material)


def public_hex(key: Ed25519PrivateKey) -> str:
    """Hex of the raw 32-byte public key."""
    raw = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return raw.hex()


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """Hex Ed25519 signature of ``message``."""
    return key.sign(message).hex()


def verify(public: str, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (hex) signs ``message`` under ``public`` (hex).

    Only the lowercase hex that :func:`sign` writes is accepted: hex decoding
    ignores case, so an uppercased digit would otherwise pass as the same
    signature, and a ledger byte changed that way would go unnoticed.
    """
    if signature != signature.lower() or public != public.lower():
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
        key.verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


class Keyring:
    """Private keys of a simulation's nodes, derived on first use.

    Args:
        seed: Run seed.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._keys: dict[int, Ed25519PrivateKey] = {}
        self._public: dict[int, str] = {}

    def key(self, node: int) -> Ed25519PrivateKey:
        """Private key of ``node``."""
        node = int(node)
        if node not in self._keys:
            self._keys[node] = node_key(self.seed, node)
        return self._keys[node]

    def public(self, node: int) -> str:
        """Hex public key of ``node``."""
        node = int(node)
        if node not in self._public:
            self._public[node] = public_hex(self.key(node))
        return self._public[node]
