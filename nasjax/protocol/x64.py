"""64-bit mode for the protocol core, scoped instead of global.

Token balances are ``int64`` micro-tokens, which JAX only keeps in 64-bit
mode. Rather than flipping ``jax_enable_x64`` for the whole process (which
would change every other nasjax computation), the protocol's entry points run
inside ``jax.enable_x64(True)``; inside an already-64-bit trace nothing
changes.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import jax

_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextlib.contextmanager
def x64_mode() -> Iterator[None]:
    """Run the body in 64-bit mode (a no-op when it is already on)."""
    if jax.config.read("jax_enable_x64"):
        yield
    else:
        with jax.enable_x64(True):
            yield


def x64(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate ``fn`` so that it always runs in 64-bit mode."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with x64_mode():
            return fn(*args, **kwargs)

    return wrapper
