"""Fitting fixed archs on one fold: from scratch or from given weights.

:func:`fit_archs` trains several archs of one bucket at once (the population
engine with the fold's training ids, early stopping on its validation ids)
and reports, per arch, which step was kept (:class:`ArchFit`). A kept step of
0 means the run never improved on its starting weights: for fresh weights,
an untrained model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.data.dataset import FoldedData
from nasjax.graph.arch import Arch, stack
from nasjax.nn.model import init
from nasjax.train.config import TrainConfig
from nasjax.train.data import make_train_data
from nasjax.train.plan import TrainPlan
from nasjax.train.population import member_keys, train_population
from nasjax.typing import Key, Params


class ArchFit(NamedTuple):
    """One arch fitted on one fold.

    Attributes:
        params: The kept params (bucket-sized, no batch axes): those of the
            best validation evaluation (``best_step``).
        best_step: Training step of the kept params (0: the starting ones).
        steps_trained: Steps run before early stopping (or the budget).
        budget_steps: The budget (``cfg.n_steps``).
        best_val_loss: Validation loss at ``best_step``.
        best_val_accuracy: Validation accuracy at ``best_step``.
        failed: A non-finite loss occurred.
        from_scratch: The run started from fresh weights.
    """

    params: Params
    best_step: int
    steps_trained: int
    budget_steps: int
    best_val_loss: float
    best_val_accuracy: float
    failed: bool
    from_scratch: bool

    @property
    def kept_start(self) -> bool:
        """The run never improved on its starting weights (kept step 0)."""
        return self.best_step == 0

    @property
    def untrained(self) -> bool:
        """Fresh weights were kept: the model is untrained."""
        return self.kept_start and self.from_scratch

    def record(self) -> dict[str, Any]:
        """JSON-ready description (everything but the params)."""
        return {
            "start": "scratch" if self.from_scratch else "searched",
            "best_step": self.best_step,
            "steps_trained": self.steps_trained,
            "budget_steps": self.budget_steps,
            "best_val_loss": self.best_val_loss,
            "best_val_accuracy": self.best_val_accuracy,
            "failed": self.failed,
            "kept_start": self.kept_start,
            "untrained": self.untrained,
        }


@jax.jit
def _fresh(keys: jax.Array, archs: Arch) -> Params:
    return jax.vmap(init)(keys, archs)


def fit_archs(
    key: Key,
    archs: Sequence[Arch],
    data: FoldedData,
    *,
    fold: int = -1,
    cfg: TrainConfig | None = None,
    params: Sequence[Params | None] | None = None,
) -> list[ArchFit]:
    """Train archs of one bucket together on fold ``fold``'s training ids.

    Only the fold's training ids are trained on and only its validation ids
    are evaluated (early stopping, the kept step); no other id is read.

    Args:
        key: PRNG key; arch ``i`` trains with ``fold_in(key, i)`` (as member
            ``i`` of :func:`~nasjax.train.train_population`) and starts, when
            it has no params, from ``init(fold_in(fold_in(key, 2**31 - 1), i))``.
        archs: Single archs of one bucket.
        data: The pooled dataset, its folds and per-fold normalisation.
        fold: Fold index (default the last, nearest the test block).
        cfg: Training configuration (default ``TrainConfig()``).
        params: Starting params per arch (no batch axes; None: fresh), e.g.
            the searched weights of the fold.

    Returns:
        One :class:`ArchFit` per arch, in order.
    """
    cfg = TrainConfig() if cfg is None else cfg
    n = len(archs)
    starts = [None] * n if params is None else list(params)
    if len(starts) != n:
        raise ValueError(f"{len(starts)} starting params for {n} archs")
    k = fold % data.folds.train.shape[0]
    train_data = make_train_data(
        data,
        eval_batch_size=cfg.eval_batch_size,
        max_eval_samples=cfg.max_eval_samples,
        fold_ids=(k,),
    )
    pop = stack(list(archs))
    fresh = _fresh(member_keys(jax.random.fold_in(key, 2**31 - 1), n), pop)
    given = [
        jax.tree.map(lambda x, i=i: x[i], fresh) if p is None else p
        for i, p in enumerate(starts)
    ]
    start = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *given)
    res = train_population(
        key, pop, start, train_data, cfg, plan=TrainPlan(shard=False)
    )
    m = {name: np.asarray(v)[:, 0] for name, v in res.metrics.items()}
    return [
        ArchFit(
            params=jax.tree.map(lambda x, i=i: x[i, 0], res.params),
            best_step=int(m["best_step"][i]),
            steps_trained=int(m["stopped_step"][i]),
            budget_steps=cfg.n_steps,
            best_val_loss=float(m["best_val_loss"][i]),
            best_val_accuracy=float(m["best_val_accuracy"][i]),
            failed=bool(m["failed"][i]),
            from_scratch=starts[i] is None,
        )
        for i in range(n)
    ]
