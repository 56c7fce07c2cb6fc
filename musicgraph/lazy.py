"""Lazy package attributes: a subpackage's curated names load their module on first use.

``musicgraph.retrieval`` and ``musicgraph.gnn`` list their public names in ``__all__`` without importing
FAISS, torch or the encoder: each package's ``__getattr__`` is :func:`lazy_getattr` over a table
name -> module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


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
