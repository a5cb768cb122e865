"""Crash-safe checkpoints of a whole search with orbax.

:func:`nasjax.serialize.encode` splits a search state into a JSON skeleton
and a flat dict of arrays; :class:`SearchCheckpointer` stores the pair as one
orbax step: the arrays with ``StandardSave`` (OCDBT) and the skeleton with
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
import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from nasjax.serialize import (
    RECORD_TYPES,
    array_specs,
    content_hash,
    decode,
    encode,
    to_jsonable,
)

__all__ = [
    "FORMAT_VERSION",
    "MISSING",
    "RECORD_TYPES",
    "CheckpointConfig",
    "CheckpointMismatchError",
    "SearchCheckpointer",
    "committed_steps",
    "config_diff",
    "content_hash",
    "mismatch_message",
    "to_jsonable",
]

logger = logging.getLogger("nasjax.checkpoint")

FORMAT_VERSION = 2
"""Version of the checkpoint payload layout."""


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
# Configurations and data identity


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
        saved: JSON config of the checkpoint
            (:func:`nasjax.serialize.to_jsonable`).
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
        self._intact: int | None = None
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

    def intact_step(self) -> int | None:
        """The newest committed step that restores completely, or None.

        A damaged step (a torn or corrupted file: the disk, not a crash
        during the save, which orbax never commits) is reported with its path
        in a warning and moved aside to ``<directory>.corrupt/<step>``, so the
        run falls back to the newest intact one and can save that step again.
        """
        if self._intact is not None:
            return self._intact
        for step in sorted(self._manager.all_steps(), reverse=True):
            try:
                self._restore(step)
            except CheckpointMismatchError:
                raise
            except Exception as err:  # orbax / tensorstore / JSON errors
                aside = self._move_aside(step)
                logger.warning(
                    "checkpoint step %d in %s is damaged (%s: %s); moved to %s, "
                    "falling back to the previous step",
                    step,
                    self.directory,
                    type(err).__name__,
                    str(err).splitlines()[0][:200] if str(err) else "",
                    aside,
                )
                continue
            self._intact = step
            return step
        return None

    def _move_aside(self, step: int) -> Path:
        aside = self.directory.with_name(self.directory.name + ".corrupt")
        if jax.process_index() == 0:
            aside.mkdir(exist_ok=True)
            target = aside / str(step)
            if target.exists():
                shutil.rmtree(target)
            shutil.move(str(self.directory / str(step)), target)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"nasjax: moved aside step {step}")
        self._manager.reload()
        return aside / str(step)

    def save(
        self, step: int, payload: Any, info: Mapping[str, Any] | None = None
    ) -> None:
        """Encode ``payload`` and save it as ``step``.

        Returns before the write finishes when saving asynchronously (the
        payload is copied first, so the caller may go on mutating its own
        objects).

        Args:
            step: Step number (increasing).
            payload: Any tree :func:`nasjax.serialize.encode` accepts.
            info: Plain JSON stored beside it, readable without the arrays
                (:meth:`restore_info`), e.g. the run configuration.
        """
        self._intact = None
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
        """The ``info`` saved with ``step`` (default: the newest intact step,
        :meth:`intact_step`), or None."""
        step = self.intact_step() if step is None else step
        return None if step is None else self._meta(step)["info"]

    def restore(self, step: int | None = None) -> Any:
        """The payload of ``step`` (default: the newest intact step,
        :meth:`intact_step`), or None if none exists."""
        step = self.intact_step() if step is None else step
        if step is None:
            return None
        return self._restore(step)

    def _restore(self, step: int) -> Any:
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
