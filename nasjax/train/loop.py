"""``make_train(cfg) -> train(key, arch, params, data) -> (params, metrics)``.

The whole run is two nested ``lax.scan`` loops (evaluations x steps), so it
jits and vmaps over a population of architectures and over folds. Early
stopping and failure handling are masks, never Python control flow: the best
params seen at an evaluation are kept with ``jnp.where``; after ``patience``
evaluations without improvement (or a non-finite loss) a member's updates
are frozen.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from nasjax.graph.arch import Arch
from nasjax.nn.model import apply
from nasjax.train.config import TrainConfig
from nasjax.train.data import TrainData, windows
from nasjax.train.loss import class_weights, correct, cross_entropy
from nasjax.train.optim import make_optimizer
from nasjax.typing import Key, Params

TrainFn = Callable[..., tuple[Params, dict[str, jax.Array]]]
#: ``forward(arch, params, x f32[B, T, F]) -> logits f32[B, C]``.
Forward = Callable[[Arch, Params, jax.Array], jax.Array]


def where_members(pred: jax.Array, a, b):
    """Leafwise ``where`` with ``pred`` broadcast from the leading axes.

    ``pred`` is ``bool[]`` for one member or ``bool[P]`` for a population whose
    leaves are ``[P, ...]``.
    """

    def pick(x, y):
        return jnp.where(pred.reshape(pred.shape + (1,) * (x.ndim - pred.ndim)), x, y)

    return jax.tree.map(pick, a, b)


def initial_record(
    params: Params,
    opt_state,
    val_loss: jax.Array,
    val_acc: jax.Array,
    score: jax.Array,
    n_steps: int,
) -> dict:
    """Bookkeeping carry before the first step (per member; any leading shape)."""
    ok = jnp.isfinite(score)
    zeros = jnp.zeros(score.shape, jnp.int32)
    return dict(
        params=params,
        opt_state=opt_state,
        best_params=params,
        best_score=jnp.where(ok, score, -jnp.inf),
        best_val_loss=jnp.where(ok, val_loss, jnp.inf),
        best_val_accuracy=jnp.where(ok, val_acc, 0.0),
        best_step=zeros,
        since=zeros,
        stopped=jnp.zeros(score.shape, bool),
        stopped_step=zeros + n_steps,
        failed=~ok,
    )


def update_record(
    c: dict,
    params: Params,
    opt_state,
    val_loss: jax.Array,
    val_acc: jax.Array,
    score: jax.Array,
    bad: jax.Array,
    step: jax.Array,
    patience: int,
) -> dict:
    """Bookkeeping after an evaluation: best params, early stopping, failures.

    ``params``/``opt_state`` must already be frozen for stopped or failed
    members; ``bad`` flags a non-finite loss or score in this stretch.
    """
    frozen = c["stopped"] | c["failed"]
    failed = c["failed"] | (bad & ~frozen)
    improved = (score > c["best_score"]) & ~frozen & ~failed
    since = jnp.where(improved, 0, c["since"] + 1).astype(jnp.int32)
    stop_now = (patience > 0) & (since >= patience) & ~frozen
    return dict(
        params=params,
        opt_state=opt_state,
        best_params=where_members(improved, params, c["best_params"]),
        best_score=jnp.where(improved, score, c["best_score"]),
        best_val_loss=jnp.where(improved, val_loss, c["best_val_loss"]),
        best_val_accuracy=jnp.where(improved, val_acc, c["best_val_accuracy"]),
        best_step=jnp.where(improved, step, c["best_step"]),
        since=since,
        stopped=c["stopped"] | stop_now,
        stopped_step=jnp.where(stop_now, step, c["stopped_step"]),
        failed=failed,
    )


def final_metrics(
    c: dict, train_loss: jax.Array, val_loss: jax.Array, val_acc: jax.Array
) -> dict[str, jax.Array]:
    """The metrics dict of a finished run from its carry and curves."""
    failed = c["failed"]
    return {
        "best_score": jnp.where(failed, jnp.nan, c["best_score"]),
        "best_val_accuracy": jnp.where(failed, jnp.nan, c["best_val_accuracy"]),
        "best_val_loss": jnp.where(failed, jnp.nan, c["best_val_loss"]),
        "best_step": c["best_step"],
        "final_val_accuracy": val_acc[..., -1],
        "final_val_loss": val_loss[..., -1],
        "stopped_step": c["stopped_step"],
        "failed": failed,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_accuracy": val_acc,
    }


def evaluate(
    arch: Arch,
    params: Params,
    data: TrainData,
    eval_batch_size: int,
    forward: Forward = apply,
) -> tuple[jax.Array, jax.Array]:
    """Mean validation loss and accuracy over ``data.val`` (masked).

    ``data.val`` must be padded to a multiple of ``eval_batch_size``;
    ``forward`` is the network (default :func:`nasjax.nn.apply`).

    Returns:
        ``(loss f32[], accuracy f32[])``.
    """
    window = arch.spec.window
    ids = data.val.reshape(-1, eval_batch_size)
    mask = data.val_mask.reshape(-1, eval_batch_size).astype(jnp.float32)

    def chunk(args):
        i, m = args
        logits = forward(arch, params, windows(data, i, window))
        y = data.labels[i]
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        return jnp.sum(ce * m), jnp.sum(correct(logits, y) * m)

    loss_sum, hit_sum = jax.lax.map(chunk, (ids, mask))
    n = jnp.maximum(jnp.sum(mask), 1.0)
    return jnp.sum(loss_sum) / n, jnp.sum(hit_sum) / n


def make_train(cfg: TrainConfig, forward: Forward = apply) -> TrainFn:
    """Build the pure training function of ``cfg``.

    ``forward`` is the network: :func:`nasjax.nn.apply` (default; any arch of
    the bucket, traced) or e.g. :func:`nasjax.nn.apply_static` (one concrete
    arch compiled in, closed over instead of traced).

    Returns:
        ``train(key, arch, params, data, lr_scale=1.0) -> (params, metrics)``
        for ONE arch and ONE fold (vmap it for populations and folds):

        * ``key``: PRNG key (minibatch sampling).
        * ``arch``: a single ``Arch``; ``params``: its ``nasjax.nn`` params.
        * ``data``: a single-fold :class:`~nasjax.train.TrainData`.
        * ``lr_scale``: ``float32[]`` multiplier of every update (a per-member
        learning-rate factor).

        The returned params are the best seen at an evaluation point (the
        initial params if none was finite). ``metrics`` holds
        ``best_score`` (the selection metric, higher is better: accuracy or
        minus loss), ``best_val_accuracy``, ``best_val_loss``, ``best_step``
        (``int32``; 0 = the initial params), ``final_val_accuracy``,
        ``final_val_loss``, ``stopped_step`` (``int32``, ``n_steps`` if never
        stopped), ``failed`` (``bool``: a non-finite loss occurred) and the
        curves ``train_loss``, ``val_loss``, ``val_accuracy`` (``f32[n_evals]``).
    """
    opt = make_optimizer(cfg)
    n_evals, every = cfg.n_evals, cfg.eval_every
    use_acc = cfg.metric == "accuracy"

    def train(
        key: Key,
        arch: Arch,
        params: Params,
        data: TrainData,
        lr_scale: jax.Array | float = 1.0,
    ) -> tuple[Params, dict[str, jax.Array]]:
        spec = arch.spec
        window = spec.window
        n_train = jnp.maximum(data.n_train, 1)
        train_mask = jnp.arange(data.train.shape[0]) < data.n_train
        weights = class_weights(
            data.labels[data.train],
            train_mask,
            spec.n_classes,
            cfg.class_weighting == "balanced",
        )

        def loss_fn(p: Params, x: jax.Array, y: jax.Array) -> jax.Array:
            logits = forward(arch, p, x)
            return cross_entropy(
                logits, y, weights=weights, label_smoothing=cfg.label_smoothing
            )

        def sgd_step(carry, k):
            p, s = carry
            pos = jax.random.randint(k, (cfg.batch_size,), 0, n_train)
            ids = data.train[pos]
            loss, grads = jax.value_and_grad(loss_fn)(
                p, windows(data, ids, window), data.labels[ids]
            )
            updates, s = opt.update(grads, s, p)
            updates = jax.tree.map(lambda u: u * lr_scale, updates)
            return (optax.apply_updates(p, updates), s), loss

        def score_of(val_loss, val_acc):
            return val_acc if use_acc else -val_loss

        v_loss0, v_acc0 = evaluate(arch, params, data, cfg.eval_batch_size, forward)
        init = initial_record(
            params,
            opt.init(params),
            v_loss0,
            v_acc0,
            score_of(v_loss0, v_acc0),
            cfg.n_steps,
        )

        def outer(c, xs):
            k, e = xs
            frozen = c["stopped"] | c["failed"]
            (p, s), losses = jax.lax.scan(
                sgd_step, (c["params"], c["opt_state"]), jax.random.split(k, every)
            )
            p = where_members(frozen, c["params"], p)
            s = where_members(frozen, c["opt_state"], s)
            v_loss, v_acc = evaluate(arch, p, data, cfg.eval_batch_size, forward)
            score = score_of(v_loss, v_acc)
            bad = ~jnp.all(jnp.isfinite(losses)) | ~jnp.isfinite(score)
            step = ((e + 1) * every).astype(jnp.int32)
            new = update_record(c, p, s, v_loss, v_acc, score, bad, step, cfg.patience)
            curve = (jnp.mean(losses), v_loss, v_acc)
            return new, curve

        xs = (jax.random.split(key, n_evals), jnp.arange(n_evals))
        c, (tr_loss, va_loss, va_acc) = jax.lax.scan(outer, init, xs)
        metrics = final_metrics(c, tr_loss, va_loss, va_acc)
        return c["best_params"], metrics

    return train
