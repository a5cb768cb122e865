"""``TrainConfig``: every knob of one training run (static, hashable)."""

from __future__ import annotations

import dataclasses

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
        n_steps: Optimiser steps; a multiple of ``eval_every``.
        eval_every: Steps between validation evaluations.
        patience: Early stopping after this many evaluations without
            improvement of the validation metric (0 disables).
        class_weighting: ``"none"`` or ``"balanced"`` (inverse class
            frequency on the fold's training labels).
        label_smoothing: Label smoothing of the cross-entropy in [0, 1).
        metric: Validation metric selecting the best params / early stopping:
            ``"accuracy"`` (higher is better) or ``"loss"`` (lower is better).
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
