"""Old import paths of the driver, kept for one release.

The driver moved into :mod:`nasjax.app` (``nasjax.run`` -> ``nasjax.app.run``,
``nasjax.run_loop`` -> ``nasjax.app.loop``, ``nasjax.config`` ->
``nasjax.app.config``, ...). Each old module is a thin alias that warns once
on import and forwards every attribute to its new home.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def moved(old: str, new: str) -> Callable[[str], Any]:
    """Warn that module ``old`` moved to ``new``; its ``__getattr__``.

    Args:
        old: Dotted name of the old module (``"nasjax.run_loop"``).
        new: Dotted name of the module it moved to.

    Returns:
        A module ``__getattr__`` forwarding names to ``new``.
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; "
        f"import from {new} instead",
        DeprecationWarning,
        stacklevel=3,
    )
    target = importlib.import_module(new)

    def forward(name: str) -> Any:
        try:
            return getattr(target, name)
        except AttributeError:
            raise AttributeError(
                f"module {old!r} (moved to {new!r}) has no attribute {name!r}"
            ) from None

    return forward
