"""The members of an exported answer: archs and linear models, weighted.

An exported model (:mod:`nasjax.app.export`) is a weighted average of
members' P(up), followed by a calibration map of the log-odds
(:class:`~nasjax.evaluate.calibrate.Calibration`). A single arch is the
one-member case. Every member is stored portably: an arch as ``arch.json``
plus its params (orbax, arrays only), a linear model as its coefficient
arrays in ``ensemble.json``, boosted trees as node arrays
(:class:`~nasjax.baselines.trees.TreeModel`, an ``.npz`` read without
pickle); nothing is pickled.

Folder of an ensemble (beside the files every export has)::

    ensemble.json       {"members": [{"kind": "arch", "weight", "path"} |
                                     {"kind": "linear", "weight", "coef",
                                      "intercept"} |
                                     {"kind": "trees", "weight", "path"}, ...]}
    members/<i>/arch.json, members/<i>/params/   arch member i
    members/<i>/trees.npz                        trees member i
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax import safe_json
from nasjax.baselines.trees import TreeModel
from nasjax.data.normalize import normalize
from nasjax.evaluate.calibrate import Calibration
from nasjax.graph.arch import Arch
from nasjax.nn.model import apply
from nasjax.typing import Params

ENSEMBLE_FILE = "ensemble.json"
CALIBRATION_FILE = "calibration.json"
MEMBERS_DIR = "members"
KINDS: tuple[str, ...] = ("arch", "linear", "trees")
TREES_FILE = "trees.npz"
_CLIP = 1e-7


@dataclasses.dataclass(frozen=True, eq=False)
class Member:
    """One weighted member of an answer.

    Attributes:
        weight: Its weight in the average of P(up) (weights sum to 1).
        arch: The architecture (``kind == "arch"``).
        params: Its trained params (``kind == "arch"``).
        coef: ``float[lags + 1, F]`` coefficients of a linear member on the
            normalised features of bars ``t, t - 1, ...`` (``kind ==
            "linear"``).
        intercept: The linear member's offset.
        trees: Boosted trees (``kind == "trees"``).
        name: A label (e.g. the arch's fingerprint or ``"logistic"``).
    """

    weight: float
    arch: Arch | None = None
    params: Params | None = None
    coef: np.ndarray | None = None
    intercept: float = 0.0
    trees: TreeModel | None = None
    name: str = ""

    def __post_init__(self) -> None:
        given = [x is not None for x in (self.arch, self.coef, self.trees)]
        if sum(given) != 1:
            raise ValueError(
                "a member is exactly one of: an arch (with params), linear, trees"
            )
        if self.arch is not None and self.params is None:
            raise ValueError("an arch member needs its params")

    @property
    def kind(self) -> str:
        """``"arch"``, ``"linear"`` or ``"trees"``."""
        if self.arch is not None:
            return "arch"
        return "linear" if self.coef is not None else "trees"

    def proba(self, xn: jax.Array) -> jax.Array:
        """``float32[B]`` P(up) of normalised windows ``xn: float32[B, W, F]``."""
        if self.arch is not None and self.params is not None:
            return jax.nn.softmax(apply(self.arch, self.params, xn), axis=-1)[:, 1]
        if self.trees is not None:
            return self.trees.proba_windows(xn)
        coef = jnp.asarray(self.coef, jnp.float32)
        lags = coef.shape[0]
        last = xn[:, ::-1][:, :lags]  # bars t, t - 1, ..., t - lags + 1
        z = jnp.einsum("blf,lf->b", last, coef) + jnp.float32(self.intercept)
        return jax.nn.sigmoid(z)


def calibrated(p: jax.Array, calibration: Calibration) -> jax.Array:
    """``calibration`` applied to ``p: float32[B]`` in JAX."""
    if calibration.method == "none":
        return p
    q = jnp.clip(p, _CLIP, 1.0 - _CLIP)
    z = jnp.float32(calibration.a) * (jnp.log(q) - jnp.log1p(-q))
    return jax.nn.sigmoid(z + jnp.float32(calibration.b))


def answer_fn(
    members: Sequence[Member],
    calibration: Calibration,
    mean: np.ndarray,
    std: np.ndarray,
) -> Callable[[jax.Array], jax.Array]:
    """``x: float32[B, W, F]`` raw windows -> ``float32[B]`` calibrated P(up).

    Normalises with ``mean``/``std`` (``float32[F]``), averages the members'
    P(up) with their weights and applies ``calibration``.
    """
    mu = jnp.asarray(mean, jnp.float32)
    sd = jnp.asarray(std, jnp.float32)
    members = tuple(members)

    def predict(x: jax.Array) -> jax.Array:
        xn = normalize(x, mu, sd)
        p = sum(jnp.float32(m.weight) * m.proba(xn) for m in members)
        return calibrated(jnp.asarray(p, jnp.float32), calibration)

    return predict


def write_calibration(directory: Path, calibration: Calibration) -> None:
    """``calibration.json`` (nothing for the identity)."""
    if calibration.method != "none":
        (directory / CALIBRATION_FILE).write_text(json.dumps(calibration.to_dict()))


def read_calibration(directory: Path) -> Calibration:
    """The stored calibration (the identity when there is none)."""
    path = directory / CALIBRATION_FILE
    if not path.exists():
        return Calibration()
    d = safe_json.loads(path.read_text())
    return Calibration(str(d["method"]), float(d["a"]), float(d["b"]))


def ensemble_record(
    members: Sequence[Member], save_arch: Callable[[Path, Member], None], root: Path
) -> dict[str, Any]:
    """Write the arch members under ``root/members/<i>`` (with ``save_arch``)
    and the trees members' ``root/members/<i>/trees.npz``; return the
    ``ensemble.json`` content."""
    out = []
    for i, m in enumerate(members):
        entry: dict[str, Any] = {"kind": m.kind, "weight": float(m.weight)}
        entry["name"] = m.name
        if m.arch is not None:
            rel = f"{MEMBERS_DIR}/{i}"
            (root / rel).mkdir(parents=True)
            save_arch(root / rel, m)
            entry["path"] = rel
        elif m.trees is not None:
            rel = f"{MEMBERS_DIR}/{i}/{TREES_FILE}"
            (root / rel).parent.mkdir(parents=True)
            m.trees.save(root / rel)
            entry["path"] = rel
        else:
            entry["coef"] = np.asarray(m.coef, np.float64).tolist()
            entry["intercept"] = float(m.intercept)
        out.append(entry)
    return {"members": out}


def read_ensemble(
    root: Path, load_arch: Callable[[Path], tuple[Arch, Params]]
) -> tuple[Member, ...]:
    """The members of ``root/ensemble.json`` (arch members via ``load_arch``)."""
    d = safe_json.loads((root / ENSEMBLE_FILE).read_text())
    members = []
    for e in d["members"]:
        if e["kind"] not in KINDS:
            raise ValueError(f"unknown member kind {e['kind']!r} in {root}")
        if e["kind"] == "arch":
            arch, params = load_arch(root / e["path"])
            members.append(Member(float(e["weight"]), arch, params, name=e["name"]))
        elif e["kind"] == "trees":
            trees = TreeModel.load(root / e["path"])
            members.append(Member(float(e["weight"]), trees=trees, name=e["name"]))
        else:
            members.append(
                Member(
                    float(e["weight"]),
                    coef=np.asarray(e["coef"], np.float64),
                    intercept=float(e["intercept"]),
                    name=e["name"],
                )
            )
    return tuple(members)
