"""A compact in-memory projection of a store: node arrays plus one CSR matrix per relationship type.

Nodes are numbered by (label in schema order, key in sorted order), so every label is a contiguous
index range and two stores with the same content give identical projections. Edge weights are the
``weight`` property (1.0 when absent). Multi-hop scoring, GNN export and analysis run on this.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from musicgraph.graph.schema import LABELS, REL_TYPES, NodeRef

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
#: file name of the projection cache in an embedded store's directory
PROJECTION_CACHE = "projection.bin"
#: ``(label -> (sorted keys, names), rel_type -> (rows, cols, weights) in projection numbering, version)``
ProjectionTables = tuple[
    dict[str, tuple[Sequence[str], Sequence[str]]], dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], str
]
#: first bytes of a projection cache file (format 2: one file of aligned raw arrays, memory-mapped)
MAGIC = b"MGPROJ2\n"
_ALIGN = 64


def _pack_strings(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one UTF-8 buffer plus ``n + 1`` code-point offsets (never fixed-width text).

    A fixed-width ``<U`` array is as wide as its longest string in every row: one 10 MB title made
    every row 40 MB. Here each string costs its own length.
    """
    parts = [str(v) for v in values]
    lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    text = "".join(parts).encode("utf-8", "surrogatepass")
    return np.frombuffer(text, dtype=np.uint8), offsets


def _unpack_strings(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The object array of :func:`_pack_strings`' strings."""
    text = buf.tobytes().decode("utf-8", "surrogatepass")
    out = np.empty(len(offsets) - 1, dtype=object)
    bounds = offsets.tolist()
    out[:] = [text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return out


@dataclass(slots=True)
class Projection:
    """Nodes and typed, weighted adjacency of the whole graph.

    Attributes:
        keys: node keys, index-aligned (an object array of str).
        names: display names (song title, else name, else key; an object array of str).
        label_ranges: ``label -> (start, stop)`` index range of each label.
        matrices: ``rel_type -> csr_matrix (n x n)``, entry ``[src, dst]`` = edge weight.
        version: the store version it was built from.
    """

    keys: np.ndarray
    names: np.ndarray
    label_ranges: dict[str, tuple[int, int]]
    matrices: dict[str, sp.csr_matrix]
    version: str = ""
    _index: dict[str, dict[str, int]] | None = field(default=None, repr=False)
    _sorted: dict[str, int] | None = field(default=None, repr=False)  # look-ups so far; -1: unsorted
    #: the cache file this projection was loaded from or saved to (derived tables are kept beside it)
    path: Path | None = field(default=None, repr=False)

    def derived(self, name: str) -> dict[str, np.ndarray] | None:
        """Arrays saved by :meth:`save_derived` for this projection's version, or None."""
        if self.path is None:
            return None
        side = self.path.with_name(f"{self.path.name}.{name}.npz")
        try:
            with np.load(side, allow_pickle=False) as data:
                if str(data["version"]) != self.version:
                    return None
                return {k: data[k] for k in data.files if k != "version"}
        except (OSError, KeyError, ValueError):
            return None

    def save_derived(self, name: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Keep arrays computed from this projection (a scorer's tables) beside its cache file, so the
        next process loads instead of computing them; no-op for a projection without a file."""
        if self.path is None:
            return
        side = self.path.with_name(f"{self.path.name}.{name}.npz")
        tmp = side.with_name(f".{side.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp.npz")
        try:
            np.savez(tmp, version=np.array(self.version), **arrays)
            tmp.replace(side)
        except OSError as exc:
            log.debug("cannot keep %s beside the projection cache: %s", name, exc)
        finally:
            tmp.unlink(missing_ok=True)

    #: look-ups of one label answered by binary search before it gets a dictionary
    TABLE_AFTER = 64
    #: labels with more keys than this are always searched (their dictionary would take GBs)
    TABLE_MAX = 5_000_000

    @property
    def num_nodes(self) -> int:
        """Nodes of the projection (all labels)."""
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
        """The node index of (label, key), or None.

        A few look-ups are binary searches over the label's sorted keys (as :func:`build_projection`
        numbers them): no table is built for a single query. From the :attr:`TABLE_AFTER`-th look-up
        of a label on (a caller mapping a whole catalog), that label gets a dictionary, unless it
        holds more than :attr:`TABLE_MAX` keys. A projection whose keys are not sorted (assembled by
        hand) always uses dictionaries.
        """
        if label not in self.label_ranges:
            return None
        start, stop = self.label_ranges[label]
        if self._index is None:
            self._index = {}
        table = self._index.get(label)
        if table is not None:
            return table.get(key)
        if self._sorted is None:
            self._sorted = {}
        state = self._sorted.get(label)
        if state is None:
            seg = self.keys[start:stop]
            state = 0 if (len(seg) < 2 or bool(np.all(seg[:-1] < seg[1:]))) else -1
            self._sorted[label] = state
        if state >= 0 and (state < self.TABLE_AFTER or stop - start > self.TABLE_MAX):
            self._sorted[label] = state + 1
            i = bisect.bisect_left(self.keys, key, start, stop)
            return i if i < stop and self.keys[i] == key else None
        table = self._index[label] = self.key_table(label)  # kept even above TABLE_MAX: keys not sorted
        return table.get(key)

    def key_table(self, label: str) -> dict[str, int]:
        """Key -> node index for every node of ``label`` (empty for a label without nodes).

        Built once per label and kept (up to :attr:`TABLE_MAX` keys): :meth:`index` answers from it once
        a label is looked up often, and callers mapping a whole column of keys
        (:func:`musicgraph.retrieval.metapath.label_nodes`) share it instead of building their own.
        """
        if self._index is None:
            self._index = {}
        table = self._index.get(label)
        if table is None:
            start, stop = self.label_ranges.get(label, (0, 0))
            table = {str(k): start + i for i, k in enumerate(self.keys[start:stop].tolist())}
            if stop - start <= self.TABLE_MAX:
                self._index[label] = table
        return table

    def ref(self, idx: int) -> NodeRef:
        """The ``(label, key)`` reference of the node at row ``idx``."""
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
        """Write to one cache file that :meth:`load` memory-maps (atomically: a temporary file, renamed).

        Layout: :data:`MAGIC`, the header length (8 bytes, little-endian), a JSON header (format,
        version, label ranges, and per array its dtype, shape and byte offset), then every array's raw
        bytes at a 64-byte aligned offset. Keys and names are one UTF-8 buffer each plus offsets.
        """
        arrays: dict[str, np.ndarray] = {}
        arrays["keys.text"], arrays["keys.offsets"] = _pack_strings(self.keys)
        arrays["names.text"], arrays["names.offsets"] = _pack_strings(self.names)
        for rel, mat in self.matrices.items():
            arrays[f"{rel}.indptr"] = np.ascontiguousarray(mat.indptr)
            arrays[f"{rel}.indices"] = np.ascontiguousarray(mat.indices)
            arrays[f"{rel}.data"] = np.ascontiguousarray(mat.data)
        table: dict[str, list[Any]] = {}
        offset = 0
        for name, arr in arrays.items():
            table[name] = [arr.dtype.str, list(arr.shape), offset]
            offset += -(-arr.nbytes // _ALIGN) * _ALIGN
        header = json.dumps({"format": FORMAT_VERSION, "version": self.version,
                             "label_ranges": self.label_ranges, "arrays": table}).encode("utf-8")
        start = -(-(len(MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN
        # a name unique to this writer: concurrent processes (DDP ranks) may save at once
        tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(MAGIC)
                fh.write(len(header).to_bytes(8, "little"))
                fh.write(header)
                for name, arr in arrays.items():
                    fh.seek(start + table[name][2])
                    fh.write(arr.tobytes())
                fh.truncate(start + offset)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        for stale in path.parent.glob(f"{path.name}.*.npz"):  # derived tables of the previous projection
            stale.unlink(missing_ok=True)
        self.path = path

    @classmethod
    def load(cls, path: Path) -> Projection:
        """Read a projection written by :meth:`save`; the matrices are views of the memory-mapped file.

        Raises:
            ValueError: not a projection cache of this format, or truncated.
        """
        path = Path(path)
        with open(path, "rb") as fh:
            magic = fh.read(len(MAGIC))
            if magic != MAGIC:
                raise ValueError(f"{path}: not a projection cache of format {FORMAT_VERSION}")
            size = int.from_bytes(fh.read(8), "little")
            meta = json.loads(fh.read(size).decode("utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: projection format {meta.get('format')} != {FORMAT_VERSION}")
        start = -(-(len(MAGIC) + 8 + size) // _ALIGN) * _ALIGN
        mm = np.memmap(path, dtype=np.uint8, mode="r")
        arrays: dict[str, np.ndarray] = {}
        for name, (dtype, shape, offset) in meta["arrays"].items():
            dt = np.dtype(dtype)
            count = int(np.prod(shape)) if shape else 1
            if start + offset + count * dt.itemsize > len(mm):
                raise ValueError(f"{path}: truncated projection cache (array {name})")
            arrays[name] = np.frombuffer(mm, dtype=dt, count=count, offset=start + offset).reshape(shape)
        keys = _unpack_strings(arrays["keys.text"], arrays["keys.offsets"])
        names = _unpack_strings(arrays["names.text"], arrays["names.offsets"])
        n = len(keys)
        matrices = {}
        for rel in REL_TYPES:
            if f"{rel}.indptr" in arrays:
                mat = sp.csr_matrix((n, n), dtype=arrays[f"{rel}.data"].dtype)
                # views of the mapped file, not copies (scipy's constructor would check and copy)
                mat.data, mat.indices, mat.indptr = (arrays[f"{rel}.data"], arrays[f"{rel}.indices"],
                                                     arrays[f"{rel}.indptr"])
                mat.has_sorted_indices = True
                matrices[rel] = mat
        ranges = {k: (int(v[0]), int(v[1])) for k, v in meta["label_ranges"].items()}
        return cls(keys=keys, names=names, label_ranges=ranges, matrices=matrices, version=meta["version"], path=path)


def projection_from_tables(
    nodes: Mapping[str, tuple[Sequence[str], Sequence[str]]],
    edges: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    version: str,
) -> Projection:
    """A :class:`Projection` from node tables and edge arrays already in projection numbering.

    Args:
        nodes: ``label -> (keys, names)``, keys sorted, labels in :data:`LABELS` order.
        edges: ``rel_type -> (rows, cols, weights)`` of node indexes (labels in :data:`LABELS` order, keys sorted within each).
        version: the store version.
    """
    keys: list[str] = []
    names: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}
    for label in LABELS:
        k, nm = nodes.get(label, ((), ()))
        ranges[label] = (len(keys), len(keys) + len(k))
        keys.extend(k)
        names.extend(nm)
    n = len(keys)
    matrices: dict[str, sp.csr_matrix] = {}
    for rel in REL_TYPES:
        rows, cols, vals = edges.get(rel, (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)))
        mat = sp.csr_matrix((np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(n, n))
        mat.sum_duplicates()
        mat.sort_indices()
        matrices[rel] = mat
    key_arr = np.empty(n, dtype=object)
    key_arr[:] = keys
    name_arr = np.empty(n, dtype=object)
    name_arr[:] = names
    log.debug("projection: %d nodes, %d edges", n, sum(m.nnz for m in matrices.values()))
    return Projection(keys=key_arr, names=name_arr, label_ranges=ranges, matrices=matrices, version=version)


def build_projection(store: GraphStore) -> Projection:
    """Read every node and relationship of ``store`` into a :class:`Projection`.

    A store with a ``projection_tables()`` method (the embedded store: integer ids straight from
    SQL) hands over arrays (or None when it cannot); any other store is read node by node and edge by edge.
    """
    fast = getattr(store, "projection_tables", None)
    tables = fast() if fast is not None else None
    if tables is not None:
        return projection_from_tables(*tables)
    version = store.version()
    nodes: dict[str, tuple[list[str], list[str]]] = {}
    index: dict[tuple[str, str], int] = {}
    n = 0
    for label in LABELS:
        ks: list[str] = []
        ns: list[str] = []
        for node in sorted(store.iter_nodes(label), key=lambda nd: nd.key):
            index[(label, node.key)] = n + len(ks)
            ks.append(node.key)
            ns.append(node.name)
        nodes[label] = (ks, ns)
        n += len(ks)
    edges: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
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
        edges[rel] = (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64),
                      np.asarray(vals, dtype=np.float64))
    return projection_from_tables(nodes, edges, version)


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
