"""The public API is curated and documented.

Every subpackage of ``musicgraph`` lists its public names in ``__all__``; every name there resolves
(a lazy name loads its module, a submodule imports); every function, class and module there has a
docstring of its own, and so has every public method of a public class (defined there or in a private
base such as ``_KeyCounts``; an override may rely on the docstring of the base it overrides). A
dataclass's generated ``__doc__`` (its signature) does not count: docstrings are read from the source.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import textwrap
import types
import warnings
from pathlib import Path
from typing import Any

import pytest

PKG = Path(__file__).resolve().parent.parent / "musicgraph"

#: ``musicgraph`` and every package directly below it.
PACKAGES = ["musicgraph"] + sorted(f"musicgraph.{p.parent.name}" for p in PKG.glob("*/__init__.py"))


def _resolve(package: str, name: str) -> Any:
    """``package.name``: a submodule when one of that name exists, else the package's attribute."""
    mod = importlib.import_module(package)
    if hasattr(mod, "__path__") and importlib.util.find_spec(f"{package}.{name}") is not None:
        return importlib.import_module(f"{package}.{name}")
    return getattr(mod, name)


def own_docstring(obj: Any) -> str | None:
    """The docstring written in ``obj``'s source (None when it has none), for modules, classes and functions."""
    if isinstance(obj, types.ModuleType):
        return obj.__doc__ or None
    obj = inspect.unwrap(obj)
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):  # built elsewhere (C, generated): trust what it carries
        return getattr(obj, "__doc__", None) or None
    node = ast.parse(source).body[0]
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)), node
    return ast.get_docstring(node) or None


def public_methods(cls: type) -> list[tuple[str, Any]]:
    """The public methods and properties ``cls`` defines, or inherits from a private base of the package
    (``_KeyCounts``); not those of public bases (checked there) and not generated ones."""
    out: dict[str, Any] = {}
    top = cls.__module__.split(".")[0]
    owners = [c for c in cls.__mro__ if c is cls or (c.__name__.startswith("_") and c.__module__.split(".")[0] == top)]
    for owner in reversed(owners):  # the most derived definition wins
        for name, attr in vars(owner).items():
            if name.startswith("_"):
                continue
            func = attr.fget if isinstance(attr, property) else getattr(attr, "__func__", attr)
            if not inspect.isfunction(func) or not func.__qualname__.startswith(owner.__qualname__ + "."):
                continue
            if func.__module__ != owner.__module__:
                continue
            out[name] = func
    return list(out.items())


def _documented_in_a_base(cls: type, name: str) -> bool:
    """Whether a base class documents the method ``name`` that ``cls`` overrides (the interface's docstring)."""
    for base in cls.__mro__[1:]:
        attr = vars(base).get(name)
        if attr is not None:
            func = attr.fget if isinstance(attr, property) else getattr(attr, "__func__", attr)
            if own_docstring(func) is not None:
                return True
    return False


def undocumented(package: str) -> list[str]:
    """The names of ``package.__all__`` (and the public methods of its classes) that have no docstring."""
    mod = importlib.import_module(package)
    missing = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in mod.__all__:
            if name.startswith("_"):
                continue
            obj = _resolve(package, name)
            if not (isinstance(obj, (types.ModuleType, type)) or inspect.isfunction(inspect.unwrap(obj))):
                continue  # constants (PRESETS, LABELS, ...) carry no docstring of their own
            if own_docstring(obj) is None:
                missing.append(f"{package}.{name}")
            if isinstance(obj, type):
                missing += [f"{package}.{name}.{m}" for m, f in public_methods(obj)
                            if own_docstring(f) is None and not _documented_in_a_base(obj, m)]
    return missing


def test_every_package_is_listed() -> None:
    assert {"musicgraph.retrieval", "musicgraph.gnn", "musicgraph.graph", "musicgraph.rag", "musicgraph.lm",
            "musicgraph.evaluation", "musicgraph.loaders", "musicgraph.export", "musicgraph.service",
            "musicgraph.cypher"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_curated_and_resolves(package: str) -> None:
    mod = importlib.import_module(package)
    assert isinstance(getattr(mod, "__all__", None), list) and mod.__all__, f"{package} has no __all__"
    assert len(set(mod.__all__)) == len(mod.__all__), f"{package}.__all__ repeats a name"
    unresolved = []
    for name in mod.__all__:
        try:
            _resolve(package, name)
        except (AttributeError, ImportError) as exc:
            unresolved.append(f"{name}: {exc}")
    assert not unresolved, unresolved


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_have_docstrings(package: str) -> None:
    assert not undocumented(package)


def test_a_missing_docstring_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself: a package whose public function and method lack docstrings is reported."""
    (tmp_path / "mg_undocumented.py").write_text(textwrap.dedent('''
        """A module."""
        from dataclasses import dataclass

        __all__ = ["Thing", "Record", "Sized", "helper", "documented", "LIMIT"]
        LIMIT = 3

        class Thing:
            """Documented."""

            def run(self):
                return 1

            @property
            def size(self):
                """Documented."""
                return 1

            def _private(self):
                return 2

        @dataclass
        class Record:
            x: int

        class _Base:
            def size(self):
                return 0

        class Sized(_Base):
            """Documented; its size() comes from a private base."""

        def helper():
            return 3

        def documented():
            """Yes."""
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert undocumented("mg_undocumented") == ["mg_undocumented.Thing.run", "mg_undocumented.Record",
                                               "mg_undocumented.Sized.size", "mg_undocumented.helper"]
