"""What a node process evaluates: real nasjax training, or a cheap stand-in.

A node (:mod:`nasjax.protocol.node`) proposes architectures and scores the
proposals it is seated on through one of two evaluators with the same three
methods:

* ``genesis() -> (arch_json, fingerprint)``: the registry's model 0;
* ``propose(beacon, parent_json, seen) -> (arch_json, fingerprint, score)``:
  a morph child of the task's best model, trained on the node's **own data
  shard** (the same synthetic process as the standard data, drawn with the
  seed ``cfg.seed + 1 + index``), scored on its public walk-forward folds;
* ``score(beacon, arch_json) -> float``: a validator's score on the
  **standardised** data (seed ``cfg.seed``) with the validation blocks
  subsampled by the chain's beacon (:meth:`RealEvaluator.stacked_folds`), so
  honest validators agree bit for bit.

:class:`RealNodeEvaluator` trains with :mod:`nasjax.protocol.real` (one
architecture per ``train_population`` call, one compile per process, kept in
JAX's persistent compilation cache when the run sets one).
:class:`HashNodeEvaluator` replaces training with a hash of the
fingerprint, for measuring the chain's own throughput.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from typing import Any

import numpy as np

from nasjax.protocol.config import ProtocolConfig
from nasjax.protocol.sortition import beacon_from_hash


def beacon_words(beacon: bytes) -> np.ndarray:
    """``uint32[2]`` beacon data of the contract's 32-byte beacon."""
    return beacon_from_hash(beacon)


class RealNodeEvaluator:
    """Real nasjax evaluations (train + walk-forward CV) for one node.

    Args:
        cfg: The protocol configuration (``cfg.real`` sets data and training).
        index: The node's index (picks its own data shard).
    """

    def __init__(self, cfg: ProtocolConfig, index: int) -> None:
        from nasjax.protocol.real import make_real_evaluator

        self.cfg = cfg
        self.index = index
        self.std = dataclasses.replace(make_real_evaluator(cfg), population=1)
        self._own: Any = None

    @property
    def own(self) -> Any:
        """The node's own shard (loaded when it first proposes)."""
        if self._own is None:
            from nasjax.protocol.real import make_real_evaluator

            shard = dataclasses.replace(self.cfg, seed=self.cfg.seed + 1 + self.index)
            self._own = dataclasses.replace(make_real_evaluator(shard), population=1)
        return self._own

    def genesis(self) -> tuple[str, str]:
        """The genesis model (``RealEvaluator.genesis``)."""
        g = self.std.genesis()
        return g.arch.to_json(), g.fingerprint

    def propose(
        self, beacon: bytes, parent_json: str, seen: set[str]
    ) -> tuple[str, str, float] | None:
        """A morph child of the parent and its score on the own shard."""
        import jax

        from nasjax.graph import Arch
        from nasjax.protocol.real import candidates
        from nasjax.protocol.types import HONEST

        words = beacon_words(beacon)
        key = jax.random.fold_in(jax.random.key(int(words[0])), self.index)
        parent = Arch.from_json(parent_json)
        found = candidates(self.own, key, parent, HONEST, seen)
        if not found:
            return None
        c = found[0]
        public, _, _ = self.own.evaluate(words, [c.arch])
        score = float(np.nan_to_num(public[0], nan=0.0))
        return c.arch.to_json(), c.fingerprint, score

    def score(self, beacon: bytes, arch_json: str) -> float:
        """The validator's score on the standard data's chain-drawn folds."""
        from nasjax.graph import Arch

        _, chain, _ = self.std.evaluate(
            beacon_words(beacon), [Arch.from_json(arch_json)]
        )
        return float(np.nan_to_num(chain[0], nan=0.0))

    @staticmethod
    def fingerprint(arch_json: str) -> str:
        """The canonical hash of a published architecture."""
        from nasjax.graph import Arch

        return Arch.from_json(arch_json).fingerprint()


def _unit(*parts: Any) -> float:
    digest = hashlib.sha256(json.dumps(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class HashNodeEvaluator:
    """No training: a proposal's quality is a hash of its fingerprint.

    Validators agree exactly (the score depends on the fingerprint alone);
    a proposer knows its quality up to ``noise``. For chain throughput runs.
    """

    def __init__(
        self, cfg: ProtocolConfig, index: int, noise: float = 0.01, delay: float = 0.0
    ) -> None:
        self.index = index
        self.delay = delay
        self.noise = noise
        self.base = cfg.surrogate.initial_score

    def genesis(self) -> tuple[str, str]:
        """A named stand-in for model 0."""
        return json.dumps({"hash_model": "genesis"}), "genesis"

    def _quality(self, fingerprint: str) -> float:
        return self.base + 0.1 * _unit("q", fingerprint)

    def propose(
        self, beacon: bytes, parent_json: str, seen: set[str]
    ) -> tuple[str, str, float]:
        """A fresh stand-in model; its quality +- noise."""
        fingerprint = hashlib.sha256(beacon + bytes([self.index])).hexdigest()
        own = self._quality(fingerprint) + self.noise * (2 * _unit(fingerprint) - 1)
        return json.dumps({"hash_model": fingerprint}), fingerprint, own

    def score(self, beacon: bytes, arch_json: str) -> float:
        """The stand-in's quality (after ``delay`` seconds, as if training)."""
        time.sleep(self.delay)
        return self._quality(self.fingerprint(arch_json))

    @staticmethod
    def fingerprint(arch_json: str) -> str:
        """The stand-in's name."""
        return str(json.loads(arch_json)["hash_model"])


def make_evaluator(
    name: str, cfg: ProtocolConfig, index: int, delay: float = 0.0
) -> Any:
    """``"real"`` -> :class:`RealNodeEvaluator`, ``"hash"`` -> the stand-in
    (each score taking ``delay`` seconds)."""
    if name == "real":
        return RealNodeEvaluator(cfg, index)
    if name == "hash":
        return HashNodeEvaluator(cfg, index, delay=delay)
    raise ValueError(f"node evaluator must be 'real' or 'hash', got {name!r}")


__all__ = [
    "HashNodeEvaluator",
    "RealNodeEvaluator",
    "beacon_words",
    "make_evaluator",
]
