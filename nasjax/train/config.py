"""``TrainConfig``: every knob of one training run (static, hashable)."""

from __future__ import annotations

import dataclasses
import math

OPTIMIZERS: tuple[str, ...] = ("adamw", "adam", "sgd")
SCHEDULES: tuple[str, ...] = ("cosine", "constant")
CLASS_WEIGHTINGS: tuple[str, ...] = ("none", "balanced")
METRICS: tuple[str, ...] = ("accuracy", "loss")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static training configuration (hashable: one compile per config).

    Attributes:
        optimizer: ``"adamw"``, ``"adam"`` or ``"sgd"`` (momentum 0.9).
        learning_rate: Peak learning rate.
        weight_decay: Decoupled weight decay (adamw only).
        warmup_steps: Linear warm-up from 0 to ``learning_rate``.
        schedule: ``"cosine"`` (decay to ``end_lr_ratio * lr``) or
            ``"constant"`` after the warm-up.
        end_lr_ratio: Final / peak learning rate of the cosine schedule.
        grad_clip: Global-norm clipping threshold (``<= 0`` disables).
        batch_size: Minibatch size (drawn on device with replacement).
        n_steps: Optimiser steps; a multiple of ``eval_every``. Replaced by
            :meth:`resolved` when ``epochs`` is set.
        epochs: Training length in passes over the training windows (None:
            ``n_steps`` decides). :meth:`resolved` turns it into
            ``n_steps = ceil(epochs * n_train / batch_size)`` rounded up to a
            multiple of ``eval_every``, ``n_train`` being the training windows
            of a fold (the app takes the folds' mean).
        schedule_steps: Steps the learning-rate schedule spans (warm-up and
            cosine decay); None: ``n_steps``. A run that is continued
            (``train_population(..., resume=...)``) sets it to the total it
            will reach, so the schedule does not restart with each call.
        eval_every: Steps between validation evaluations.
        patience: Early stopping after this many evaluations without
            improvement of the validation metric (0 disables).
        class_weighting: ``"none"`` or ``"balanced"`` (inverse class
            frequency on the fold's training labels).
        label_smoothing: Label smoothing of the cross-entropy in [0, 1).
        metric: The fitness metric, reported at the kept params:
            ``"accuracy"`` (higher is better) or ``"loss"`` (lower is better;
            the fitness is minus the loss).
        stop_metric: Validation metric that keeps the best params and early
            stops (``"accuracy"`` or ``"loss"``); None: ``metric``. With
            ``stop_metric="loss"`` and ``metric="accuracy"``, the params of
            the lowest validation loss are kept and their validation accuracy
            is the fitness.
        eval_batch_size: Validation examples per forward pass.
        max_eval_samples: Cap on the validation examples per fold (an evenly
            strided subset, chosen on the host); ``None`` uses all.
        memory_budget_bytes: Budget of the memory guard of
            :func:`~nasjax.train.train_population`; ``None`` uses half of the
            device (or host) memory.
    """

    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    schedule: str = "cosine"
    end_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    batch_size: int = 128
    n_steps: int = 400
    eval_every: int = 50
    patience: int = 0
    class_weighting: str = "none"
    label_smoothing: float = 0.0
    metric: str = "accuracy"
    stop_metric: str | None = None
    epochs: float | None = None
    schedule_steps: int | None = None
    eval_batch_size: int = 512
    max_eval_samples: int | None = 4096
    memory_budget_bytes: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {SCHEDULES}")
        if self.class_weighting not in CLASS_WEIGHTINGS:
            problems.append(f"class_weighting must be one of {CLASS_WEIGHTINGS}")
        if self.metric not in METRICS:
            problems.append(f"metric must be one of {METRICS}")
        if self.stop_metric is not None and self.stop_metric not in METRICS:
            problems.append(f"stop_metric must be one of {METRICS} or None")
        if self.epochs is not None and not self.epochs > 0:
            problems.append("epochs must be > 0 or None")
        if self.schedule_steps is not None and self.schedule_steps < 1:
            problems.append("schedule_steps must be >= 1 or None")
        if self.n_steps < 1 or self.eval_every < 1:
            problems.append("n_steps and eval_every must be >= 1")
        elif self.n_steps % self.eval_every:
            problems.append(
                f"n_steps ({self.n_steps}) must be a multiple of eval_every "
                f"({self.eval_every})"
            )
        if self.batch_size < 1 or self.eval_batch_size < 1:
            problems.append("batch sizes must be >= 1")
        if not 0.0 <= self.label_smoothing < 1.0:
            problems.append("label_smoothing must be in [0, 1)")
        if self.learning_rate <= 0:
            problems.append("learning_rate must be > 0")
        if self.warmup_steps < 0 or self.patience < 0:
            problems.append("warmup_steps and patience must be >= 0")
        if self.max_eval_samples is not None and self.max_eval_samples < 1:
            problems.append("max_eval_samples must be >= 1 or None")
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))

    @property
    def n_evals(self) -> int:
        """Validation evaluations per run (``n_steps // eval_every``)."""
        return self.n_steps // self.eval_every

    @property
    def stop_on(self) -> str:
        """The early-stopping metric (``stop_metric``, or ``metric``)."""
        return self.metric if self.stop_metric is None else self.stop_metric

    @property
    def horizon(self) -> int:
        """Steps the learning-rate schedule spans (``schedule_steps`` or
        ``n_steps``)."""
        return self.n_steps if self.schedule_steps is None else self.schedule_steps

    def steps_for(self, n_train: float) -> int:
        """Training steps of this config for ``n_train`` training windows.

        ``n_steps`` when ``epochs`` is None; else ``ceil(epochs * n_train /
        batch_size)`` rounded up to a multiple of ``eval_every`` (at least
        one evaluation).
        """
        if self.epochs is None:
            return self.n_steps
        steps = math.ceil(self.epochs * max(n_train, 1) / self.batch_size)
        return max(1, math.ceil(steps / self.eval_every)) * self.eval_every

    def resolved(self, n_train: float) -> TrainConfig:
        """This config with ``n_steps = steps_for(n_train)`` and ``epochs``
        cleared (what the trainer runs; unchanged when ``epochs`` is None)."""
        if self.epochs is None:
            return self
        return dataclasses.replace(self, n_steps=self.steps_for(n_train), epochs=None)
