"""Data flows one way: loaders → graph → gnn / retrieval → rag → evaluation. No module imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "musicgraph"

# subpackage -> subpackages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "loaders": {"graph", "gnn", "retrieval", "rag", "evaluation", "cli", "api", "service"},
    "graph": {"gnn", "retrieval", "rag", "evaluation", "cli", "api", "service"},
    "gnn": {"retrieval", "rag", "cli", "api", "service"},
    "retrieval": {"rag", "evaluation", "cli", "api", "service"},
    "rag": {"evaluation", "cli", "api", "service"},
    "lm": {"evaluation", "cli", "api", "service"},
    "cypher": {"gnn", "retrieval", "rag", "evaluation", "cli", "api", "service"},
    "me": {"rag", "evaluation", "cli", "api", "service"},
    "export": {"gnn", "retrieval", "rag", "evaluation", "cli", "api", "me", "service"},
    "evaluation": {"cli", "service"},
    "service": {"cli", "evaluation"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return {m.split(".")[1] for m in out if m.startswith("musicgraph.") and m.count(".") >= 1}


@pytest.mark.parametrize("sub", sorted(FORBIDDEN))
def test_no_upward_imports(sub):
    bad = []
    for path in sorted((PKG / sub).rglob("*.py")):
        hit = _imports(path) & FORBIDDEN[sub]
        if hit:
            bad.append(f"{path.relative_to(PKG.parent)} imports musicgraph.{', musicgraph.'.join(sorted(hit))}")
    assert not bad, "\n".join(bad)


def test_import_musicgraph_is_light():
    import subprocess
    import sys

    code = "import sys, musicgraph, musicgraph.cli; print(','.join(m for m in ('torch', 'transformers', 'faiss', 'sentence_transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing musicgraph and its CLI loads heavy modules: {out}"
