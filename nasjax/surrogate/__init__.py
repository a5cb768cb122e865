"""GP surrogate over architectures: encoding, kernel, NumPyro GP, acquisitions."""

from nasjax.surrogate.acquisition import (
    expected_improvement,
    log_expected_improvement,
    log_probability_of_improvement,
    probability_of_improvement,
    upper_confidence_bound,
)
from nasjax.surrogate.batch import kriging_believer, repad
from nasjax.surrogate.encode import GROUPS, Layout, encode, encode_population, layout
from nasjax.surrogate.gp import GPState, Hyper, fit_compiles, fit_gp
from nasjax.surrogate.kernels import KernelParams, arch_kernel, matern52
from nasjax.surrogate.model import GPPriors, gp_model
from nasjax.surrogate.pareto import pareto_front, random_scalarisation
from nasjax.surrogate.propose import MorphProposal, propose, score

__all__ = [
    "GROUPS",
    "GPPriors",
    "GPState",
    "Hyper",
    "KernelParams",
    "Layout",
    "MorphProposal",
    "arch_kernel",
    "encode",
    "encode_population",
    "expected_improvement",
    "fit_compiles",
    "fit_gp",
    "gp_model",
    "kriging_believer",
    "layout",
    "log_expected_improvement",
    "log_probability_of_improvement",
    "matern52",
    "pareto_front",
    "probability_of_improvement",
    "propose",
    "random_scalarisation",
    "repad",
    "score",
    "upper_confidence_bound",
]
