"""Deprecated alias of :mod:`nasjax.app.demo` (kept for one release)."""

from nasjax._deprecated import moved

__getattr__ = moved("nasjax.demo", "nasjax.app.demo")
