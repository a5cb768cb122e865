"""Deprecated alias of :mod:`nasjax.app.config` (kept for one release)."""

from nasjax._deprecated import moved

__getattr__ = moved("nasjax.config", "nasjax.app.config")
