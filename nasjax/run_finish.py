"""Deprecated alias of :mod:`nasjax.app.finish` (kept for one release)."""

from nasjax._deprecated import moved

__getattr__ = moved("nasjax.run_finish", "nasjax.app.finish")
