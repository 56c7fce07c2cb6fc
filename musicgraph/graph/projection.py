"""A compact in-memory projection of a store: node arrays plus one CSR matrix per relationship type.

Nodes are numbered by (label in schema order, key in sorted order), so every label is a contiguous
index range and two stores with the same content give identical projections. Edge weights are the
``weight`` property (1.0 when absent). Multi-hop scoring, GNN export and analysis run on this.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from musicgraph.graph.schema import LABELS, REL_TYPES, NodeRef

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(slots=True)
class Projection:
    """Nodes and typed, weighted adjacency of the whole graph.

    Attributes:
        keys: node keys, index-aligned.
        names: display names (song title, else name, else key).
        label_ranges: ``label -> (start, stop)`` index range of each label.
        matrices: ``rel_type -> csr_matrix (n x n)``, entry ``[src, dst]`` = edge weight.
        version: the store version it was built from.
    """

    keys: np.ndarray
    names: np.ndarray
    label_ranges: dict[str, tuple[int, int]]
    matrices: dict[str, sp.csr_matrix]
    version: str = ""
    _index: dict[tuple[str, str], int] | None = field(default=None, repr=False)

    @property
    def num_nodes(self) -> int:
        return int(len(self.keys))

    def label_of(self, idx: int) -> str:
        """The label of node index ``idx``."""
        for label, (start, stop) in self.label_ranges.items():
            if start <= idx < stop:
                return label
        raise IndexError(idx)

    def labels_array(self) -> np.ndarray:
        """An int array of label codes (index into :data:`LABELS`) per node."""
        out = np.empty(self.num_nodes, dtype=np.int8)
        for label, (start, stop) in self.label_ranges.items():
            out[start:stop] = LABELS.index(label)
        return out

    def index(self, label: str, key: str) -> int | None:
        """The node index of (label, key), or None."""
        if self._index is None:
            self._index = {}
            for lab, (start, stop) in self.label_ranges.items():
                for i in range(start, stop):
                    self._index[(lab, str(self.keys[i]))] = i
        return self._index.get((label, key))

    def ref(self, idx: int) -> NodeRef:
        return NodeRef(self.label_of(idx), str(self.keys[idx]))

    def adjacency(
        self,
        rel_weights: Mapping[str, float] | None = None,
        symmetric: bool = True,
        transform: str = "log1p",
    ) -> sp.csr_matrix:
        """One weighted adjacency matrix over all nodes.

        Args:
            rel_weights: multiplier per relationship type (types absent or 0 are left out).
            symmetric: add the transpose, so every relationship is walked both ways.
            transform: ``"log1p"`` damps heavy weights such as play counts; ``"none"`` keeps them.
        """
        n = self.num_nodes
        total = sp.csr_matrix((n, n), dtype=np.float64)
        for rel, mat in self.matrices.items():
            w = 1.0 if rel_weights is None else float(rel_weights.get(rel, 0.0))
            if w == 0.0 or mat.nnz == 0:
                continue
            m = mat.astype(np.float64, copy=True)
            if transform == "log1p":
                m.data = np.log1p(m.data)
            total = total + w * m
        if symmetric:
            total = total + total.T
        return total.tocsr()

    def save(self, path: Path) -> None:
        """Write to an ``.npz`` file."""
        arrays: dict[str, Any] = {
            "keys": self.keys.astype(str),
            "names": self.names.astype(str),
            "meta": np.array(
                json.dumps(
                    {"format": FORMAT_VERSION, "version": self.version, "label_ranges": self.label_ranges}
                )
            ),
        }
        for rel, mat in self.matrices.items():
            arrays[f"{rel}__indptr"] = mat.indptr
            arrays[f"{rel}__indices"] = mat.indices
            arrays[f"{rel}__data"] = mat.data
        # a name unique to this writer: concurrent processes (DDP ranks) may save at once
        tmp = path.parent / f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex}.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Projection:
        """Read a projection written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"{path}: projection format {meta.get('format')} != {FORMAT_VERSION}")
            keys = data["keys"].astype(object)
            names = data["names"].astype(object)
            n = len(keys)
            matrices = {}
            for rel in REL_TYPES:
                if f"{rel}__indptr" in data:
                    matrices[rel] = sp.csr_matrix(
                        (data[f"{rel}__data"], data[f"{rel}__indices"], data[f"{rel}__indptr"]), shape=(n, n)
                    )
            ranges = {k: (int(v[0]), int(v[1])) for k, v in meta["label_ranges"].items()}
        return cls(keys=keys, names=names, label_ranges=ranges, matrices=matrices, version=meta["version"])


def build_projection(store: GraphStore) -> Projection:
    """Read every node and relationship of ``store`` into a :class:`Projection`."""
    keys: list[str] = []
    names: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}
    index: dict[tuple[str, str], int] = {}
    version = store.version()
    for label in LABELS:
        start = len(keys)
        for node in sorted(store.iter_nodes(label), key=lambda n: n.key):
            index[(label, node.key)] = len(keys)
            keys.append(node.key)
            names.append(node.name)
        ranges[label] = (start, len(keys))
    n = len(keys)
    matrices: dict[str, sp.csr_matrix] = {}
    for rel in REL_TYPES:
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for edge in store.iter_edges(rel):
            s = index.get((edge.src.label, edge.src.key))
            d = index.get((edge.dst.label, edge.dst.key))
            if s is None or d is None:
                continue
            rows.append(s)
            cols.append(d)
            w = edge.props.get("weight", 1.0)
            vals.append(float(w) if isinstance(w, (int, float)) else 1.0)
        mat = sp.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(n, n))
        mat.sum_duplicates()
        mat.sort_indices()
        matrices[rel] = mat
    log.debug("projection: %d nodes, %d edges", n, sum(m.nnz for m in matrices.values()))
    return Projection(
        keys=np.asarray(keys, dtype=object),
        names=np.asarray(names, dtype=object),
        label_ranges=ranges,
        matrices=matrices,
        version=version,
    )


def to_networkx(store: GraphStore) -> Any:
    """A ``networkx.MultiDiGraph`` with nodes ``"Label:key"`` and typed edges (for analysis/GraphML)."""
    import networkx as nx

    graph = nx.MultiDiGraph()
    for label in LABELS:
        for node in store.iter_nodes(label):
            attrs = {k: (json.dumps(v) if isinstance(v, list) else v) for k, v in node.props.items()}
            graph.add_node(f"{label}:{node.key}", label=label, key=node.key, **attrs)
    for rel in REL_TYPES:
        for edge in store.iter_edges(rel):
            attrs = {k: (json.dumps(v) if isinstance(v, list) else v) for k, v in edge.props.items()}
            graph.add_edge(str(edge.src), str(edge.dst), key=rel, type=rel, **attrs)
    return graph
