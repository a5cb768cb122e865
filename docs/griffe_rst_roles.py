"""Griffe extension for the API reference: Sphinx roles -> cross-references.

Many nasjax docstrings name other objects with Sphinx roles
(``:func:`~nasjax.nn.apply```). Markdown does not know them, so this extension
rewrites each role, when griffe loads the package, into an optional autorefs
link: a link where the target is documented, plain code where it is not (so
the strict build never fails on such a reference). Names without a module
path are resolved in the scope of the docstring's object.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`<>]+?)`"
)


def _identifier(obj: griffe.Object, target: str) -> str:
    target = target.lstrip(".")
    if target.startswith("nasjax"):
        return target
    scope = obj if obj.is_module or obj.is_class else obj.parent
    first, _, rest = target.partition(".")
    while scope is not None:
        try:
            full = scope.resolve(first)
        except griffe.NameResolutionError:
            scope = scope.parent
            continue
        return f"{full}.{rest}" if rest else full
    return target


class RstRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Walk the package once it is loaded."""
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:

            def ref(m: re.Match[str], obj: griffe.Object = obj) -> str:
                target = m[2].strip()
                title = target.rsplit(".", 1)[-1] if m[1] else target
                ident = _identifier(obj, target)
                return f'<autoref identifier="{ident}" optional><code>{title}</code></autoref>'

            obj.docstring.value = _ROLE.sub(ref, obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)  # type: ignore[arg-type]
