"""The optax optimiser of a :class:`~nasjax.train.TrainConfig`."""

from __future__ import annotations

import optax

from nasjax.train.config import TrainConfig


def make_schedule(cfg: TrainConfig) -> optax.Schedule:
    """Linear warm-up to ``cfg.learning_rate``, then cosine decay or constant,
    over ``cfg.horizon`` steps (``schedule_steps``, or ``n_steps``)."""
    lr = cfg.learning_rate
    horizon = cfg.horizon
    warm = min(cfg.warmup_steps, max(horizon - 1, 0))
    if cfg.schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0 if warm else lr,
            peak_value=lr,
            warmup_steps=warm,
            decay_steps=max(horizon, warm + 1),
            end_value=lr * cfg.end_lr_ratio,
        )
    if not warm:
        return optax.constant_schedule(lr)
    return optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warm), optax.constant_schedule(lr)], [warm]
    )


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Global-norm clipping followed by the configured optimiser and schedule."""
    schedule = make_schedule(cfg)
    if cfg.optimizer == "adamw":
        opt = optax.adamw(schedule, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adam":
        opt = optax.adam(schedule)
    else:
        opt = optax.sgd(schedule, momentum=0.9)
    if cfg.grad_clip > 0:
        return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), opt)
    return opt
