"""Training: one loop (:mod:`~nasjax.train.trainer`) over populations.

``train_population(key, archs, params, data, cfg, plan=TrainPlan(...))``
trains a population of one bucket on every fold; the
:class:`~nasjax.train.plan.TrainPlan`'s strategy picks the population
forward pass. ``make_train(cfg)`` is the same loop for one member.
"""

from nasjax.train.config import TrainConfig
from nasjax.train.data import (
    FOLD_AXES,
    TrainData,
    make_train_data,
    select_fold,
    split_ids,
)
from nasjax.train.loss import class_weights, cross_entropy
from nasjax.train.memory import member_bytes, param_bytes, plan_chunk
from nasjax.train.optim import make_optimizer, make_schedule
from nasjax.train.plan import (
    UNROLL_MIN_MEMBER_STEPS,
    Auto,
    DispatchedOps,
    ScheduledOps,
    TrainPlan,
    VmappedSwitch,
    choose_node_loop,
)
from nasjax.train.population import (
    PopulationResult,
    as_train_data,
    compiled_trainer,
    member_keys,
    train_population,
)
from nasjax.train.predict import predict_proba
from nasjax.train.state import TrainState
from nasjax.train.trainer import (
    evaluate,
    make_population_trainer,
    make_train,
    over_folds,
)

__all__ = [
    "FOLD_AXES",
    "UNROLL_MIN_MEMBER_STEPS",
    "Auto",
    "DispatchedOps",
    "PopulationResult",
    "ScheduledOps",
    "TrainConfig",
    "TrainData",
    "TrainPlan",
    "TrainState",
    "VmappedSwitch",
    "as_train_data",
    "choose_node_loop",
    "class_weights",
    "compiled_trainer",
    "cross_entropy",
    "evaluate",
    "make_optimizer",
    "make_population_trainer",
    "make_schedule",
    "make_train",
    "make_train_data",
    "member_bytes",
    "member_keys",
    "over_folds",
    "param_bytes",
    "plan_chunk",
    "predict_proba",
    "select_fold",
    "split_ids",
    "train_population",
]
