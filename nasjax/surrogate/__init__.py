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
from nasjax.surrogate.pareto import (
    chebyshev,
    normalise,
    pareto_front,
    pareto_rank,
    random_scalarisation,
    scalarised_expected_improvement,
)
from nasjax.surrogate.propose import MorphProposal, Scalarisation, propose, score

__all__ = [
    "GROUPS",
    "GPPriors",
    "GPState",
    "Hyper",
    "KernelParams",
    "Layout",
    "MorphProposal",
    "Scalarisation",
    "arch_kernel",
    "chebyshev",
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
    "normalise",
    "pareto_front",
    "pareto_rank",
    "probability_of_improvement",
    "propose",
    "random_scalarisation",
    "repad",
    "scalarised_expected_improvement",
    "score",
    "upper_confidence_bound",
]
