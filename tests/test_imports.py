"""The import graph of ``nasjax``: no cycles, and the layers point one way.

Every ``import`` statement of every module is read with :mod:`ast`, wherever
it stands: at module level, inside a function (a lazy import that hides a
cycle is still a cycle) or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nasjax"

APP = "nasjax.app"
#: Top-level modules that are deprecated aliases of the app (one release).
DEPRECATED_ALIASES = {
    "nasjax._deprecated",
    "nasjax.run",
    "nasjax.run_loop",
    "nasjax.run_finish",
    "nasjax.run_classify",
    "nasjax.config",
    "nasjax.checkpoint",
    "nasjax.export",
    "nasjax.cli",
    "nasjax.report",
    "nasjax.demo",
}
#: The public facade re-exports the app (``nasjax.run_search``, ...).
FACADES = {"nasjax", "nasjax.__main__"}
HYDRA = ("hydra", "omegaconf")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(p.read_text(), filename=str(p)) for name, p in MODULES.items()}


def imported_names(name: str) -> list[str]:
    """Dotted names every import statement of module ``name`` brings in."""
    tree = TREES[name]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import"
            assert node.module is not None
            names += [f"{node.module}.{alias.name}" for alias in node.names]
            names.append(node.module)
    return names


def resolve(name: str) -> str | None:
    """The ``nasjax`` module a dotted name lives in (None if outside)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        targets = set()
        for imported in imported_names(name):
            if not imported.startswith("nasjax"):
                continue
            target = resolve(imported)
            # ``from nasjax.graph import spec`` names the submodule: the
            # package itself is only the way there, unless a name of it is
            # imported (``from nasjax.graph import Arch``).
            if target is not None and target != name:
                targets.add(target)
        graph[name] = targets
    for name, targets in graph.items():
        # ``from pkg import sub`` also lists ``pkg``: drop it when only
        # submodules of it were imported by that statement.
        graph[name] = {t for t in targets if not _only_a_path(name, t)}
    return graph


def _only_a_path(importer: str, package: str) -> bool:
    """Whether every ``from package import x`` in ``importer`` imports
    submodules of ``package`` (so ``package`` is just a path)."""
    tree = TREES[importer]
    froms = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    direct = [n for n in froms if resolve(n.module or "") == package]
    if not direct:
        return False  # reached through a dotted name of one of its modules
    return all(
        f"{n.module}.{a.name}" in MODULES for n in direct for a in n.names
    ) and not any(
        isinstance(n, ast.Import) and package in (a.name for a in n.names)
        for n in ast.walk(tree)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


GRAPH = edges()


def test_the_walk_sees_every_module_and_real_edges():
    assert {"nasjax.app.run", "nasjax.train.population", "nasjax.graph.arch"} <= set(
        MODULES
    )
    assert "nasjax.app.loop" in GRAPH["nasjax.app.run"]
    # A lazy (function-level) import is an edge too: the CLI imports the
    # driver inside run_app.
    assert "nasjax.app.run" in GRAPH["nasjax.app.cli"]


def test_cycle_finder_finds_a_planted_cycle():
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(planted) == [["a", "b", "c"]]


def test_no_import_cycle():
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def _library(name: str) -> bool:
    return not (
        name == APP
        or name.startswith(APP + ".")
        or name in DEPRECATED_ALIASES
        or name in FACADES
    )


LIBRARY = sorted(n for n in MODULES if _library(n))


def test_library_layers_do_not_import_the_app():
    assert "nasjax.train.population" in LIBRARY and "nasjax.app.run" not in LIBRARY
    bad = {n: sorted(t for t in GRAPH[n] if not _library(t)) for n in LIBRARY}
    bad = {n: targets for n, targets in bad.items() if targets}
    assert not bad, f"library modules import the application layer: {bad}"


def test_no_hydra_outside_the_app():
    assert any(  # the check can fail: the app does import Hydra
        n.split(".")[0] in HYDRA for n in imported_names("nasjax.app.cli")
    )
    bad = {
        n: [i for i in imported_names(n) if i.split(".")[0] in HYDRA] for n in LIBRARY
    }
    bad = {n: names for n, names in bad.items() if names}
    assert not bad, f"only nasjax.app may import Hydra: {bad}"
