"""The typed loop state of a training run and its bookkeeping rules.

:class:`TrainState` is a ``NamedTuple`` (a pytree: it passes through
``jit``, ``vmap``, ``lax.scan`` and ``lax.cond``). Its fields hold one
member (scalars) or a population (a leading axis ``P``). Early stopping and
failure handling are masks, never Python control flow: the best params seen
at an evaluation are kept with ``jnp.where``; after ``patience`` evaluations
without improvement (or a non-finite loss) a member's updates are frozen.

A state is also what a run hands back to be continued: it holds the
optimiser state (whose step count drives the learning-rate schedule), the
steps trained so far and the member's key, whose minibatch stream is indexed
by that global step, so training ``b1`` steps and then ``b2`` more equals
training ``b1 + b2`` in one go (:func:`nasjax.train.train_population`'s
``resume``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from nasjax.typing import Params


class TrainState(NamedTuple):
    """Per-member training state, leaves ``[...]`` (any leading shape ``S``).

    Attributes:
        params: The current params (leaves ``[*S, ...]``).
        opt_state: The optimiser state of ``params``.
        best_params: The params of the best evaluation so far.
        best_score: ``f32[*S]`` best early-stopping score (higher is better:
            accuracy or minus loss, per ``TrainConfig.stop_metric``; ``-inf``
            while none was finite).
        best_val_loss: ``f32[*S]`` validation loss at ``best_step``.
        best_val_accuracy: ``f32[*S]`` validation accuracy at ``best_step``.
        best_step: ``int32[*S]`` training step of ``best_params`` (0 = the
            initial params).
        since: ``int32[*S]`` evaluations since the last improvement.
        stopped: ``bool[*S]`` early-stopped (updates frozen).
        stopped_step: ``int32[*S]`` step of the early stop (``n_steps`` if
            never stopped).
        failed: ``bool[*S]`` a non-finite loss or score occurred (updates
            frozen).
        step: ``int32[*S]`` training steps done so far (over every call of a
            resumed run; stopped members count the steps they sat out).
        key: ``key[*S]`` the member's minibatch key: step ``t`` draws with
            ``fold_in(key, t)`` (None before a trainer sets it).
    """

    params: Params
    opt_state: Any
    best_params: Params
    best_score: jax.Array
    best_val_loss: jax.Array
    best_val_accuracy: jax.Array
    best_step: jax.Array
    since: jax.Array
    stopped: jax.Array
    stopped_step: jax.Array
    failed: jax.Array
    step: jax.Array | int = 0
    key: Any = None

    @property
    def frozen(self) -> jax.Array:
        """``bool[*S]``: stopped or failed (no more updates)."""
        return self.stopped | self.failed


def where_members(pred: jax.Array, a, b):
    """Leafwise ``where`` with ``pred`` broadcast from the leading axes.

    ``pred`` is ``bool[]`` for one member or ``bool[P]`` for a population whose
    leaves are ``[P, ...]``.
    """

    def pick(x, y):
        return jnp.where(pred.reshape(pred.shape + (1,) * (x.ndim - pred.ndim)), x, y)

    return jax.tree.map(pick, a, b)


def initial_state(
    params: Params,
    opt_state,
    val_loss: jax.Array,
    val_acc: jax.Array,
    score: jax.Array,
    n_steps: int,
    key: Any = None,
) -> TrainState:
    """The state before the first step, from the evaluation of ``params``.

    Args:
        params: Starting params, leaves ``[*S, ...]``.
        opt_state: Their fresh optimiser state.
        val_loss: ``f32[*S]`` validation loss of ``params``.
        val_acc: ``f32[*S]`` validation accuracy of ``params``.
        score: ``f32[*S]`` selection metric of ``params``.
        n_steps: Total training steps (the ``stopped_step`` of a full run).
        key: The member's minibatch key (``key[*S]``), or None.
    """
    ok = jnp.isfinite(score)
    zeros = jnp.zeros(score.shape, jnp.int32)
    return TrainState(
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
        step=zeros,
        key=key,
    )


def updated_state(
    state: TrainState,
    params: Params,
    opt_state,
    val_loss: jax.Array,
    val_acc: jax.Array,
    score: jax.Array,
    bad: jax.Array,
    step: jax.Array | int,
    patience: int,
) -> TrainState:
    """The state after an evaluation: best params, early stopping, failures.

    Args:
        state: The state at the previous evaluation.
        params: Params now, already frozen (equal to ``state.params``) for
            stopped or failed members.
        opt_state: Their optimiser state (frozen likewise).
        val_loss: ``f32[*S]`` validation loss of ``params``.
        val_acc: ``f32[*S]`` validation accuracy of ``params``.
        score: ``f32[*S]`` selection metric of ``params``.
        bad: ``bool[*S]`` a non-finite loss or score in this stretch.
        step: ``int32[]`` training steps done.
        patience: Evaluations without improvement before stopping (0: never).
    """
    frozen = state.frozen
    failed = state.failed | (bad & ~frozen)
    improved = (score > state.best_score) & ~frozen & ~failed
    since = jnp.where(improved, 0, state.since + 1).astype(jnp.int32)
    stop_now = (patience > 0) & (since >= patience) & ~frozen
    return TrainState(
        params=params,
        opt_state=opt_state,
        best_params=where_members(improved, params, state.best_params),
        best_score=jnp.where(improved, score, state.best_score),
        best_val_loss=jnp.where(improved, val_loss, state.best_val_loss),
        best_val_accuracy=jnp.where(improved, val_acc, state.best_val_accuracy),
        best_step=jnp.where(improved, step, state.best_step),
        since=since,
        stopped=state.stopped | stop_now,
        stopped_step=jnp.where(stop_now, step, state.stopped_step),
        failed=failed,
        step=jnp.zeros(since.shape, jnp.int32) + step,
        key=state.key,
    )


def resumed_state(state: TrainState, n_steps: int) -> TrainState:
    """``state`` ready to train ``n_steps`` more: a member never stopped now
    reports ``stopped_step`` = the steps it will have trained."""
    step = jnp.asarray(state.step, jnp.int32)
    return state._replace(
        step=step,
        stopped_step=jnp.where(state.stopped, state.stopped_step, step + n_steps),
    )


def final_metrics(
    state: TrainState,
    train_loss: jax.Array,
    val_loss: jax.Array,
    val_acc: jax.Array,
    metric: str | None = None,
) -> dict[str, jax.Array]:
    """The metrics dict of a finished run.

    Args:
        state: The final state, fields ``[*S]``.
        train_loss: ``f32[*S, n_evals]`` mean training loss per stretch.
        val_loss: ``f32[*S, n_evals]`` validation loss per evaluation.
        val_acc: ``f32[*S, n_evals]`` validation accuracy per evaluation.
        metric: The fitness metric reported as ``best_score`` (``"accuracy"``
            or ``"loss"``: minus the loss) at the kept params; None reports
            the early-stopping score itself.

    Returns:
        ``best_score`` (the fitness metric at ``best_step``),
        ``best_val_accuracy``, ``best_val_loss`` (NaN if
        failed), ``best_step``, ``final_val_accuracy``, ``final_val_loss``,
        ``stopped_step``, ``failed`` (each ``[*S]``) and the curves
        ``train_loss``, ``val_loss``, ``val_accuracy`` (``[*S, n_evals]``).
    """
    failed = state.failed
    if metric is None:
        score = state.best_score
    elif metric == "accuracy":
        score = state.best_val_accuracy
    else:
        score = -state.best_val_loss
    return {
        "best_score": jnp.where(failed, jnp.nan, score),
        "best_val_accuracy": jnp.where(failed, jnp.nan, state.best_val_accuracy),
        "best_val_loss": jnp.where(failed, jnp.nan, state.best_val_loss),
        "best_step": state.best_step,
        "final_val_accuracy": val_acc[..., -1],
        "final_val_loss": val_loss[..., -1],
        "stopped_step": state.stopped_step,
        "failed": failed,
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_accuracy": val_acc,
    }
