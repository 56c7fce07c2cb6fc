"""DirectoryIndex: the exists / load / skip setup shared by the derived indexes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musicgraph.graph.catalog import ChangeSet
from musicgraph.graph.check import DerivedIndex, DirectoryIndex


@dataclass(slots=True)
class _Counts(DirectoryIndex):
    directory: Path
    name: str = "counts"
    title = "counts index"
    marker = "counts.txt"

    def load(self) -> int:
        return int((self.directory / self.marker).read_text())

    def apply_loaded(self, store: Any, index: int, changes: ChangeSet | None) -> dict[str, Any]:
        added = sum(len(k) for k in changes.added.values()) if changes is not None else 0
        (self.directory / self.marker).write_text(str(index + added))
        return {"size": index + added}

    def check(self, store: Any) -> list:
        return []

    def repair(self, store: Any, issues: Any) -> list[str]:
        return []


def test_skips_without_the_marker_and_applies_the_loaded_index(tmp_path: Path) -> None:
    idx = _Counts(tmp_path)
    assert isinstance(idx, DerivedIndex)
    changes = ChangeSet()
    changes.note("added", "Song", ["a|x", "b|y"])
    assert not idx.exists()
    assert idx.apply(None, changes) == {"skipped": f"no counts index in {tmp_path}"}
    assert not (tmp_path / "counts.txt").exists()  # a skip writes nothing
    (tmp_path / "counts.txt").write_text("3")
    assert idx.exists()
    assert idx.apply(None, changes) == {"size": 5}
    assert idx.apply(None, None) == {"size": 5}
