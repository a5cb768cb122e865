"""Deprecated alias of :mod:`nasjax.app.checkpoint` (kept for one release)."""

from nasjax._deprecated import moved

__getattr__ = moved("nasjax.checkpoint", "nasjax.app.checkpoint")
