"""Lazy package attributes: a subpackage's curated names load their module on first use.

``musicgraph.retrieval`` and ``musicgraph.gnn`` list their public names in ``__all__`` without importing
FAISS, torch or the encoder: each package's ``__getattr__`` is :func:`lazy_getattr` over a table
name -> module. Names that moved elsewhere stay importable from their old module for a while, with a
DeprecationWarning: that module's ``__getattr__`` is :func:`moved_getattr` over a table old name -> new home.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr", "moved_getattr"]


def lazy_getattr(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``table[name]`` and returns its ``name``.

    Args:
        package: the package's ``__name__`` (for the AttributeError of unknown names).
        table: public name -> the module that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


def moved_getattr(module: str, moved: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``module`` that serves names which moved, with a DeprecationWarning.

    Args:
        module: the old module's ``__name__``.
        moved: old name -> ``"new.module:new_name"`` (``new_name`` may differ from the old name).

    Returns:
        the ``__getattr__``: it warns ``"<module>.<old> is deprecated; use <new.module>.<new_name>"`` and
        returns the object; any other name raises AttributeError.
    """

    def __getattr__(name: str) -> Any:
        if name in moved:
            target, new = moved[name].split(":")
            warnings.warn(f"{module}.{name} is deprecated; use {target}.{new}", DeprecationWarning, stacklevel=2)
            return getattr(importlib.import_module(target), new)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
