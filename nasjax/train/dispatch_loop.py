"""Population-major training: the forward pass dispatches each op only to the
members that use it (:func:`nasjax.nn.apply_population`).

``make_train`` is written for ONE member and vmapped over the population; under
``vmap`` every node's ``lax.switch`` then runs *every* op for every member.
:func:`make_population_train` computes exactly the same thing (same keys, same
minibatches, same optimiser, same early stopping and failure masks, per
member) but evaluates the network population-major, so each op runs only on
the members that use it. Optimiser updates and bookkeeping are vmapped per
member, so gradient clipping and early stopping stay per member.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from nasjax.graph.arch import Arch
from nasjax.nn.population import apply_population
from nasjax.train.config import TrainConfig
from nasjax.train.data import TrainData, windows
from nasjax.train.loop import (
    TrainFn,
    final_metrics,
    initial_record,
    update_record,
    where_members,
)
from nasjax.train.loss import class_weights, correct, cross_entropy
from nasjax.train.optim import make_optimizer
from nasjax.typing import Key, Params


def evaluate_population(
    archs: Arch,
    params: Params,
    data: TrainData,
    eval_batch_size: int,
    capacities: tuple[int, ...],
    node_loop: str = "unroll",
) -> tuple[jax.Array, jax.Array]:
    """Masked validation loss and accuracy of every member, ``(f32[P], f32[P])``."""
    window = archs.spec.window
    ids = data.val.reshape(-1, eval_batch_size)
    mask = data.val_mask.reshape(-1, eval_batch_size).astype(jnp.float32)

    def chunk(args):
        i, m = args
        x = windows(data, i, window)
        logits = apply_population(archs, params, x, capacities, node_loop)
        y = data.labels[i]
        ce = jax.vmap(optax.softmax_cross_entropy_with_integer_labels, (0, None))(
            logits, y
        )
        hits = jax.vmap(correct, (0, None))(logits, y)
        return jnp.sum(ce * m, axis=-1), jnp.sum(hits * m, axis=-1)

    loss_sum, hit_sum = jax.lax.map(chunk, (ids, mask))
    n = jnp.maximum(jnp.sum(mask), 1.0)
    return jnp.sum(loss_sum, axis=0) / n, jnp.sum(hit_sum, axis=0) / n


def make_population_train(
    cfg: TrainConfig, capacities: tuple[int, ...], node_loop: str = "unroll"
) -> TrainFn:
    """Population-major twin of :func:`nasjax.train.make_train`.

    Args:
        cfg: Training configuration.
        capacities: Static per-op capacities, from
            ``nasjax.nn.op_capacities(archs)`` of the population to train.

    Returns:
        ``train(keys[P], archs[P], params[P], data, lr_scale f32[P]) ->
        (params[P], metrics[P])`` for ONE fold, with the metrics of
        ``make_train`` per member.
    """
    opt = make_optimizer(cfg)
    n_evals, every = cfg.n_evals, cfg.eval_every
    use_acc = cfg.metric == "accuracy"

    def train(
        keys: Key,
        archs: Arch,
        params: Params,
        data: TrainData,
        lr_scale: jax.Array,
    ) -> tuple[Params, dict[str, jax.Array]]:
        spec = archs.spec
        window = spec.window
        p_size = archs.batch_shape[0]
        n_train = jnp.maximum(data.n_train, 1)
        train_mask = jnp.arange(data.train.shape[0]) < data.n_train
        weights = class_weights(
            data.labels[data.train],
            train_mask,
            spec.n_classes,
            cfg.class_weighting == "balanced",
        )

        def loss_fn(p: Params, x: jax.Array, y: jax.Array):
            logits = apply_population(archs, p, x, capacities, node_loop)
            losses = jax.vmap(
                lambda lg, yy: cross_entropy(
                    lg, yy, weights=weights, label_smoothing=cfg.label_smoothing
                )
            )(logits, y)
            return jnp.sum(losses), losses

        def sgd_step(carry, step_keys):
            p, s = carry
            pos = jax.vmap(
                lambda k: jax.random.randint(k, (cfg.batch_size,), 0, n_train)
            )(step_keys)
            ids = data.train[pos]  # [P, B]
            x = jax.vmap(lambda i: windows(data, i, window))(ids)
            grads, losses = jax.grad(loss_fn, has_aux=True)(p, x, data.labels[ids])
            updates, s = jax.vmap(opt.update)(grads, s, p)
            updates = jax.tree.map(
                lambda u: u * lr_scale.reshape((p_size,) + (1,) * (u.ndim - 1)),
                updates,
            )
            return (optax.apply_updates(p, updates), s), losses

        def score_of(val_loss, val_acc):
            return val_acc if use_acc else -val_loss

        v_loss0, v_acc0 = evaluate_population(
            archs, params, data, cfg.eval_batch_size, capacities, node_loop
        )
        init = initial_record(
            params,
            jax.vmap(opt.init)(params),
            v_loss0,
            v_acc0,
            score_of(v_loss0, v_acc0),
            cfg.n_steps,
        )

        def outer(c, xs):
            member_keys, e = xs  # member_keys: [P]
            frozen = c["stopped"] | c["failed"]
            step_keys = jax.vmap(lambda k: jax.random.split(k, every))(member_keys)
            (p, s), losses = jax.lax.scan(
                sgd_step, (c["params"], c["opt_state"]), jnp.swapaxes(step_keys, 0, 1)
            )  # losses: [every, P]
            p = where_members(frozen, c["params"], p)
            s = where_members(frozen, c["opt_state"], s)
            v_loss, v_acc = evaluate_population(
                archs, p, data, cfg.eval_batch_size, capacities, node_loop
            )
            score = score_of(v_loss, v_acc)
            bad = ~jnp.all(jnp.isfinite(losses), axis=0) | ~jnp.isfinite(score)
            step = ((e + 1) * every).astype(jnp.int32)
            new = update_record(c, p, s, v_loss, v_acc, score, bad, step, cfg.patience)
            curve = (jnp.mean(losses, axis=0), v_loss, v_acc)
            return new, curve

        eval_keys = jax.vmap(lambda k: jax.random.split(k, n_evals))(keys)
        xs = (jnp.swapaxes(eval_keys, 0, 1), jnp.arange(n_evals))
        c, (tr_loss, va_loss, va_acc) = jax.lax.scan(outer, init, xs)
        metrics = final_metrics(c, tr_loss.T, va_loss.T, va_acc.T)
        return c["best_params"], metrics

    return train
