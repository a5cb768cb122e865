"""Deprecated alias of :mod:`nasjax.app.classify` (kept for one release)."""

from nasjax._deprecated import moved

__getattr__ = moved("nasjax.run_classify", "nasjax.app.classify")
