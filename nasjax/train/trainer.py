"""The one training loop: steps, evaluations, early stopping, bookkeeping.

:func:`make_population_trainer` trains a population of members of one
bucket on one fold, given the population's forward pass
``forward(archs[P], params[P], x f32[P, B, T, F]) -> logits f32[P, B, C]``.
Every population strategy (:mod:`nasjax.train.plan`) only supplies that
forward pass; the keys, minibatches, optimiser, early stopping and failure
masks are this module's, per member (optimiser updates are vmapped, so
gradient clipping and early stopping stay per member).

The run is one ``lax.scan`` over a static pass table (:func:`pass_table`)
of training steps and validation chunks whose body holds the network's ONLY
forward pass: a validation chunk is a forward pass of ``cfg.batch_size``
samples whose backward pass and update a ``lax.cond`` skips. One traced
copy of the network instead of three (a training step's and two evaluation
sites') makes the program about a third faster to trace and compile.

:func:`over_folds` lifts a one-fold trainer to fold-stacked data, and
:func:`make_train` is the one-member view of the same loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nasjax.graph.arch import Arch
from nasjax.nn.model import apply
from nasjax.train.config import TrainConfig
from nasjax.train.data import FOLD_AXES, TrainData, windows
from nasjax.train.loss import class_weights, correct, cross_entropy
from nasjax.train.optim import make_optimizer
from nasjax.train.state import (
    TrainState,
    final_metrics,
    initial_state,
    resumed_state,
    updated_state,
    where_members,
)
from nasjax.typing import Key, Params

#: ``forward(arch, params, x f32[B, T, F]) -> logits f32[B, C]`` (one member).
Forward = Callable[[Arch, Params, jax.Array], jax.Array]
#: ``forward(archs[P], params[P], x f32[P, B, T, F]) -> logits f32[P, B, C]``.
PopulationForward = Callable[[Arch, Params, jax.Array], jax.Array]
#: A trainer: ``(keys, archs, params, data, lr_scale, ...) -> (params,
#: metrics, ...)`` (population trainers also return the final state).
TrainFn = Callable[..., tuple[Any, ...]]

#: Fields of a fold-stacked ``TrainData`` with one row per fold.
PER_FOLD_FIELDS: tuple[str, ...] = (
    "train",
    "n_train",
    "val",
    "val_mask",
    "mean",
    "std",
)


class PassTable(NamedTuple):
    """The static iteration table of one run (host ``int32`` columns).

    Pass 0 evaluates the starting params (``n_chunks`` validation chunks);
    pass ``e >= 1`` trains ``every`` steps, then evaluates.

    Attributes:
        train: 1 on a training step, 0 on a validation chunk.
        step: Index of the training step (0 on validation chunks).
        chunk: Index of the validation chunk (0 on training steps).
        opens: 1 on the first validation chunk of an evaluation.
        closes: 1 on the last validation chunk of an evaluation.
        pass_: The pass (0 = the initial evaluation).
    """

    train: np.ndarray
    step: np.ndarray
    chunk: np.ndarray
    opens: np.ndarray
    closes: np.ndarray
    pass_: np.ndarray


def pass_table(
    n_evals: int, every: int, n_chunks: int, initial: bool = True
) -> PassTable:
    """The :class:`PassTable` of ``n_evals`` evaluations ``every`` steps
    apart with ``n_chunks`` validation chunks each; ``initial=False`` leaves
    out pass 0 (a resumed run: its starting params were evaluated already)."""
    rows = []
    for e in range(0 if initial else 1, n_evals + 1):
        if e > 0:
            rows += [(1, (e - 1) * every + j, 0, 0, 0, e) for j in range(every)]
        rows += [
            (0, 0, c, int(c == 0), int(c == n_chunks - 1), e) for c in range(n_chunks)
        ]
    return PassTable(*np.asarray(rows, np.int32).T)


def key_data(keys: jax.Array) -> jax.Array:
    """Raw ``uint32[..., 2]`` data of typed (or already raw) PRNG keys."""
    if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(keys)
    return keys


def _val_chunks(data: TrainData, size: int) -> tuple[jax.Array, jax.Array]:
    """Validation ids and mask in chunks of ``size``: ``(int32[C, size],
    f32[C, size])``, padded with masked-out copies of the first id."""
    pad = (-data.val.shape[0]) % size
    ids = jnp.pad(data.val, (0, pad), constant_values=data.val[0])
    mask = jnp.pad(data.val_mask.astype(jnp.float32), (0, pad))
    return ids.reshape(-1, size), mask.reshape(-1, size)


class _Totals(NamedTuple):
    """Running sums of one training stretch and evaluation, ``[P]`` each."""

    train_loss: jax.Array
    finite: jax.Array
    val_loss: jax.Array
    hits: jax.Array


def make_population_trainer(cfg: TrainConfig, forward: PopulationForward) -> TrainFn:
    """The training loop of ``cfg`` around a population forward pass.

    Args:
        cfg: Training configuration.
        forward: ``(archs[P], params[P], x f32[P, B, T, F]) -> logits
            f32[P, B, C]`` (e.g. a strategy's, :mod:`nasjax.train.plan`).

    Returns:
        ``train(keys[P], archs[P], params[P], data, lr_scale f32[P],
        resume=None) -> (params[P], metrics[P], state[P])`` for ONE fold
        (``data`` a single-fold :class:`~nasjax.train.TrainData`). Member
        ``i`` draws the minibatch of training step ``t`` from
        ``fold_in(keys[i], t)`` exactly as :func:`make_train` does. The
        returned params are the best seen at an evaluation (the initial ones
        if none was finite); the metrics are
        :func:`nasjax.train.state.final_metrics` per member (curves
        ``[P, n_evals]``); ``state`` is the final
        :class:`~nasjax.train.TrainState`. Given as ``resume``, such a state
        is continued for ``cfg.n_steps`` more steps (``keys`` and ``params``
        are then ignored: its key and current params go on), and the result
        equals one run of the summed steps when ``cfg.schedule_steps`` is
        the same in both calls.
    """
    opt = make_optimizer(cfg)
    n_evals, every, batch = cfg.n_evals, cfg.eval_every, cfg.batch_size
    stop_acc = cfg.stop_on == "accuracy"

    def train(
        keys: Key,
        archs: Arch,
        params: Params,
        data: TrainData,
        lr_scale: jax.Array,
        resume: TrainState | None = None,
    ) -> tuple[Params, dict[str, jax.Array], TrainState]:
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
        fresh = resume is None
        table = pass_table(n_evals, every, val_ids.shape[0], initial=fresh)
        nan = jnp.full((p_size,), jnp.nan, jnp.float32)
        if resume is None:
            opt_state = jax.vmap(opt.init)(params)
            init = initial_state(
                params, opt_state, nan, nan, nan, cfg.n_steps, key_data(keys)
            )
        else:
            init = resumed_state(resume, cfg.n_steps)
            params, opt_state = init.params, init.opt_state
        start = jnp.asarray(init.step, jnp.int32)  # [P] steps already trained
        # Global training step t draws its minibatch with fold_in(key, t), so
        # a continued run draws what one long run would.
        steps = jnp.asarray(table.step)
        step_keys = jax.vmap(
            lambda kd, s0: jax.vmap(
                lambda t: jax.random.fold_in(jax.random.wrap_key_data(kd), s0 + t)
            )(steps)
        )(init.key, start)  # [P, rows]
        step_keys = jnp.moveaxis(step_keys, 0, 1)

        def train_losses(logits, y):  # -> f32[P]
            return jax.vmap(
                lambda lg, yy: cross_entropy(
                    lg, yy, weights=weights, label_smoothing=cfg.label_smoothing
                )
            )(logits, y)

        def score_of(val_loss, val_acc):
            return val_acc if stop_acc else -val_loss

        def body(carry, xs):
            # state.params: the params this stretch began with.
            state, p, s, tot = carry
            row, key = xs
            frozen = state.frozen
            p, s = jax.lax.cond(
                row.opens > 0,  # stopped or failed members keep their params
                lambda: (
                    where_members(frozen, state.params, p),
                    where_members(frozen, state.opt_state, s),
                ),
                lambda: (p, s),
            )
            pos = jax.vmap(lambda k: jax.random.randint(k, (batch,), 0, n_train))(key)
            ids = jnp.where(row.train > 0, data.train[pos], val_ids[row.chunk])
            x = jax.vmap(lambda i: windows(data, i, spec.window))(ids)
            y = data.labels[ids]  # [P, B]
            logits, pullback = jax.vjp(lambda q: forward(archs, q, x), p)

            def train_step(p, s, tot):
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
                tot = tot._replace(
                    train_loss=tot.train_loss + per_member,
                    finite=tot.finite & jnp.isfinite(per_member),
                )
                return optax.apply_updates(p, updates), s, tot

            def val_chunk(p, s, tot):
                m = val_mask[row.chunk]
                ce = jax.vmap(optax.softmax_cross_entropy_with_integer_labels)(
                    logits, y
                )
                hits = jax.vmap(correct)(logits, y)
                tot = tot._replace(
                    val_loss=tot.val_loss + jnp.sum(ce * m, axis=-1),
                    hits=tot.hits + jnp.sum(hits * m, axis=-1),
                )
                return p, s, tot

            p, s, tot = jax.lax.cond(row.train > 0, train_step, val_chunk, p, s, tot)

            def close(state, tot):
                v_loss, v_acc = tot.val_loss / n_val, tot.hits / n_val
                score = score_of(v_loss, v_acc)
                bad = ~tot.finite | ~jnp.isfinite(score)
                e = row.pass_
                step = start + e * every
                new = jax.lax.cond(
                    e > 0,
                    lambda: updated_state(
                        state, p, s, v_loss, v_acc, score, bad, step, cfg.patience
                    ),
                    lambda: initial_state(
                        p, s, v_loss, v_acc, score, cfg.n_steps, state.key
                    ),
                )
                curve = (tot.train_loss / every, v_loss, v_acc)
                return new, empty, curve

            def keep(state, tot):
                return state, tot, (nan, nan, nan)

            state, tot, curve = jax.lax.cond(row.closes > 0, close, keep, state, tot)
            return (state, p, s, tot), curve

        zero = jnp.zeros((p_size,), jnp.float32)
        empty = _Totals(
            train_loss=zero, finite=jnp.ones((p_size,), bool), val_loss=zero, hits=zero
        )
        rows = jax.tree.map(jnp.asarray, table)
        (state, _, _, _), curves = jax.lax.scan(
            body, (init, params, opt_state, empty), (rows, step_keys)
        )
        closing = np.nonzero(table.closes & (table.pass_ > 0))[0]  # pass 0: none
        tr_loss, va_loss, va_acc = (a[closing] for a in curves)
        metrics = final_metrics(state, tr_loss.T, va_loss.T, va_acc.T, cfg.metric)
        return state.best_params, metrics, state

    return train


def over_folds(train: TrainFn, fold_axis: str) -> TrainFn:
    """A one-fold population trainer lifted to fold-stacked data.

    Args:
        train: From :func:`make_population_trainer`.
        fold_axis: ``"vmap"`` (folds in parallel) or ``"scan"`` (one after
            another; also used for a single fold, whose vmap would
            batch-trace the whole program a second time for nothing).

    Returns:
        ``train(keys[P], archs[P], params[P, K], data, lr_scale f32[P],
        resume=None) -> (params[P, K], metrics[P, K], state[P, K])`` with
        ``data`` fold-stacked (K folds); fold ``k`` of member ``i`` uses key
        ``fold_in(keys[i], k)``. ``resume`` (a state ``[P, K]`` of an earlier
        call) continues every fold from its own state.
    """

    def run(keys, archs, params, data: TrainData, lr, resume=None):
        n_folds = data.train.shape[0]
        fold_keys = jax.vmap(
            lambda k: jax.vmap(jax.random.fold_in, (None, 0))(k, jnp.arange(n_folds))
        )(keys)  # [P, K]
        if resume is not None:
            params = resume.params
        if fold_axis == "vmap" and n_folds > 1:
            return jax.vmap(
                train, in_axes=(1, None, 1, FOLD_AXES, None, 1), out_axes=1
            )(fold_keys, archs, params, data, lr, resume)
        per_fold = {f: getattr(data, f) for f in PER_FOLD_FIELDS}

        def body(_, xs):
            k, p, fold, st = xs
            return None, train(k, archs, p, data._replace(**fold), lr, st)

        swap = lambda t: jax.tree.map(lambda v: jnp.swapaxes(v, 0, 1), t)
        xs = (jnp.swapaxes(fold_keys, 0, 1), swap(params), per_fold, swap(resume))
        _, out = jax.lax.scan(body, None, xs)
        return jax.tree.map(lambda a: jnp.moveaxis(a, 0, 1), out)

    return run


def make_train(cfg: TrainConfig, forward: Forward = apply) -> TrainFn:
    """The training loop for ONE member (the population loop with P = 1).

    ``forward`` is the network: :func:`nasjax.nn.apply` (default; any arch of
    the bucket, traced) or e.g. :func:`nasjax.nn.apply_static` (one concrete
    arch compiled in, closed over instead of traced).

    Returns:
        ``train(key, arch, params, data, lr_scale=1.0) -> (params, metrics)``
        for ONE arch and ONE fold:

        * ``key``: PRNG key (step ``t`` draws with ``fold_in(key, t)``).
        * ``arch``: a single ``Arch``; ``params``: its ``nasjax.nn`` params.
        * ``data``: a single-fold :class:`~nasjax.train.TrainData`.
        * ``lr_scale``: ``float32[]`` multiplier of every update.

        The returned params are the best seen at an evaluation point (the
        initial params if none was finite). ``metrics`` holds
        ``best_score`` (the selection metric, higher is better: accuracy or
        minus loss), ``best_val_accuracy``, ``best_val_loss``, ``best_step``
        (``int32``; 0 = the initial params), ``final_val_accuracy``,
        ``final_val_loss``, ``stopped_step`` (``int32``, ``n_steps`` if never
        stopped), ``failed`` (``bool``: a non-finite loss occurred) and the
        curves ``train_loss``, ``val_loss``, ``val_accuracy`` (``f32[n_evals]``).
    """

    def train(
        key: Key,
        arch: Arch,
        params: Params,
        data: TrainData,
        lr_scale: jax.Array | float = 1.0,
    ) -> tuple[Params, dict[str, jax.Array]]:
        # The member's own arch is closed over (not re-traced through the
        # population axis), so a forward needing a concrete arch works.
        def one_forward(_archs, q, x):
            return jax.vmap(lambda qq, xx: forward(arch, qq, xx))(q, x)

        trainer = make_population_trainer(cfg, one_forward)
        lift = lambda t: jax.tree.map(lambda a: jnp.asarray(a)[None], t)
        lr = jnp.reshape(jnp.asarray(lr_scale, jnp.float32), (1,))
        out = trainer(lift(key), lift(arch), lift(params), data, lr)[:2]
        return jax.tree.map(lambda a: a[0], out)

    return train


def evaluate(
    arch: Arch,
    params: Params,
    data: TrainData,
    eval_batch_size: int,
    forward: Forward = apply,
) -> tuple[jax.Array, jax.Array]:
    """Mean validation loss and accuracy of one member over ``data.val``.

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
