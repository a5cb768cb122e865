"""nasjax: neural architecture search by network morphism + Bayesian optimisation.

Public API re-exports only.
"""

from nasjax._xla_env import configure_xla_env

configure_xla_env()

from nasjax import (  # noqa: E402
    baselines,
    data,
    evaluate,
    graph,
    morph,
    nn,
    ops,
    search,
    surrogate,
    train,
)
from nasjax.graph import Arch, ArchSpec  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Arch",
    "ArchSpec",
    "__version__",
    "baselines",
    "data",
    "evaluate",
    "graph",
    "morph",
    "nn",
    "ops",
    "search",
    "surrogate",
    "train",
]
