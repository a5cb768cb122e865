"""nasjax: neural architecture search by network morphism + Bayesian optimisation.

Public API re-exports only.
"""

from nasjax._xla_env import configure_xla_env

configure_xla_env()

from nasjax import graph, morph, nn, ops  # noqa: E402
from nasjax.graph import Arch, ArchSpec  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Arch", "ArchSpec", "__version__", "graph", "morph", "nn", "ops"]
