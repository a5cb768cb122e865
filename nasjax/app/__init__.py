"""The application: configuration, the search driver, its outputs and CLI.

Everything above the library layers lives here: the one configuration schema
(:mod:`nasjax.app.config`, also Hydra's), the search loop
(:mod:`nasjax.app.loop`) and its driver :func:`run_search`
(:mod:`nasjax.app.run`), the finish pipeline (:mod:`nasjax.app.finish` with
its :mod:`~nasjax.app.direction` and :mod:`~nasjax.app.classify` tasks),
checkpoints (:mod:`nasjax.app.checkpoint`), the exported model
(:mod:`nasjax.app.export`) and its ONNX form (:mod:`nasjax.app.onnx_export`),
the freqtrade helpers (:mod:`nasjax.app.strategy`), the command line
(:mod:`nasjax.app.cli`), the ``report.html`` of a run
(:mod:`nasjax.app.run_report`) and of a sweep (:mod:`nasjax.app.report`,
:mod:`nasjax.app.sweep_report`), the demo
(:mod:`nasjax.app.demo`) and the scikit-learn classifier
:class:`NASClassifier` (:mod:`nasjax.app.estimator`).
The library layers (``nasjax.graph``, ``nn``, ``train``, ``search``, ...)
never import this package, and only this package imports Hydra.
"""

from nasjax.app.config import AppConfig
from nasjax.app.estimator import NASClassifier
from nasjax.app.export import Model, load_model
from nasjax.app.onnx_export import export_onnx
from nasjax.app.run import run_search

__all__ = [
    "AppConfig",
    "Model",
    "NASClassifier",
    "export_onnx",
    "load_model",
    "run_search",
]
