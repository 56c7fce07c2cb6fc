"""No import cycles at module load: the graph of module-level imports between musicgraph modules is acyclic.

Imports inside functions and under ``if TYPE_CHECKING:`` run later (or never) and do not count. Importing
``a.b.c`` also runs the ``__init__`` of ``a.b`` (and ``a``): those edges count too, except to the
packages the importing module lives in (a package's ``__init__`` may import its own submodules).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "musicgraph"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _load_time_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported (not in functions or TYPE_CHECKING)."""
    out: list[ast.Import | ast.ImportFrom] = []

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out.append(node)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try, ast.With)):
                visit(node.body)
                for h in getattr(node, "handlers", []):
                    visit(h.body)
                visit(getattr(node, "orelse", []))
                visit(getattr(node, "finalbody", []))
            elif isinstance(node, ast.ClassDef):
                visit(node.body)

    visit(tree.body)
    return out


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    names: set[str] = set()
    if isinstance(node, ast.Import):
        names = {a.name for a in node.names}
    else:
        base = node.module or ""
        if node.level:
            pkg = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
            for _ in range(node.level - 1):
                pkg = pkg.rsplit(".", 1)[0]
            base = f"{pkg}.{base}" if base else pkg
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            names.add(sub if sub in MODULES else base)
    out = set()
    for name in names:
        if not name.startswith("musicgraph"):
            continue
        while name not in MODULES and "." in name:
            name = name.rsplit(".", 1)[0]
        parts = name.split(".")
        for i in range(2, len(parts) + 1):  # the target and the packages above it, whose __init__ runs first
            dep = ".".join(parts[:i])
            if dep != module and not module.startswith(dep + "."):
                out.add(dep)
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = set().union(*(_targets(module, n) for n in _load_time_imports(tree))) & set(MODULES)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = dfs(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def test_module_level_imports_have_no_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle at module load: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("sub", ["musicgraph.retrieval", "musicgraph.gnn", "musicgraph.rag", "musicgraph.loaders",
                                 "musicgraph.graph", "musicgraph.evaluation"])
def test_every_name_in_a_subpackage_all_is_importable(sub: str) -> None:
    mod = importlib.import_module(sub)
    missing = []
    for name in getattr(mod, "__all__", ()):
        try:
            if f"{sub}.{name}" in MODULES:  # a submodule listed for ``import *``
                importlib.import_module(f"{sub}.{name}")
            else:
                getattr(mod, name)
        except (AttributeError, ImportError) as exc:
            missing.append(f"{name}: {exc}")
    assert hasattr(mod, "__all__") and not missing, missing
