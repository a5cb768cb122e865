"""Deprecated alias of :mod:`nasjax.app.cli` (kept for one release)."""

from nasjax._deprecated import moved

__getattr__ = moved("nasjax.cli", "nasjax.app.cli")
