"""Training: ``make_train(cfg)`` and ``jit(vmap(train))`` over populations."""

from nasjax.train.config import TrainConfig
from nasjax.train.data import (
    FOLD_AXES,
    TrainData,
    make_train_data,
    select_fold,
    split_ids,
)
from nasjax.train.dispatch_loop import make_population_train
from nasjax.train.loop import evaluate, make_train
from nasjax.train.loss import class_weights, cross_entropy
from nasjax.train.memory import member_bytes, param_bytes, plan_chunk
from nasjax.train.optim import make_optimizer, make_schedule
from nasjax.train.population import (
    PopulationResult,
    choose_node_loop,
    dispatch_population_fn,
    member_keys,
    population_fn,
    train_population,
)
from nasjax.train.predict import predict_proba

__all__ = [
    "FOLD_AXES",
    "PopulationResult",
    "TrainConfig",
    "TrainData",
    "choose_node_loop",
    "class_weights",
    "cross_entropy",
    "dispatch_population_fn",
    "evaluate",
    "make_optimizer",
    "make_population_train",
    "make_schedule",
    "make_train",
    "make_train_data",
    "member_bytes",
    "member_keys",
    "param_bytes",
    "plan_chunk",
    "population_fn",
    "predict_proba",
    "select_fold",
    "split_ids",
    "train_population",
]
