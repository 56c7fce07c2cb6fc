"""Vectorized heterogeneous neighbour sampling over CSR adjacency (numpy, no loop per node).

PyG's ``NeighborLoader`` / ``LinkNeighborLoader`` need ``pyg-lib`` or ``torch-sparse``, which PyPI
does not ship as wheels. :class:`HeteroNeighborSampler` does the same job for training: starting
from seed nodes per type, it samples up to ``fanout[hop]`` incoming neighbours per node and edge
type (without replacement; all of them when the degree is smaller), hop by hop, and returns the
induced sub-graph with local indices. :func:`pyg_sampler_available` tells whether PyG's own
sampler can be used; :func:`make_sampler` picks it automatically.

Sampling cost is linear in the sum of the frontier's degrees (nodes with more than
``cap_factor * fanout`` neighbours draw with replacement then deduplicate, so hubs stay cheap).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

EdgeType = tuple[str, str, str]


def pyg_sampler_available() -> bool:
    """True when ``pyg-lib`` or ``torch-sparse`` is importable (PyG's neighbour loaders work)."""
    try:
        import torch_geometric.typing as tg_typing
    except ImportError:
        return False
    return bool(tg_typing.WITH_PYG_LIB or tg_typing.WITH_TORCH_SPARSE)


@dataclass(slots=True)
class CSR:
    """Incoming adjacency of one edge type: neighbours (sources) of each destination node."""

    indptr: np.ndarray
    indices: np.ndarray

    @classmethod
    def from_edge_index(cls, src: np.ndarray, dst: np.ndarray, num_dst: int) -> CSR:
        order = np.lexsort((src, dst))
        counts = np.bincount(dst, minlength=num_dst)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr=indptr, indices=src[order].astype(np.int64))

    def degree(self, nodes: np.ndarray) -> np.ndarray:
        return self.indptr[nodes + 1] - self.indptr[nodes]


def sample_neighbors(
    csr: CSR, nodes: np.ndarray, fanout: int, rng: np.random.Generator, cap_factor: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Sample up to ``fanout`` distinct incoming neighbours of each node in ``nodes``.

    Returns:
        ``(dst, src)``: for every sampled edge, the position in ``nodes`` of its destination and the
        global id of the sampled neighbour. ``fanout < 0`` takes every neighbour.
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    deg = csr.degree(nodes)
    if fanout < 0:
        fanout = int(deg.max(initial=0))
    take_all = deg <= fanout
    hub = deg > cap_factor * max(fanout, 1)
    mid = ~take_all & ~hub
    dst_parts: list[np.ndarray] = []
    src_parts: list[np.ndarray] = []

    def expand(sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.flatnonzero(sel)
        d = deg[pos]
        owner = np.repeat(pos, d)
        starts = np.repeat(csr.indptr[nodes[pos]], d)
        offs = np.arange(int(d.sum())) - np.repeat(np.cumsum(d) - d, d)
        return owner, starts + offs

    if take_all.any():
        owner, edge = expand(take_all)
        dst_parts.append(owner)
        src_parts.append(csr.indices[edge])
    if mid.any():  # exact sampling without replacement: random keys, keep the lowest ``fanout``
        owner, edge = expand(mid)
        order = np.argsort(owner + rng.random(len(owner)))  # random order within each owner
        owner, edge = owner[order], edge[order]
        first = np.searchsorted(owner, owner, side="left")
        keep = (np.arange(len(owner)) - first) < fanout
        dst_parts.append(owner[keep])
        src_parts.append(csr.indices[edge[keep]])
    if hub.any():  # huge degree: draw with replacement, then deduplicate
        pos = np.flatnonzero(hub)
        owner = np.repeat(pos, fanout)
        draw = (rng.random(len(owner)) * deg[owner]).astype(np.int64)
        edge = csr.indptr[nodes[owner]] + draw
        span = int(len(csr.indices)) + 1
        code = np.unique(owner * span + edge)  # dedupe (owner, edge) pairs via one int64 code
        dst_parts.append(code // span)
        src_parts.append(csr.indices[code % span])
    if not dst_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(dst_parts), np.concatenate(src_parts)


@dataclass
class SampledGraph:
    """A sampled sub-graph: global ids per node type (seeds first), local edges per edge type."""

    n_id: dict[str, torch.Tensor]
    edge_index: dict[EdgeType, torch.Tensor]
    x: dict[str, torch.Tensor] | None
    seed_pos: dict[str, torch.Tensor]


class HeteroNeighborSampler:
    """Multi-hop neighbour sampler over a heterogeneous graph.

    Args:
        edge_index: ``(src_type, rel, dst_type) -> 2 x E`` tensors (global ids per type).
        num_nodes: nodes per type.
        fanouts: neighbours per node, edge type and hop (``[10, 5]`` = 2 hops; -1 = all).
        seed: random seed (sampling is deterministic for a seed and call sequence).
    """

    def __init__(
        self,
        edge_index: dict[EdgeType, torch.Tensor],
        num_nodes: dict[str, int],
        fanouts: list[int],
        seed: int = 0,
    ):
        if not fanouts:
            raise ValueError("fanouts must name at least one hop")
        self.num_nodes = dict(num_nodes)
        self.fanouts = list(fanouts)
        self.rng = np.random.default_rng(seed)
        self.csr: dict[EdgeType, CSR] = {}
        for et, ei in edge_index.items():
            e = ei.cpu().numpy()
            if e.shape[1] == 0:
                continue
            self.csr[et] = CSR.from_edge_index(e[0], e[1], self.num_nodes[et[2]])

    def sample(self, seeds: dict[str, np.ndarray], x: dict[str, torch.Tensor] | None = None) -> SampledGraph:
        """Sample around ``seeds`` (global ids per type; duplicates allowed).

        Every edge of the result runs from a sampled neighbour to a node that was in the frontier
        when it was sampled; ``seed_pos[t][k]`` is the local index of ``seeds[t][k]``.
        """
        import torch

        # Local numbering: per type, an ordered list of global ids plus a lookup array.
        order: dict[str, list[np.ndarray]] = {t: [] for t in self.num_nodes}
        lookup = {t: np.full(n, -1, dtype=np.int64) for t, n in self.num_nodes.items()}
        count = dict.fromkeys(self.num_nodes, 0)

        def add(t: str, ids: np.ndarray) -> np.ndarray:
            """Give local ids to the new nodes among ``ids``; return the new ones (unique)."""
            fresh = ids[lookup[t][ids] < 0]
            flag = np.zeros(self.num_nodes[t], dtype=bool)
            flag[fresh] = True
            new = np.flatnonzero(flag)  # unique, sorted, without a sort
            lookup[t][new] = np.arange(count[t], count[t] + len(new))
            count[t] += len(new)
            order[t].append(new)
            return new

        frontier: dict[str, np.ndarray] = {}
        for t, ids in seeds.items():
            if t not in self.num_nodes:
                raise ValueError(f"seed node type {t!r} not in the graph ({sorted(self.num_nodes)})")
            ids = np.asarray(ids, dtype=np.int64)
            if len(ids) and (ids.min() < 0 or ids.max() >= self.num_nodes[t]):
                raise ValueError(f"seed ids of {t!r} out of range [0, {self.num_nodes[t]})")
            frontier[t] = add(t, ids)
        src_l: dict[EdgeType, list[np.ndarray]] = {et: [] for et in self.csr}
        dst_l: dict[EdgeType, list[np.ndarray]] = {et: [] for et in self.csr}
        for fanout in self.fanouts:
            nxt: dict[str, list[np.ndarray]] = {}
            for et, csr in self.csr.items():
                s_t, _, d_t = et
                nodes = frontier.get(d_t)
                if nodes is None or len(nodes) == 0:
                    continue
                dpos, src = sample_neighbors(csr, nodes, fanout, self.rng)
                if len(src) == 0:
                    continue
                nxt.setdefault(s_t, []).append(src)
                src_l[et].append(src)
                dst_l[et].append(nodes[dpos])
            frontier = {t: add(t, np.concatenate(parts)) for t, parts in nxt.items()}
        n_id = {t: torch.from_numpy(np.concatenate(p) if p else np.zeros(0, np.int64)) for t, p in order.items()}
        edge_index: dict[EdgeType, torch.Tensor] = {}
        for et in self.csr:
            if not src_l[et]:
                continue
            s = lookup[et[0]][np.concatenate(src_l[et])]
            d = lookup[et[2]][np.concatenate(dst_l[et])]
            # no duplicates to remove: each node is expanded once and its sampled neighbours differ
            edge_index[et] = torch.from_numpy(np.stack([s, d]))
        seed_pos = {t: torch.from_numpy(lookup[t][np.asarray(ids, dtype=np.int64)]) for t, ids in seeds.items()}
        sub_x = None if x is None else {t: v[n_id[t]] for t, v in x.items() if t in n_id}
        return SampledGraph(n_id=n_id, edge_index=edge_index, x=sub_x, seed_pos=seed_pos)


class PygHeteroSampler:
    """The same interface on top of PyG's ``NeighborSampler`` (used when pyg-lib/torch-sparse exist)."""

    def __init__(self, edge_index: dict[EdgeType, torch.Tensor], num_nodes: dict[str, int], fanouts: list[int], seed: int = 0):
        import torch
        from torch_geometric.data import HeteroData
        from torch_geometric.sampler import NeighborSampler

        data = HeteroData()
        for t, n in num_nodes.items():
            data[t].num_nodes = n
        for et, ei in edge_index.items():
            data[et].edge_index = ei
        torch.manual_seed(seed)
        self.sampler = NeighborSampler(data, num_neighbors={et: fanouts for et in edge_index})

    def sample(self, seeds: dict[str, np.ndarray], x: dict[str, torch.Tensor] | None = None) -> SampledGraph:
        import torch
        from torch_geometric.sampler import NodeSamplerInput

        # PyG samples one node type per call; sample each seed type and merge by global id.
        parts = []
        for t, ids in seeds.items():
            uniq = torch.as_tensor(np.unique(ids))
            parts.append(self.sampler.sample_from_nodes(NodeSamplerInput(None, uniq, input_type=t)))
        n_glob: dict[str, np.ndarray] = {}
        for t, ids in seeds.items():
            n_glob[t] = np.asarray(ids, dtype=np.int64)
        for out in parts:
            for t, v in out.node.items():
                n_glob[t] = np.concatenate([n_glob.get(t, np.zeros(0, np.int64)), v.numpy()])
        n_id = {t: torch.from_numpy(np.unique(v)) for t, v in n_glob.items()}
        pos = {t: {int(g): i for i, g in enumerate(v.tolist())} for t, v in n_id.items()}
        edges: dict[EdgeType, list[np.ndarray]] = {}
        for out in parts:
            for et, row in out.row.items():
                col = out.col[et]
                s_glob = out.node[et[0]][row].numpy()
                d_glob = out.node[et[2]][col].numpy()
                s = np.fromiter((pos[et[0]][g] for g in s_glob), np.int64, len(s_glob))
                d = np.fromiter((pos[et[2]][g] for g in d_glob), np.int64, len(d_glob))
                edges.setdefault(et, []).append(np.stack([s, d]))
        edge_index = {et: torch.from_numpy(np.unique(np.concatenate(v, 1), axis=1)) for et, v in edges.items()}
        seed_pos = {t: torch.as_tensor([pos[t][int(g)] for g in np.asarray(ids)]) for t, ids in seeds.items()}
        sub_x = None if x is None else {t: v[n_id[t]] for t, v in x.items() if t in n_id}
        return SampledGraph(n_id=n_id, edge_index=edge_index, x=sub_x, seed_pos=seed_pos)


def make_sampler(
    edge_index: dict[EdgeType, torch.Tensor],
    num_nodes: dict[str, int],
    fanouts: list[int],
    seed: int = 0,
    prefer_pyg: bool = True,
) -> HeteroNeighborSampler | PygHeteroSampler:
    """PyG's sampler when pyg-lib/torch-sparse are importable (and ``prefer_pyg``), else ours."""
    if prefer_pyg and pyg_sampler_available():
        log.info("neighbour sampling with PyG (pyg-lib/torch-sparse available)")
        return PygHeteroSampler(edge_index, num_nodes, fanouts, seed)
    log.info("neighbour sampling with the vectorized CSR sampler (pyg-lib/torch-sparse not installed)")
    return HeteroNeighborSampler(edge_index, num_nodes, fanouts, seed)
