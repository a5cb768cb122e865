"""Deprecated alias of :mod:`nasjax.app.loop` (kept for one release)."""

from nasjax._deprecated import moved

__getattr__ = moved("nasjax.run_loop", "nasjax.app.loop")
