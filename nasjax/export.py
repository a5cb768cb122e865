"""Deprecated alias of :mod:`nasjax.app.export` (kept for one release)."""

from nasjax._deprecated import moved

__getattr__ = moved("nasjax.export", "nasjax.app.export")
