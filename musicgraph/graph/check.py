"""Consistency checks between the graph store and everything derived from it (``musicgraph check``).

The graph store is the record; indexes derived from it (retrieval: catalog, BM25, FAISS, emotion
profiles; GNN embeddings) can drift after crashes, partial writes or manual edits. :func:`run_check`
asks the store itself for integrity problems (:func:`check_graph`: relationships whose endpoints are
gone, endpoint pairs outside the schema, songs whose lyrics text is missing) and every registered
derived index for its own (counts, ids, stale or orphan entries, embedding dimensions), then, with
``repair=True``, lets each index rebuild only the parts its issues name.

Derived indexes live in higher layers (retrieval, gnn), so this module only defines the protocol
(:class:`DerivedIndex`); the CLI passes the concrete implementations in.
"""

from __future__ import annotations

import gc
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from musicgraph.errors import MusicgraphError
from musicgraph.graph.schema import ENDPOINTS, LABELS, REL_TYPES
from musicgraph.graph.store import GraphStore

if TYPE_CHECKING:
    from musicgraph.graph.catalog import ChangeSet

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Issue:
    """One inconsistency.

    Attributes:
        component: what is wrong (``graph``, ``catalog``, ``bm25``, ``dense``, ``emotion``, ``gnn``...).
        kind: ``missing``, ``stale``, ``orphan``, ``count``, ``dimension``, ``corrupt``, ``outdated``...
        message: a sentence naming what and where.
        items: the ids concerned (may be truncated in reports).
        repair: the repair action the owning index understands (``None``: nothing to do automatically).
    """

    component: str
    kind: str
    message: str
    items: list[str] = field(default_factory=list)
    repair: str | None = None

    def to_dict(self, max_items: int = 20) -> dict[str, Any]:
        d = asdict(self)
        d["count"] = len(self.items)
        d["items"] = self.items[:max_items]
        return d


class IndexFileError(MusicgraphError, ValueError):
    """An index file that cannot be read (truncated, corrupt, inconsistent); the message names it.

    Attributes:
        path: the file.
        part: the index part it belongs to (``catalog``, ``catalog-arrays``, ``bm25``, ``emotion``, ``dense``,
            ``dense-vectors``, ``manifest``), which :meth:`RetrievalIndexes.repair` rebuilds.
    """

    def __init__(self, path: Path, part: str, problem: str):
        self.path = Path(path)
        self.part = part
        super().__init__(f"{path}: unreadable index file ({problem}); run `musicgraph check --repair`")


_GC_LOCK = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (nested and concurrent blocks: off until the last ends).

    Parsing a large JSON file creates hundreds of thousands of lists and dicts, and the collections they
    trigger walk every object already loaded: the song catalog's parse took 1.6-3x longer with it on.
    The collector is switched back on only if it was on before the first block began.
    """
    global _gc_pauses, _gc_was_enabled
    with _GC_LOCK:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def read_index_file(path: Path, part: str, read: Any) -> Any:
    """``read()`` with any failure (other than a missing file) turned into :class:`IndexFileError` naming ``path``.

    ``read`` runs with the garbage collector paused (:func:`gc_paused`): index files are bulk data.
    """
    try:
        with gc_paused():
            return read()
    except FileNotFoundError:
        raise
    except IndexFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated zip, bad pickle, JSON, shape... all name the file
        raise IndexFileError(path, part, f"{type(exc).__name__}: {exc}") from None


@runtime_checkable
class DerivedIndex(Protocol):
    """An index derived from the graph store (retrieval bundle, GNN embeddings)."""

    name: str

    def apply(self, store: GraphStore, changes: ChangeSet | None = None) -> dict[str, Any]:
        """Bring the index up to date after catalog changes (incrementally); ``None``: sync with the whole store."""

    def check(self, store: GraphStore) -> list[Issue]:
        """Compare the index with the store."""

    def repair(self, store: GraphStore, issues: Sequence[Issue]) -> list[str]:
        """Fix ``issues`` by rebuilding only what they name; returns what was done."""


    # Optional: ``updating()``, a context manager that keeps readers of the index out while a catalog
    # change commits to the store and updates the index (see CatalogEditor).


class DirectoryIndex(ABC):
    """The shared setup of a :class:`DerivedIndex` kept in a directory: it exists when its
    :attr:`marker` file does, :meth:`load` reads it, and :meth:`apply` skips (says so, changes
    nothing) when it was never built, else hands the loaded index to :meth:`apply_loaded`.

    Subclasses set ``name``, ``title``, ``marker`` and ``directory``.
    """

    __slots__ = ()

    name: str
    directory: Path
    #: what the index is, for messages ("GNN index")
    title: str = "index"
    #: the file (relative to ``directory``) whose presence means the index has been built
    marker: str = ""

    def exists(self) -> bool:
        """Whether the index has been built in :attr:`directory`."""
        return (Path(self.directory) / self.marker).is_file()

    @abstractmethod
    def load(self) -> Any:
        """Read the index from :attr:`directory`."""

    def apply(self, store: GraphStore, changes: ChangeSet | None = None) -> dict[str, Any]:
        """:meth:`apply_loaded` on the loaded index; ``{"skipped": ...}`` when none was built."""
        if not self.exists():
            return {"skipped": f"no {self.title} in {self.directory}"}
        return self.apply_loaded(store, self.load(), changes)

    @abstractmethod
    def apply_loaded(self, store: GraphStore, index: Any, changes: ChangeSet | None) -> dict[str, Any]:
        """Bring ``index`` up to date after ``changes`` (``None``: sync with the whole store)."""


@dataclass(slots=True)
class CheckReport:
    """Result of :func:`run_check`."""

    issues: list[Issue] = field(default_factory=list)
    repaired: dict[str, list[str]] = field(default_factory=dict)
    remaining: list[Issue] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No issue left (none found, or all repaired)."""
        return not (self.remaining if self.repaired else self.issues)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "issues": [i.to_dict() for i in self.issues],
                "repaired": self.repaired, "remaining": [i.to_dict() for i in self.remaining]}


def check_graph(store: GraphStore) -> list[Issue]:
    """Integrity of the store itself: dangling relationships, schema endpoints, missing lyric texts."""
    issues: list[Issue] = []
    keys = {label: set(store.node_keys(label)) for label in LABELS}
    for rel in REL_TYPES:
        dangling, bad_pair = [], []
        for e in store.iter_edges(rel):
            if (e.src.label, e.dst.label) not in ENDPOINTS[rel]:
                bad_pair.append(f"{e.src}->{e.dst}")
            if e.src.key not in keys.get(e.src.label, ()) or e.dst.key not in keys.get(e.dst.label, ()):
                dangling.append(f"{e.src}->{e.dst}")
        if dangling:
            issues.append(Issue("graph", "orphan", f"{len(dangling)} {rel} relationships point at missing nodes",
                                items=dangling, repair="graph-edges"))
        if bad_pair:
            issues.append(Issue("graph", "schema", f"{len(bad_pair)} {rel} relationships join labels the schema "
                                "does not allow", items=bad_pair))
    refs = {n.key: str(n.props["lyrics_ref"]) for n in store.iter_nodes("Song") if n.props.get("lyrics_ref")}
    if refs:
        have = store.get_texts(set(refs.values()))
        lost = sorted(k for k, r in refs.items() if r not in have)
        if lost:
            issues.append(Issue("graph", "missing", f"{len(lost)} songs reference lyrics texts the store lacks",
                                items=lost))
    return issues


def _repair_graph(store: GraphStore, issues: Sequence[Issue]) -> list[str]:
    """Delete dangling relationships (the only graph problem with an unambiguous fix)."""
    done = []
    for issue in issues:
        if issue.repair != "graph-edges":
            continue
        n = 0
        for item in issue.items:
            src, dst = item.split("->", 1)
            sl, sk = src.split(":", 1)
            dl, dk = dst.split(":", 1)
            rel = issue.message.split()[1]
            n += store.delete_edges(rel, sl, dl, [(sk, dk)])
        done.append(f"graph: deleted {n} dangling relationships")
    return done


def run_check(store: GraphStore, indexes: Sequence[DerivedIndex] = (), repair: bool = False) -> CheckReport:
    """Check the store and every derived index; with ``repair``, fix what can be fixed and re-check."""
    rep = CheckReport()
    rep.checked.append(f"graph ({store.backend})")
    graph_issues = check_graph(store)
    per_index: dict[str, list[Issue]] = {}
    for idx in indexes:
        rep.checked.append(idx.name)
        per_index[idx.name] = idx.check(store)
    rep.issues = graph_issues + [i for issues in per_index.values() for i in issues]
    for issue in rep.issues:
        log.warning("check: %s/%s: %s", issue.component, issue.kind, issue.message)
    if not repair or not rep.issues:
        return rep
    if graph_issues:
        done = _repair_graph(store, graph_issues)
        if done:
            rep.repaired["graph"] = done
    for idx in indexes:
        issues = per_index[idx.name]
        fixable = [i for i in issues if i.repair]
        if fixable:
            rep.repaired[idx.name] = idx.repair(store, fixable)
    rep.remaining = check_graph(store) + [i for idx in indexes for i in idx.check(store)]
    if not rep.repaired:
        rep.repaired["none"] = ["nothing could be repaired automatically"]
    return rep
