"""The GNN FAISS index as a derived index of the store: kept in step with catalog changes by fold-in.

:class:`GnnEmbeddings` is the :class:`~musicgraph.graph.check.DerivedIndex` of the GNN FAISS index
(``gnn.faiss`` + ``gnn.ids.json``, :mod:`musicgraph.gnn.embed`): catalog changes upsert fold-in vectors
(:func:`fold_in_from_index`, the normalized sum of a node's neighbours' vectors, one LightGCN propagation
step over final embeddings) of new or changed nodes and tombstone deleted ones; ``check`` reports
missing/orphan ids, count and dimension drift; ``repair`` fills missing nodes inductively, drops
orphans and rebuilds a corrupt index from the store's ``embedding`` properties. Fold-in from a training
run (GraphSAGE layers, LightGCN propagation, BPR/least-squares refinement) is :mod:`musicgraph.gnn.inductive`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musicgraph.gnn.embed import INDEX_FILE
from musicgraph.graph.check import DirectoryIndex, Issue
from musicgraph.graph.schema import NodeRef

if TYPE_CHECKING:
    from musicgraph.graph.catalog import ChangeSet
    from musicgraph.graph.store import GraphStore

__all__ = ["GnnEmbeddings", "fold_in_from_index"]

@dataclass(slots=True)
class GnnEmbeddings(DirectoryIndex):
    """The GNN FAISS index (``gnn.faiss`` + ``gnn.ids.json``) as a derived index of the store.

    Catalog changes (:class:`~musicgraph.graph.catalog.CatalogEditor`) give new and changed nodes of
    the embedded labels a fold-in vector (normalized sum of their neighbours' vectors in the index,
    new neighbours first) and tombstone deleted ones; the store property ``embedding`` follows.
    ``check`` compares index and store; ``repair`` fixes only what its issues name.

    Args:
        directory: the index directory (``MUSICGRAPH_HOME/indexes/<store>``).
        refresh_updated: re-fold-in nodes that already have a vector when their relationships change
            (a user's new listens, an artist's new tags); False keeps their trained vectors.
        write_property: also write the ``embedding`` property of the store's nodes.
    """

    directory: Path
    refresh_updated: bool = True
    write_property: bool = True
    name: str = field(default="gnn")

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)

    title = "GNN index"
    marker = INDEX_FILE

    def load(self) -> Any:
        from musicgraph.gnn.embed import GnnIndex

        return GnnIndex.load(self.directory)

    # ------------------------------------------------------------------ apply
    def apply_loaded(self, store: GraphStore, idx: Any, changes: ChangeSet | None) -> dict[str, Any]:
        """Upsert fold-in vectors of added/changed nodes, tombstone deleted ones; returns counts."""
        labels = idx.labels()
        want: dict[str, set[str]] = {}
        deleted: list[NodeRef] = []
        if changes is not None:
            deleted = [NodeRef(lab, k) for lab, keys in changes.deleted.items() if lab in labels for k in keys]
            for group in (changes.added, changes.updated):
                for lab, keys in group.items():
                    if lab in labels:
                        want.setdefault(lab, set()).update(keys)
        else:  # whole-store sync: every node of an embedded label without a vector
            for lab in labels:
                want[lab] = {k for k in store.node_keys(lab) if (lab, k) not in idx.pos}
        dropped = idx.delete(deleted)
        refs = [NodeRef(lab, k) for lab in sorted(want) for k in sorted(want[lab])]
        if not self.refresh_updated:
            refs = [r for r in refs if (r.label, r.key) not in idx.pos]
        vecs, missing = self._fold_in(store, idx, refs)
        return {"upserted": len(vecs), "no_neighbour": len(missing), "tombstoned": dropped, "size": len(idx)}

    # ------------------------------------------------------------------ check / repair
    def check(self, store: GraphStore) -> list[Issue]:
        """Missing/orphan ids, count and dimension drift between the GNN index and the store."""
        if not self.exists():
            return []
        try:
            idx = self.load()
        except (OSError, ValueError, RuntimeError) as exc:
            return [Issue("gnn", "corrupt", f"GNN index in {self.directory} is unreadable: {exc}", repair="gnn-rebuild")]
        issues: list[Issue] = []
        if idx.index.ntotal != len(idx.ids):
            issues.append(Issue("gnn", "count", f"GNN FAISS index holds {idx.index.ntotal} vectors but "
                                f"{self.directory / 'gnn.ids.json'} names {len(idx.ids)}", repair="gnn-rebuild"))
        dims = _property_dims(store, idx.labels())
        bad_dims = {d for d in dims if d != idx.index.d}
        if bad_dims:
            issues.append(Issue("gnn", "dimension", f"GNN index dimension {idx.index.d} differs from the store's "
                                f"'embedding' properties ({sorted(bad_dims)})",
                                items=[f"{dims[d]}: {d}" for d in sorted(bad_dims)], repair="gnn-rebuild"))
        orphans, missing = [], []
        for lab in sorted(idx.labels()):
            have = set(store.node_keys(lab))
            inside = {k for (label, k) in idx.pos if label == lab}
            orphans += [f"{lab}:{k}" for k in sorted(inside - have)]
            missing += [f"{lab}:{k}" for k in sorted(have - inside)]
        if orphans:
            issues.append(Issue("gnn", "orphan", f"{len(orphans)} GNN vectors belong to nodes no longer in the store",
                                items=orphans, repair="gnn-orphans"))
        if missing:
            issues.append(Issue("gnn", "missing", f"{len(missing)} store nodes of embedded labels have no GNN vector",
                                items=missing, repair="gnn-fold-in"))
        dup = len(idx.ids) - len(idx.pos) - idx.tombstones
        if dup > 0:
            issues.append(Issue("gnn", "duplicate", f"{dup} GNN index entries repeat a node", repair="gnn-rebuild"))
        return issues

    def repair(self, store: GraphStore, issues: Sequence[Issue]) -> list[str]:
        """Rebuild a corrupt index from the store's properties, drop orphans, fold in missing nodes."""
        from musicgraph.gnn.embed import GnnIndex

        done: list[str] = []
        kinds = {i.repair for i in issues}
        if "gnn-rebuild" in kinds:
            idx = self._rebuild_from_store(store)
            if idx is None:
                return ["gnn: cannot rebuild: the store has no consistent 'embedding' properties (run musicgraph gnn embed)"]
            done.append(f"gnn: rebuilt the index from {len(idx)} stored 'embedding' properties")
            kinds |= {"gnn-orphans", "gnn-fold-in"}
        idx = GnnIndex.load(self.directory)
        if "gnn-orphans" in kinds:
            stale = [NodeRef(lab, k) for (lab, k) in list(idx.pos) if store.get_node(lab, k) is None]
            n = idx.delete(stale)
            idx.save(self.directory)
            if n:
                done.append(f"gnn: tombstoned {n} orphan vectors")
        if "gnn-fold-in" in kinds:
            labels = idx.labels()
            refs = [NodeRef(lab, k) for lab in sorted(labels) for k in store.node_keys(lab) if (lab, k) not in idx.pos]
            vecs, missing = self._fold_in(store, idx, refs)
            done.append(f"gnn: folded in {len(vecs)} missing nodes"
                        + (f" ({len(missing)} have no embedded neighbour and stay missing)" if missing else ""))
        return done

    def _fold_in(self, store: GraphStore, idx: Any, refs: Sequence[NodeRef]) -> tuple[dict[NodeRef, np.ndarray], list[NodeRef]]:
        """Fold ``refs`` in, upsert their vectors (and the store property), save; returns
        :func:`fold_in_from_index`'s ``(vectors, refs without an embedded neighbour)``."""
        vecs, missing = fold_in_from_index(store, idx, refs)
        if vecs:
            idx.upsert(list(vecs), np.stack(list(vecs.values())))
            if self.write_property:
                _write_property(store, vecs)
        idx.save(self.directory)
        return vecs, missing

    def _rebuild_from_store(self, store: GraphStore) -> Any:
        from musicgraph.gnn.embed import PROPERTY, GnnIndex, build_index
        from musicgraph.graph.schema import LABELS

        try:
            labels = GnnIndex.load(self.directory).labels()
        except (OSError, ValueError, RuntimeError):
            labels = set()
        # a damaged id map may have lost whole labels: take every label whose nodes carry the property
        labels = set(labels) | {str(lab) for lab in LABELS if _property_dims(store, [lab], sample=1)}
        ids, vecs = [], []
        for lab in sorted(labels):
            for node in store.iter_nodes(lab):
                v = node.props.get(PROPERTY)
                if isinstance(v, list) and v:
                    ids.append([str(lab), node.key])
                    vecs.append(np.asarray(v, dtype=np.float32))
        if not vecs or len({len(v) for v in vecs}) != 1:
            return None
        build_index(np.stack(vecs), ids, self.directory)
        return GnnIndex.load(self.directory)


def fold_in_from_index(
    store: GraphStore, idx: Any, refs: Sequence[NodeRef], rounds: int = 3
) -> tuple[dict[NodeRef, np.ndarray], list[NodeRef]]:
    """Fold-in vectors of ``refs``: the normalized sum of their store neighbours' index vectors.

    Neighbours across an edge of weight 0 do not count (a relationship that records no preference).

    Nodes whose neighbours are themselves new get their vector in a later round (up to ``rounds``).
    Returns ``({ref: vector}, refs left without any embedded neighbour)``.
    """
    pending = list(dict.fromkeys(refs))
    done: dict[NodeRef, np.ndarray] = {}
    targets = set(pending)
    for _ in range(rounds):
        left = []
        for ref in pending:
            vs = []
            for edge, node in store.neighbors(ref.label, ref.key):
                if edge.props.get("weight") == 0:
                    continue  # known, no preference (a personal profile's skipped-only items)
                nb = node.ref
                if nb in targets and nb not in done:
                    continue  # a new neighbour counts once it has its own vector
                v = done.get(nb)
                if v is None:
                    v = idx.vector(nb)
                if v is not None:
                    vs.append(v)
            if vs:
                m = np.sum(vs, axis=0) / np.sqrt(len(vs))
                n = float(np.linalg.norm(m))
                done[ref] = (m / n if n > 0 else m).astype(np.float32)
            else:
                left.append(ref)
        if len(left) == len(pending):
            break
        pending = left
    return done, [r for r in refs if r not in done]


def _write_property(store: GraphStore, vecs: Mapping[NodeRef, np.ndarray]) -> None:
    """Set the vector (``embedding``) of these nodes, replacing an old one (:meth:`GraphStore.set_vectors`)."""
    by_label: dict[str, dict[str, list[float]]] = {}
    for ref, v in vecs.items():
        by_label.setdefault(ref.label, {})[ref.key] = np.asarray(v, dtype=np.float64).tolist()
    for label, rows in by_label.items():
        by_dim: dict[int, dict[str, list[float]]] = {}
        for k, v in rows.items():
            by_dim.setdefault(len(v), {})[k] = v
        for part in by_dim.values():
            store.set_vectors(label, part)


def _property_dims(store: GraphStore, labels: Iterable[str], sample: int = 50) -> dict[int, str]:
    """Lengths of the ``embedding`` property seen on up to ``sample`` nodes per label."""
    from musicgraph.gnn.embed import PROPERTY

    dims: dict[int, str] = {}
    for lab in labels:
        n = 0
        for node in store.iter_nodes(lab):
            v = node.props.get(PROPERTY)
            if isinstance(v, list) and v:
                dims.setdefault(len(v), lab)
                n += 1
                if n >= sample:
                    break
    return dims
