"""Docs that cite code are right: every cited file exists and every cited ``musicgraph.x.y`` name resolves.

Scanned: the Python sources of the package and of benchmarks/, README.md and docs/*.md. Checked:

* repository paths ``benchmarks/<name>.py``, ``musicgraph/<path>.py``, ``docs/<name>.md`` and
  ``tests/<path>.py`` (the package once cited ``benchmarks/bench_ppr.py``, which did not exist);
* relative Markdown links of README.md and docs/*.md (``[text](docs/rag.md#anchor)``, ``[x](lm.md)``);
* fully qualified names in Sphinx roles and code spans (``:func:`musicgraph.lm.weights.ensure_base```,
  ```musicgraph.retrieve```): the module exists and defines (or lazily serves) the name;
* short names in Sphinx roles of the package's sources (``:func:`lexicon_params```,
  ``:meth:`ItemSpace.select```): the last part is defined somewhere in the package (a function, class,
  attribute or ``self.`` attribute), imported by the citing module, or a builtin. Weaker than the
  check above (any definition of that name will do), it still catches names that no longer exist.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
import warnings
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (sorted((ROOT / "musicgraph").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
           + [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md")))

#: A repository path; not part of a longer path (``~/.cache/musicgraph/encoders``, ``$HOME/docs/x.md``).
PATH_RE = re.compile(r"(?<![\w./~$-])((?:benchmarks|musicgraph|docs|tests)/[\w./-]*?\w\.(?:py|md))(?![\w/])")
#: The target of a Markdown link that is neither a URL nor an anchor in the same page.
LINK_RE = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)(?:#[^)]*)?\)")
#: The target of a Sphinx role (``~`` and a leading ``.`` dropped).
ROLE_RE = re.compile(r":(?:func|class|meth|attr|data|exc|obj):`~?\.?([A-Za-z_][\w.]*)`")
#: A fully qualified musicgraph name in a Sphinx role or a code span.
NAME_RE = re.compile(r"(?::[a-z]+:`~?|``?)(musicgraph(?:\.\w+)+)(?:\(\))?`")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def cited_paths(text: str) -> list[tuple[int, str]]:
    """(line number, path) of every repository path cited in ``text``."""
    return [(n, m.group(1)) for n, line in enumerate(text.splitlines(), 1) for m in PATH_RE.finditer(line)]


def cited_names(text: str) -> list[tuple[int, str]]:
    """(line number, dotted name) of every fully qualified ``musicgraph`` name cited in ``text``."""
    return [(n, m.group(1)) for n, line in enumerate(text.splitlines(), 1) for m in NAME_RE.finditer(line)]


MODULES = {
    ".".join(p.relative_to(ROOT).with_suffix("").parts[:-1] if p.name == "__init__.py"
             else p.relative_to(ROOT).with_suffix("").parts): p
    for p in (ROOT / "musicgraph").rglob("*.py")
}


@cache
def _defined(module: str) -> dict[str, set[str]]:
    """Top-level names a module binds (definitions, assignments, imports) -> the names its classes define."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            members = out.setdefault(node.name, set())
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        members.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        members.add(item.target.id)
                    elif isinstance(item, ast.Assign):
                        members.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, set())
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.setdefault(node.target.id, set())
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                out.setdefault((alias.asname or alias.name).split(".")[0], set())
    return out


@cache
def _all_names() -> frozenset[str]:
    """Every name the package defines anywhere: functions, classes, members, assignments, ``self.`` attributes."""
    names: set[str] = set()
    for module, path in MODULES.items():
        for members in _defined(module).values():
            names.update(members)
        names.update(_defined(module))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return frozenset(names)


def short_name_resolves(module: str, target: str) -> bool:
    """Whether a short role target cited in ``module`` can name something (see the module docstring)."""
    head, last = target.split(".")[0], target.split(".")[-1]
    return head in _defined(module) or last in _all_names() or hasattr(builtins, last)


def name_resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a musicgraph module, or something a module defines (statically or on access)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        if module not in MODULES:
            continue
        rest = parts[i:]
        if not rest:
            return True
        defined = _defined(module)
        if rest[0] in defined and (len(rest) == 1 or rest[1] in defined[rest[0]] or not defined[rest[0]]):
            return True
        # served by a module __getattr__ (lazy or deprecated names): look it up for real
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                obj = importlib.import_module(module)
                for part in rest:
                    obj = getattr(obj, part)
        except (ImportError, AttributeError):
            return False
        return True
    return False


def _broken() -> list[str]:
    broken = []
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        broken += [f"{_rel(source)}:{n}: {path}" for n, path in cited_paths(text) if not (ROOT / path).exists()]
        broken += [f"{_rel(source)}:{n}: {name}" for n, name in cited_names(text) if not name_resolves(name)]
        module = next((m for m, p in MODULES.items() if p == source), None)
        if module is not None:
            for n, line in enumerate(text.splitlines(), 1):
                for m in ROLE_RE.finditer(line):
                    target = m.group(1)
                    if not target.startswith("musicgraph.") and not short_name_resolves(module, target):
                        broken.append(f"{_rel(source)}:{n}: {target}")
        if source.suffix == ".md":
            for n, line in enumerate(text.splitlines(), 1):
                for m in LINK_RE.finditer(line):
                    if not (source.parent / m.group(1)).exists():
                        broken.append(f"{_rel(source)}:{n}: link {m.group(1)}")
    return broken


def test_cited_files_and_names_exist() -> None:
    broken = _broken()
    assert not broken, "stale references:\n" + "\n".join(broken)


def test_the_scanners_find_what_they_should() -> None:
    text = ("see ``benchmarks/bench_ppr.py`` and musicgraph/graph/store.py (docs/rag.md), not\n"
            "~/.cache/musicgraph/encoders/x.py nor musicgraph/cli/<area>.py; :func:`musicgraph.lm.weights.nope`,\n"
            ":class:`~musicgraph.graph.store.GraphStore`, ``musicgraph.retrieve``")
    assert cited_paths(text) == [(1, "benchmarks/bench_ppr.py"), (1, "musicgraph/graph/store.py"),
                                 (1, "docs/rag.md")]
    assert cited_names(text) == [(2, "musicgraph.lm.weights.nope"), (3, "musicgraph.graph.store.GraphStore"),
                                 (3, "musicgraph.retrieve")]
    assert not (ROOT / "benchmarks/bench_ppr.py").exists()
    assert not name_resolves("musicgraph.lm.weights.nope")
    assert not name_resolves("musicgraph.graph.store.GraphStore.no_such_method")
    assert not name_resolves("musicgraph.no_such_module")
    assert name_resolves("musicgraph.graph.store.GraphStore.neighbors")
    assert name_resolves("musicgraph.retrieve")  # served lazily by musicgraph.__getattr__
    assert [m.group(1) for m in ROLE_RE.finditer(":func:`to_params` :meth:`~.ItemSpace.select`")] == [
        "to_params", "ItemSpace.select"]
    assert not short_name_resolves("musicgraph.lm.params", "to_params")  # cited there until it was fixed
    assert short_name_resolves("musicgraph.lm.params", "lexicon_params")
    assert short_name_resolves("musicgraph.retrieval.filters", "ItemSpace.select")
    assert short_name_resolves("musicgraph.loaders.base", "FileNotFoundError")
