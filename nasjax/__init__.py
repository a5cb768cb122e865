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
from nasjax.app import (  # noqa: E402
    AppConfig,
    Model,
    NASClassifier,
    export_onnx,
    load_model,
    run_search,
)
from nasjax.graph import Arch, ArchSpec  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AppConfig",
    "Arch",
    "ArchSpec",
    "Model",
    "NASClassifier",
    "__version__",
    "baselines",
    "data",
    "evaluate",
    "export_onnx",
    "graph",
    "load_model",
    "morph",
    "nn",
    "ops",
    "run_search",
    "search",
    "surrogate",
    "train",
]


def __getattr__(name: str):
    """``nasjax.RunConfig``: the deprecated flat configuration (one release)."""
    if name == "RunConfig":
        import warnings

        warnings.warn(
            "nasjax.RunConfig is deprecated and will be removed in the next "
            "release; use nasjax.AppConfig",
            DeprecationWarning,
            stacklevel=2,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from nasjax.run import RunConfig

        return RunConfig
    raise AttributeError(f"module 'nasjax' has no attribute {name!r}")
