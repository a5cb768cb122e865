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
import numpy as np
import optax

from nasjax.graph.arch import Arch
from nasjax.nn.population import Capacities, apply_population
from nasjax.nn.schedule import ScheduleShape
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


def _val_chunks(data: TrainData, size: int) -> tuple[jax.Array, jax.Array]:
    """Validation ids and mask in chunks of ``size``: ``(int32[C, size],
    f32[C, size])``, padded with masked-out copies of the first id."""
    pad = (-data.val.shape[0]) % size
    ids = jnp.pad(data.val, (0, pad), constant_values=data.val[0])
    mask = jnp.pad(data.val_mask.astype(jnp.float32), (0, pad))
    return ids.reshape(-1, size), mask.reshape(-1, size)


def _schedule(n_evals: int, every: int, n_chunks: int) -> dict[str, np.ndarray]:
    """The flat iteration plan of one run (static, host side).

    Pass 0 evaluates the starting params (``n_chunks`` validation chunks);
    pass ``e >= 1`` trains ``every`` steps, then evaluates. Per iteration:
    ``train`` (a training step, else a validation chunk), ``step`` (index of
    the training step, 0 on validation chunks), ``chunk``, ``opens`` /
    ``closes`` (first / last chunk of an evaluation) and ``pass_``.
    """
    rows = []
    for e in range(n_evals + 1):
        if e > 0:
            rows += [(1, (e - 1) * every + j, 0, 0, 0, e) for j in range(every)]
        rows += [
            (0, 0, c, int(c == 0), int(c == n_chunks - 1), e) for c in range(n_chunks)
        ]
    cols = np.asarray(rows, np.int32).T
    names = ("train", "step", "chunk", "opens", "closes", "pass_")
    return {name: col for name, col in zip(names, cols, strict=True)}


def make_population_train(
    cfg: TrainConfig,
    capacities: Capacities | ScheduleShape,
    node_loop: str = "unroll",
) -> TrainFn:
    """Population-major twin of :func:`nasjax.train.make_train`.

    The run is one ``lax.scan`` over a static plan of training steps and
    validation chunks (:func:`_schedule`) whose body holds the network's
    ONLY forward pass: a validation chunk is a forward pass of
    ``cfg.batch_size`` samples whose backward pass and update a
    ``lax.cond`` skips. One traced and compiled copy of the network instead
    of three (the training step's and two evaluation sites') makes the
    program about a third faster to trace and compile; the validation loss
    and accuracy equal ``make_train``'s (chunks of ``cfg.eval_batch_size``)
    to float rounding.

    Args:
        cfg: Training configuration.
        capacities: Static capacities, from ``nasjax.nn.node_capacities``
            (per node) or ``nasjax.nn.op_capacities`` (per op) of the
            population to train, or a ``ScheduleShape`` (``"schedule"``).
        node_loop: ``"unroll"``, ``"scan"`` or ``"schedule"`` (see
            :func:`nasjax.nn.apply_population`).

    Returns:
        ``train(keys[P], archs[P], params[P], data, lr_scale f32[P]) ->
        (params[P], metrics[P])`` for ONE fold, with the metrics of
        ``make_train`` per member.
    """
    opt = make_optimizer(cfg)
    n_evals, every, batch = cfg.n_evals, cfg.eval_every, cfg.batch_size
    use_acc = cfg.metric == "accuracy"

    def train(
        keys: Key,
        archs: Arch,
        params: Params,
        data: TrainData,
        lr_scale: jax.Array,
    ) -> tuple[Params, dict[str, jax.Array]]:
        spec = archs.spec
        p_size = archs.batch_shape[0]
        n_train = jnp.maximum(data.n_train, 1)
        train_mask = jnp.arange(data.train.shape[0]) < data.n_train
        weights = class_weights(
            data.labels[data.train],
            train_mask,
            spec.n_classes,
            cfg.class_weighting == "balanced",
        )
        val_ids, val_mask = _val_chunks(data, batch)
        n_val = jnp.maximum(jnp.sum(val_mask), 1.0)
        plan = _schedule(n_evals, every, val_ids.shape[0])
        # Training step t = (e - 1) * every + j draws its minibatch with key
        # j of split(eval_keys[e - 1], every), as make_train does.
        eval_keys = jax.vmap(lambda k: jax.random.split(k, n_evals))(keys)
        step_keys = jax.vmap(jax.vmap(lambda k: jax.random.split(k, every)))(
            eval_keys
        )  # [P, n_evals, every]
        step_keys = jnp.moveaxis(step_keys.reshape(p_size, -1), 0, 1)[plan["step"]]

        def train_losses(logits, y):  # -> f32[P]
            return jax.vmap(
                lambda lg, yy: cross_entropy(
                    lg, yy, weights=weights, label_smoothing=cfg.label_smoothing
                )
            )(logits, y)

        def score_of(val_loss, val_acc):
            return val_acc if use_acc else -val_loss

        def body(carry, xs):
            c, p, s, acc = carry  # c["params"]: the params this period began with
            frozen = c["stopped"] | c["failed"]
            p, s = jax.lax.cond(
                xs["opens"] > 0,  # stopped or failed members keep their params
                lambda: (
                    where_members(frozen, c["params"], p),
                    where_members(frozen, c["opt_state"], s),
                ),
                lambda: (p, s),
            )
            pos = jax.vmap(lambda k: jax.random.randint(k, (batch,), 0, n_train))(
                xs["key"]
            )
            ids = jnp.where(xs["train"] > 0, data.train[pos], val_ids[xs["chunk"]])
            x = jax.vmap(lambda i: windows(data, i, spec.window))(ids)
            y = data.labels[ids]  # [P, B]
            logits, pullback = jax.vjp(
                lambda q: apply_population(archs, q, x, capacities, node_loop), p
            )

            def train_step(p, s, acc):
                per_member, loss_pullback = jax.vjp(
                    lambda lg: train_losses(lg, y), logits
                )
                (dlogits,) = loss_pullback(jnp.ones_like(per_member))
                (grads,) = pullback(dlogits)
                updates, s = jax.vmap(opt.update)(grads, s, p)
                updates = jax.tree.map(
                    lambda u: u * lr_scale.reshape((p_size,) + (1,) * (u.ndim - 1)),
                    updates,
                )
                acc = dict(
                    acc,
                    train_loss=acc["train_loss"] + per_member,
                    finite=acc["finite"] & jnp.isfinite(per_member),
                )
                return optax.apply_updates(p, updates), s, acc

            def val_chunk(p, s, acc):
                m = val_mask[xs["chunk"]]
                ce = jax.vmap(optax.softmax_cross_entropy_with_integer_labels)(
                    logits, y
                )
                hits = jax.vmap(correct)(logits, y)
                acc = dict(
                    acc,
                    val_loss=acc["val_loss"] + jnp.sum(ce * m, axis=-1),
                    hits=acc["hits"] + jnp.sum(hits * m, axis=-1),
                )
                return p, s, acc

            p, s, acc = jax.lax.cond(xs["train"] > 0, train_step, val_chunk, p, s, acc)

            def close(c, acc):
                v_loss, v_acc = acc["val_loss"] / n_val, acc["hits"] / n_val
                score = score_of(v_loss, v_acc)
                bad = ~acc["finite"] | ~jnp.isfinite(score)
                e = xs["pass_"]
                new = jax.lax.cond(
                    e > 0,
                    lambda: update_record(
                        c, p, s, v_loss, v_acc, score, bad, e * every, cfg.patience
                    ),
                    lambda: initial_record(p, s, v_loss, v_acc, score, cfg.n_steps),
                )
                curve = (acc["train_loss"] / every, v_loss, v_acc)
                return new, empty, curve

            def keep(c, acc):
                return c, acc, (nan, nan, nan)

            c, acc, curve = jax.lax.cond(xs["closes"] > 0, close, keep, c, acc)
            return (c, p, s, acc), curve

        opt_state = jax.vmap(opt.init)(params)
        nan = jnp.full((p_size,), jnp.nan, jnp.float32)
        zero = jnp.zeros((p_size,), jnp.float32)
        empty = dict(
            train_loss=zero,
            finite=jnp.ones((p_size,), bool),
            val_loss=zero,
            hits=zero,
        )
        init = initial_record(params, opt_state, nan, nan, nan, cfg.n_steps)
        xs = {name: jnp.asarray(col) for name, col in plan.items()}
        xs["key"] = step_keys
        (c, _, _, _), curves = jax.lax.scan(body, (init, params, opt_state, empty), xs)
        closing = np.nonzero(plan["closes"])[0][1:]  # pass 0 has no training
        tr_loss, va_loss, va_acc = (a[closing] for a in curves)
        metrics = final_metrics(c, tr_loss.T, va_loss.T, va_acc.T)
        return c["best_params"], metrics

    return train
