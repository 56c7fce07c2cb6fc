"""Publish trained GNN embeddings: a node property in the store and a FAISS index for retrieval.

``musicgraph gnn embed`` reads ``embeddings.pt`` of a training run (:mod:`musicgraph.gnn.train`)
and writes

* the node vector (property ``embedding``) of every embedded node, with ``store.set_vectors`` after
  ``store.clear_vectors`` of the label: the old vectors go first, so a re-embedding never mixes old
  and new (list properties are unioned on upsert; vectors are replaced). On Neo4j this also sizes
  and fills the label's vector index (``artist_embedding``, ``song_embedding``, ``user_embedding``),
  so ``db.index.vector.queryNodes`` and :meth:`Neo4jStore.vector_search` answer from it;
* ``MUSICGRAPH_HOME/indexes/<store>/gnn.faiss``: an inner-product FAISS index of the L2-normalized
  vectors (cosine similarity), with ``gnn.ids.json`` mapping FAISS ids to ``[label, key]``.

:class:`GnnIndex` loads them for retrieval ("graph-embedding similarity to the seeds").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musicgraph.graph.schema import NodeRef, check_label
from musicgraph.graph.store import VECTOR_PROPERTY

if TYPE_CHECKING:
    from musicgraph.config import Settings
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

PROPERTY = VECTOR_PROPERTY
INDEX_FILE = "gnn.faiss"
IDS_FILE = "gnn.ids.json"


def index_dir(settings: Settings | None = None, store_name: str | None = None) -> Path:
    """``MUSICGRAPH_HOME/indexes/<store name>``."""
    from musicgraph.config import get_settings

    s = settings or get_settings()
    return s.home / "indexes" / (store_name or s.store_name)


def load_embeddings(path: str | Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """``{label: (keys, float32 array)}`` from a run's ``embeddings.pt`` (or a run directory).

    Raises:
        FileNotFoundError: no embeddings there (``musicgraph gnn train`` writes them).
        ValueError: a label whose key and vector counts differ.
    """
    import torch

    path = Path(path)
    if path.is_dir():
        path = path / "embeddings.pt"
    if not path.exists():
        raise FileNotFoundError(f"no embeddings at {path} (train first: musicgraph gnn train)")
    raw = torch.load(path, map_location="cpu", weights_only=False)
    out = {}
    for label, (keys, vecs) in raw["embeddings"].items():
        arr = vecs.numpy().astype(np.float32) if hasattr(vecs, "numpy") else np.asarray(vecs, np.float32)
        if len(keys) != arr.shape[0]:
            raise ValueError(f"{path}: {label} has {len(keys)} keys but {arr.shape[0]} vectors")
        out[label] = (list(keys), arr)
    return out


@dataclass(slots=True)
class EmbedReport:
    """What :func:`write_embeddings` wrote."""

    nodes: dict[str, int]
    skipped: dict[str, int]
    dim: int
    index_path: Path | None


def write_embeddings(
    store: GraphStore,
    embeddings: dict[str, tuple[list[str], np.ndarray]],
    *,
    out_dir: Path | None = None,
    labels: Iterable[str] | None = None,
    batch: int = 2000,
    progress: bool = True,
) -> EmbedReport:
    """Write ``embedding`` properties into ``store`` and a FAISS index into ``out_dir``.

    Each written label's old vectors are cleared first, so the store holds this run's vectors only.

    Args:
        store: the graph store whose nodes get the vectors.
        embeddings: ``{label: (keys, vectors)}`` as :func:`load_embeddings` returns it.
        out_dir: where the FAISS index goes (None: no index).
        labels: only these labels (default: all in ``embeddings``).
        batch: vectors per store write.
        progress: show a progress bar.

    Returns:
        Nodes written and skipped (absent from the store) per label, the dimension and the index path.

    Raises:
        SchemaError: a label that is not in the schema.
    """
    from rich.progress import Progress

    wanted = set(labels) if labels is not None else None
    written: dict[str, int] = {}
    skipped: dict[str, int] = {}
    ids: list[list[str]] = []
    vectors: list[np.ndarray] = []
    dim = 0
    with Progress(disable=not progress) as bar:
        for label, (keys, vecs) in sorted(embeddings.items()):
            if wanted is not None and label not in wanted:
                continue
            check_label(label)
            dim = int(vecs.shape[1])
            present = set()
            for start in range(0, len(keys), 5000):
                present.update(store.get_nodes(label, keys[start : start + 5000]))
            rows = [(k, v) for k, v in zip(keys, vecs, strict=True) if k in present]
            skipped[label] = len(keys) - len(rows)
            store.clear_vectors(label)
            task = bar.add_task(f"embedding -> {label}", total=len(rows))
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
                store.set_vectors(label, {k: v.tolist() for k, v in chunk})
                bar.advance(task, len(chunk))
            written[label] = len(rows)
            ids.extend([label, k] for k, _ in rows)
            if rows:
                vectors.append(np.stack([v for _, v in rows]).astype(np.float32))
    index_path = None
    if out_dir is not None and vectors:
        index_path = build_index(np.concatenate(vectors), ids, out_dir)
    return EmbedReport(nodes=written, skipped=skipped, dim=dim, index_path=index_path)


def build_index(vectors: np.ndarray, ids: Sequence[Sequence[str]], out_dir: Path) -> Path:
    """Write an inner-product FAISS index of L2-normalized ``vectors`` and its id map.

    Args:
        vectors: one row per node.
        ids: the ``(label, key)`` of each row.
        out_dir: the folder of ``gnn.faiss`` and ``gnn.ids.json`` (created when missing).

    Returns:
        The path of the FAISS file.

    Raises:
        ValueError: the counts of vectors and ids differ.
    """
    import faiss

    if len(vectors) != len(ids):
        raise ValueError(f"{len(vectors)} vectors but {len(ids)} ids")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x = np.ascontiguousarray(vectors, dtype=np.float32).copy()
    faiss.normalize_L2(x)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    path = out_dir / INDEX_FILE
    faiss.write_index(index, str(path))
    (out_dir / IDS_FILE).write_text(json.dumps([list(i) for i in ids]))
    log.info("wrote FAISS index of %d vectors (dim %d) to %s", len(x), x.shape[1], path)
    return path


def _ref_key(ref: NodeRef | tuple[str, str]) -> tuple[str, str]:
    """``(label, key)`` of a :class:`NodeRef` or a pair."""
    if isinstance(ref, NodeRef):
        return (ref.label, ref.key)
    return (str(ref[0]), str(ref[1]))


class GnnIndex:
    """The FAISS index of GNN embeddings with its ``(label, key)`` id map.

    Entries can be upserted and deleted in place (:meth:`upsert`, :meth:`delete`, then
    :meth:`save`): a replaced or deleted vector stays in FAISS as a tombstone (``None`` in
    ``ids``, ``null`` in ``gnn.ids.json``) that searches skip; :meth:`compact` rebuilds without
    them once they pass a quarter of the index.

    Example::

        idx = GnnIndex.load()                       # MUSICGRAPH_HOME/indexes/<store>
        idx.similar([NodeRef("Artist", "radiohead")], k=10, label="Artist")
    """

    COMPACT_FRACTION = 0.25

    def __init__(self, index: Any, ids: list[tuple[str, str] | None]):
        self.index = index
        self.ids = ids
        self.pos = {ref: i for i, ref in enumerate(ids) if ref is not None}

    @classmethod
    def load(cls, directory: str | Path | None = None) -> GnnIndex:
        """The index saved in ``directory`` (default: the current store's index folder).

        Raises:
            FileNotFoundError: no GNN index there (``musicgraph gnn embed`` builds it).
            IndexFileError: the index or its id map cannot be read (the message names the file).
        """
        import faiss

        from musicgraph.graph.check import read_index_file

        d = Path(directory) if directory is not None else index_dir()
        path = d / INDEX_FILE
        if not path.exists():
            raise FileNotFoundError(f"no GNN index at {path} (run: musicgraph gnn embed)")

        def read_ids() -> list[tuple[str, str] | None]:
            raw = json.loads((d / IDS_FILE).read_text(encoding="utf-8"))
            return [None if i is None else (str(i[0]), str(i[1])) for i in raw]

        ids = read_index_file(d / IDS_FILE, "gnn", read_ids)
        return cls(read_index_file(path, "gnn", lambda: faiss.read_index(str(path))), ids)

    def __len__(self) -> int:
        """Live (non-tombstoned) entries."""
        return len(self.pos)

    @property
    def tombstones(self) -> int:
        """Replaced or deleted entries still held by FAISS (skipped by searches)."""
        return sum(1 for i in self.ids if i is None)

    def labels(self) -> set[str]:
        """Labels that have at least one live vector."""
        return {lab for lab, _ in self.pos}

    def vector(self, ref: NodeRef) -> np.ndarray | None:
        """The normalized vector of a node, or None when it has no embedding."""
        i = self.pos.get((ref.label, ref.key))
        return None if i is None else self.index.reconstruct(i)

    def search(self, query: np.ndarray, k: int = 10) -> list[list[tuple[NodeRef, float]]]:
        """Nearest nodes (cosine) of each query row (tombstones skipped)."""
        import faiss

        q = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32).copy()
        faiss.normalize_L2(q)
        want = min(k + self.tombstones, self.index.ntotal)
        if want <= 0:
            return [[] for _ in range(len(q))]
        scores, idx = self.index.search(q, want)
        return [
            [(NodeRef(*self.ids[j]), float(s)) for j, s in zip(row_i, row_s, strict=True)
             if j >= 0 and self.ids[j] is not None][:k]
            for row_i, row_s in zip(idx, scores, strict=True)
        ]

    def upsert(self, refs: Sequence[NodeRef | tuple[str, str]], vectors: np.ndarray) -> int:
        """Add or replace the vectors of ``refs`` (L2-normalized here); old ones become tombstones."""
        import faiss

        x = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32).copy()
        if len(refs) != len(x):
            raise ValueError(f"{len(refs)} node refs but {len(x)} vectors")
        if len(x) and x.shape[1] != self.index.d:
            raise ValueError(f"vectors of dimension {x.shape[1]} do not fit the GNN index (dimension {self.index.d})")
        faiss.normalize_L2(x)
        self.delete(refs)
        start = self.index.ntotal
        self.index.add(x)
        for n, ref in enumerate(refs):
            key = _ref_key(ref)
            self.ids.append(key)
            self.pos[key] = start + n
        return len(x)

    def delete(self, refs: Iterable[NodeRef | tuple[str, str]]) -> int:
        """Tombstone the vectors of ``refs`` (absent ones are ignored); returns how many went."""
        n = 0
        for ref in refs:
            i = self.pos.pop(_ref_key(ref), None)
            if i is not None:
                self.ids[i] = None
                n += 1
        return n

    def compact(self) -> None:
        """Rebuild the FAISS index without tombstones."""
        import faiss

        live = [i for i, ref in enumerate(self.ids) if ref is not None]
        index = faiss.IndexFlatIP(self.index.d)
        if live:
            index.add(np.stack([self.index.reconstruct(i) for i in live]).astype(np.float32))
        self.ids = [self.ids[i] for i in live]
        self.pos = {ref: i for i, ref in enumerate(self.ids) if ref is not None}
        self.index = index

    def save(self, directory: str | Path) -> None:
        """Write ``gnn.faiss`` and ``gnn.ids.json`` (compacting first when tombstones pass 25%)."""
        import faiss

        if self.ids and self.tombstones > self.COMPACT_FRACTION * len(self.ids):
            self.compact()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        from musicgraph.graph.locks import atomic_write_text, temporary_name

        tmp = temporary_name(d / INDEX_FILE)  # unique: concurrent writers never share a temporary file
        try:
            faiss.write_index(self.index, str(tmp))
            atomic_write_text(d / IDS_FILE, json.dumps([None if r is None else list(r) for r in self.ids]))
            tmp.replace(d / INDEX_FILE)
        finally:
            tmp.unlink(missing_ok=True)

    def similar(
        self, seeds: Sequence[NodeRef], k: int = 10, label: str | None = None, exclude_seeds: bool = True
    ) -> list[tuple[NodeRef, float]]:
        """Nodes most similar to the mean of the seeds' vectors (optionally of one label).

        Args:
            seeds: the nodes to start from; those without a vector are ignored.
            k: the most nodes returned.
            label: only nodes of this label.
            exclude_seeds: never return the seeds themselves.

        Returns:
            ``(node, cosine similarity)`` pairs, most similar first; empty when no seed has a vector.
        """
        vecs = [v for v in (self.vector(s) for s in seeds) if v is not None]
        if not vecs:
            return []
        seen = set(seeds) if exclude_seeds else set()
        want = k + len(seen)
        hits: list[tuple[NodeRef, float]] = []
        while True:
            res = self.search(np.mean(vecs, axis=0), want)[0]
            hits = [(r, s) for r, s in res if r not in seen and (label is None or r.label == label)]
            if len(hits) >= k or want >= len(self):
                return hits[:k]
            want = min(len(self), want * 4)
