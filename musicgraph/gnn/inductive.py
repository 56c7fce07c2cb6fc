"""Embeddings for nodes a model never saw (new users, new artists/songs), without retraining.

Two ways in, one result type (:class:`FoldIn`, vectors in the trained model's space):

* :meth:`InductiveEmbedder.from_checkpoint` reloads a training run (``config.json`` + ``best.pt``)
  with the graph it was trained on and folds new nodes in with the model's own rule:

  - **GraphSAGE** (``sage``/``sage-bipartite``, inductive by construction): the new nodes are
    appended to the training graph with their edges (listening, friends, tags...), their layer-0
    input is the model's propagation of their neighbours' input embeddings (plus projected node
    features when the model uses them; the degree feature is recomputed), and the trained layers
    run over the augmented graph: the new node's output is an embedding in the same space.
  - **LightGCN**: the propagation rule ``e^(l+1)_u = sum_i e^(l)_i / sqrt(d_u d_i)`` applied to the
    trained per-layer embeddings of the neighbours, the unknown ego embedding replaced by the
    first propagated layer, layers averaged as in the model.
  - **MF**: the (degree-normalized) sum of the neighbours' vectors.

  ``method="bpr"`` then refines each new vector by a few Adam steps of BPR against the frozen
  other side (its own interactions as positives, uniformly drawn negatives); ``method="ls"`` is the
  closed-form implicit least-squares fold-in (iALS) against the frozen other side.

* :meth:`InductiveEmbedder.from_embeddings` needs only final embeddings (``embeddings.pt``, or
  the vectors of the GNN FAISS index): a new node gets the normalized sum of its neighbours'
  vectors (one LightGCN propagation step over final embeddings). This is what the catalog uses
  (:class:`GnnEmbeddings`), so a run directory is not needed at serving time.

:class:`GnnEmbeddings` is the :class:`~musicgraph.graph.check.DerivedIndex` of the GNN FAISS index
(``gnn.faiss`` + ``gnn.ids.json``): catalog changes upsert fold-in vectors of new or changed nodes
and tombstone deleted ones; ``check`` reports missing/orphan ids, count and dimension drift;
``repair`` fills missing nodes inductively, drops orphans and rebuilds a corrupt index from the
store's ``embedding`` properties.

Example::

    emb = InductiveEmbedder.from_checkpoint("runs/lightgcn-s2020")
    new = emb.embed_users({"catalog:42": ["radiohead", "portishead", "massive attack"]})
    scores = new.vectors @ emb.final["Artist"].T
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musicgraph.graph.check import Issue
from musicgraph.graph.schema import Label, NodeRef, Rel

if TYPE_CHECKING:

    from musicgraph.gnn.data import TrainGraph
    from musicgraph.gnn.splits import Split
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

EdgeType = tuple[str, str, str]
METHODS = ("propagate", "bpr", "ls")


@dataclass(slots=True)
class FoldIn:
    """Inductive embeddings of new nodes of one type.

    Attributes:
        node_type: the label of the new nodes.
        keys: their keys (row order of ``vectors``).
        vectors: ``(len(keys), dim)`` float32 embeddings in the model's space (zero rows for nodes
            with no known neighbour).
        neighbours: known neighbours used per node.
        unknown: neighbour keys given that the model does not know (ignored).
        method: ``propagate``, ``bpr`` or ``ls``.
    """

    node_type: str
    keys: list[str]
    vectors: np.ndarray
    neighbours: np.ndarray
    unknown: int = 0
    method: str = "propagate"

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{key: vector}`` of the nodes that had at least one known neighbour."""
        return {k: v for k, v, n in zip(self.keys, self.vectors, self.neighbours, strict=True) if n > 0}


def _reverse(et: EdgeType) -> EdgeType:
    s, r, d = et
    return (d, r[4:], s) if r.startswith("rev_") else (d, f"rev_{r}", s)


class InductiveEmbedder:
    """Embeds unseen users/items (any node type for GraphSAGE) with a trained model, no retraining.

    Build it with :meth:`from_checkpoint` (model-exact rules) or :meth:`from_embeddings` (final
    vectors only). ``final[node_type]`` holds the trained nodes' final embeddings (the other side
    that new vectors are scored against) and ``keys[node_type]`` their keys.
    """

    def __init__(
        self,
        kind: str,
        keys: dict[str, list[str]],
        final: dict[str, np.ndarray],
        *,
        user_type: str = Label.USER.value,
        item_type: str = Label.ARTIST.value,
        interaction: EdgeType | None = None,
        layers: dict[str, list[np.ndarray]] | None = None,
        degree: dict[str, np.ndarray] | None = None,
        model: Any = None,
        graph: TrainGraph | None = None,
        adjacency: dict[EdgeType, Any] | None = None,
    ):
        if kind not in ("lightgcn", "mf", "sage", "embeddings"):
            raise ValueError(f"unknown model kind {kind!r}; expected lightgcn, mf, sage or embeddings")
        self.kind = kind
        self.keys = {t: [str(k) for k in v] for t, v in keys.items()}
        self.pos = {t: {k: i for i, k in enumerate(v)} for t, v in self.keys.items()}
        self.final = {t: np.ascontiguousarray(v, dtype=np.float32) for t, v in final.items()}
        self.user_type, self.item_type = user_type, item_type
        self.interaction: EdgeType = interaction or (user_type, Rel.LISTENED_TO.value, item_type)
        self.layers = layers or {}
        self.degree = degree or {}
        self.model = model
        self.graph = graph
        self.adjacency = adjacency or {}
        dims = {v.shape[1] for v in self.final.values() if v.ndim == 2 and v.shape[0]}
        if len(dims) > 1:
            raise ValueError(f"final embeddings differ in dimension across node types: {sorted(dims)}")
        self.dim = dims.pop() if dims else 0

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_embeddings(
        cls,
        embeddings: Mapping[str, tuple[Sequence[str], np.ndarray]],
        *,
        user_type: str = Label.USER.value,
        item_type: str = Label.ARTIST.value,
        adjacency: Mapping[EdgeType, Any] | None = None,
    ) -> InductiveEmbedder:
        """From final embeddings only (``{node type: (keys, vectors)}``, e.g. :func:`~musicgraph.gnn.embed.load_embeddings`).

        ``adjacency`` (optional): ``{(src, rel, dst): scipy sparse src x dst}`` of the training graph,
        whose degrees weight neighbours by ``1/sqrt(degree)`` as LightGCN does; without it every
        neighbour weighs the same.
        """
        keys = {t: list(k) for t, (k, _) in embeddings.items()}
        final = {t: np.asarray(v, dtype=np.float32) for t, (_, v) in embeddings.items()}
        degree = {}
        for (s, _r, d), mat in (adjacency or {}).items():
            m = mat.tocsr()
            degree.setdefault(d, np.zeros(m.shape[1]))
            degree[d] = degree[d] + np.asarray((m != 0).sum(0)).ravel()
            degree.setdefault(s, np.zeros(m.shape[0]))
            degree[s] = degree[s] + np.asarray((m != 0).sum(1)).ravel()
        return cls("embeddings", keys, final, user_type=user_type, item_type=item_type, degree=degree)

    @classmethod
    def from_checkpoint(
        cls,
        run: str | Path,
        graph: TrainGraph | None = None,
        split: Split | None = None,
        checkpoint: str = "best.pt",
    ) -> InductiveEmbedder:
        """Reload a training run (``config.json`` + ``checkpoint``) for model-exact fold-in.

        Args:
            run: the run directory of :mod:`musicgraph.gnn.train`.
            graph, split: the training view and split the run was trained on; when omitted they are
                rebuilt from the run's configuration (``train.load_graph``, deterministic).
            checkpoint: ``best.pt`` (the early-stopping choice) or ``last.pt``.
        """
        import torch

        from musicgraph.gnn.models import build_model

        run = Path(run)
        cfg_path, ck_path = run / "config.json", run / checkpoint
        for p in (cfg_path, ck_path):
            if not p.exists():
                raise FileNotFoundError(f"{p} not found: {run} is not a finished training run (musicgraph gnn train)")
        cfg = json.loads(cfg_path.read_text())
        if graph is None or split is None:
            from musicgraph.gnn.train import TrainConfig, load_graph

            known = set(TrainConfig.__dataclass_fields__)
            graph, split = load_graph(TrainConfig(**{k: v for k, v in cfg.items() if k in known}), int(cfg["split_seed"]))
        name = str(cfg["model"])
        model = build_model(
            name, graph, dim=cfg["dim"], layers=cfg["layers"], aggr=cfg["aggr"], rel_aggr=cfg["rel_aggr"],
            init=cfg["init"], combine=cfg["combine"], activation=cfg["activation"], dropout=cfg["dropout"],
            features=cfg["features"], rel_scale=cfg["rel_scale"], rel_scale_init=cfg["rel_scale_init"],
        )
        state = torch.load(ck_path, map_location="cpu", weights_only=False)["model"]
        sub = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
        missing, unexpected = model.load_state_dict(sub, strict=False)
        if unexpected or [m for m in missing if "map" not in m]:
            raise ValueError(f"{ck_path}: checkpoint does not fit the {name} model of {cfg_path} "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        pred = state.get("predictor.mlp.0.weight")
        if pred is not None or cfg.get("predictor", "dot") != "dot":
            kind = "an MLP" if pred is not None else f"the {cfg.get('predictor')!r} predictor"
            raise ValueError(f"{run}: fold-in supports the dot-product predictor only (this run uses {kind})")
        model.eval()
        ut, it = graph.user_type, graph.item_type
        ukeys = [str(k) for k in split.user_keys]
        ikeys = [str(k) for k in split.item_keys]
        tu, ti = graph.train_user.cpu().numpy(), graph.train_item.cpu().numpy()
        deg = {ut: np.bincount(tu, minlength=graph.num_users).astype(np.float64),
               it: np.bincount(ti, minlength=graph.num_items).astype(np.float64)}
        with torch.no_grad():
            if name == "mf":
                u, i = model()
                return cls("mf", {ut: ukeys, it: ikeys}, {ut: u.numpy(), it: i.numpy()}, user_type=ut,
                           item_type=it, interaction=graph.interaction, degree=deg)
            if name == "lightgcn":
                from musicgraph.gnn.models import sym_spmm

                x = model.embedding.weight
                per_layer = [x]
                for _ in range(model.num_layers):
                    x = sym_spmm(model._adj, x)
                    per_layer.append(x)
                nu = model.num_users
                layers = {ut: [v[:nu].numpy() for v in per_layer], it: [v[nu:].numpy() for v in per_layer]}
                out = torch.stack(per_layer).mean(0)
                return cls("lightgcn", {ut: ukeys, it: ikeys}, {ut: out[:nu].numpy(), it: out[nu:].numpy()},
                           user_type=ut, item_type=it, interaction=graph.interaction, layers=layers, degree=deg)
            outs = model.encode(graph.n_id, graph.edge_index, graph.x)
        if graph.node_keys is None:
            raise ValueError("GraphSAGE fold-in needs the graph's node keys (TrainGraph.node_keys)")
        keys = {t: [str(k) for k in graph.node_keys[t]] for t in outs}
        final = {t: v.float().numpy() for t, v in outs.items()}
        return cls("sage", keys, final, user_type=ut, item_type=it, interaction=graph.interaction,
                   model=model, graph=graph)

    # ------------------------------------------------------------------ public API
    def embed_users(
        self,
        histories: Mapping[str, Iterable[str]],
        method: str = "propagate",
        extra: Mapping[EdgeType, Mapping[str, Iterable[str]]] | None = None,
        **kw: Any,
    ) -> FoldIn:
        """Embeddings of new users from the items they interacted with (``{user key: item keys}``).

        ``extra``: further edges of the new users for GraphSAGE, ``{(User, rel, dst): {user: keys}}``
        (friends, tags); other models use the interactions only.
        """
        edges: dict[EdgeType, Mapping[str, Iterable[str]]] = {self.interaction: histories}
        edges.update(extra or {})
        return self.embed(self.user_type, edges, method=method, **kw)

    def embed_items(
        self,
        listeners: Mapping[str, Iterable[str]],
        method: str = "propagate",
        extra: Mapping[EdgeType, Mapping[str, Iterable[str]]] | None = None,
        **kw: Any,
    ) -> FoldIn:
        """Embeddings of new items from the users who interacted with them (``{item key: user keys}``).

        ``extra``: further edges of the new items for GraphSAGE, e.g. ``{(Artist, TAGGED, Tag): {...}}``.
        """
        edges: dict[EdgeType, Mapping[str, Iterable[str]]] = {_reverse(self.interaction): listeners}
        edges.update(extra or {})
        return self.embed(self.item_type, edges, method=method, **kw)

    def embed(
        self,
        node_type: str,
        edges: Mapping[EdgeType, Mapping[str, Iterable[str]]],
        method: str = "propagate",
        *,
        steps: int = 100,
        lr: float = 0.01,
        reg: float = 1e-4,
        seed: int = 0,
    ) -> FoldIn:
        """Embeddings of new nodes of ``node_type`` from their edges ``{(node_type, rel, dst): {key: neighbour keys}}``.

        Neighbour keys may be trained nodes or other new nodes of the same call (same type); unknown
        keys are counted in :attr:`FoldIn.unknown` and ignored. ``method``: ``propagate`` (the
        model's rule), ``bpr`` (propagate, then ``steps`` Adam steps of BPR against the frozen other
        side with ``lr``/``reg``) or ``ls`` (implicit least squares against the frozen other side).
        """
        if method not in METHODS:
            raise ValueError(f"unknown fold-in method {method!r}; expected one of {', '.join(METHODS)}")
        for et in edges:
            if et[0] != node_type:
                raise ValueError(f"edge type {et} does not start at the new nodes' type {node_type!r}")
        new_keys = sorted({str(k) for m in edges.values() for k in m})
        known_new = set(self.pos.get(node_type, {}))
        clash = [k for k in new_keys if k in known_new]
        if clash:
            log.info("%d %s nodes are already trained (e.g. %s); folding them in anew", len(clash), node_type, clash[:3])
        nbrs, unknown = self._resolve(node_type, new_keys, edges)
        if self.kind == "sage":
            vecs = self._sage(node_type, new_keys, nbrs)
        else:
            vecs = self._propagate(node_type, new_keys, nbrs)
        inter = self._interaction_nbrs(node_type, nbrs)
        if method != "propagate" and inter is not None:
            other_type, lists = inter
            if method == "bpr":
                vecs = self._bpr(vecs, lists, self.final[other_type], steps=steps, lr=lr, reg=reg, seed=seed)
            else:
                vecs = self._ls(lists, self.final[other_type], reg=_ls_reg(reg))
        count = np.array([sum(len(v[i]) for v in nbrs.values()) for i in range(len(new_keys))], dtype=np.int64)
        vecs[count == 0] = 0.0
        if (count == 0).any():
            log.warning("%d new %s nodes have no known neighbour: zero vectors", int((count == 0).sum()), node_type)
        return FoldIn(node_type, new_keys, vecs.astype(np.float32), count, unknown, method)

    def scores(self, fold: FoldIn, other_type: str | None = None) -> np.ndarray:
        """Dot-product scores of folded-in nodes against every trained node of ``other_type``."""
        other = other_type or (self.item_type if fold.node_type == self.user_type else self.user_type)
        return fold.vectors @ self.final[other].T

    # ------------------------------------------------------------------ internals
    def _resolve(
        self, node_type: str, new_keys: list[str], edges: Mapping[EdgeType, Mapping[str, Iterable[str]]]
    ) -> tuple[dict[EdgeType, list[np.ndarray]], int]:
        """Neighbour indices per edge type and new node (new nodes of the same type: ``-1 - row``)."""
        row = {k: i for i, k in enumerate(new_keys)}
        out: dict[EdgeType, list[np.ndarray]] = {}
        unknown = 0
        for et, per_node in edges.items():
            dst = et[2]
            pos = self.pos.get(dst, {})
            lists: list[list[int]] = [[] for _ in new_keys]
            for k, ns in per_node.items():
                seen: set[int] = set()
                for n in ns:
                    n = str(n)
                    j = pos.get(n)
                    if j is None and dst == node_type and n in row:
                        j = -1 - row[n]
                    if j is None:
                        unknown += 1
                    elif j not in seen:
                        seen.add(j)
                        lists[row[str(k)]].append(j)
            out[tuple(et)] = [np.asarray(v, dtype=np.int64) for v in lists]
        return out, unknown

    def _interaction_nbrs(self, node_type: str, nbrs: dict[EdgeType, list[np.ndarray]]) -> tuple[str, list[np.ndarray]] | None:
        for et in (self.interaction, _reverse(self.interaction)):
            if et[0] == node_type and et in nbrs:
                return et[2], [v[v >= 0] for v in nbrs[et]]
        return None

    def _propagate(self, node_type: str, new_keys: list[str], nbrs: dict[EdgeType, list[np.ndarray]]) -> np.ndarray:
        """LightGCN rule (per layer) / normalized sum of neighbour vectors (MF, final embeddings)."""
        out = np.zeros((len(new_keys), self.dim), dtype=np.float64)
        used = 0
        for et, lists in nbrs.items():
            dst = et[2]
            if dst not in self.final:
                continue
            if self.kind in ("lightgcn", "mf") and et not in (self.interaction, _reverse(self.interaction)):
                log.info("%s fold-in uses the interactions only; ignoring %s", self.kind, et)
                continue
            used += 1
            deg = self.degree.get(dst)
            for r, idx in enumerate(lists):
                idx = idx[idx >= 0]
                if not len(idx):
                    continue
                w = 1.0 / np.sqrt(np.maximum(deg[idx], 1.0)) if deg is not None else np.ones(len(idx))
                w = w / np.sqrt(len(idx))
                if self.kind == "lightgcn":
                    lay = self.layers[dst]
                    # e^(l+1) = sum_i e^(l)_i / sqrt(d_u d_i), l = 0..L-1; ego := e^(1); mean of L + 1 layers
                    props = [w @ lay[layer][idx] for layer in range(len(lay) - 1)]
                    out[r] += (props[0] + sum(props)) / len(lay)
                else:
                    out[r] += w @ self.final[dst][idx]
        if not used:
            raise ValueError(f"no usable edge types for new {node_type} nodes: give edges to {sorted(self.final)}")
        return out.astype(np.float32)

    def _sage(self, node_type: str, new_keys: list[str], nbrs: dict[EdgeType, list[np.ndarray]]) -> np.ndarray:
        """Append the new nodes and their edges to the training graph and run the trained layers."""
        import torch
        from torch import nn

        assert self.model is not None and self.graph is not None
        g, model = self.graph, self.model
        n_old = int(g.n_id[node_type].numel())
        n_new = len(new_keys)
        edge_index = dict(g.edge_index)
        for et, lists in nbrs.items():
            fwd, rev = tuple(et), _reverse(tuple(et))
            if fwd not in edge_index and rev not in edge_index:
                log.info("GraphSAGE has no relation %s; ignoring those edges", fwd)
                continue
            src = np.concatenate([np.full(len(v), r, np.int64) for r, v in enumerate(lists)]) + n_old
            dst = np.concatenate(lists) if lists else np.zeros(0, np.int64)
            dst = np.where(dst < 0, n_old - 1 - dst, dst)  # new nodes of the same type: -1 - row
            e = torch.as_tensor(np.stack([src, dst]), dtype=torch.long)
            if fwd in edge_index:
                edge_index[fwd] = torch.cat([edge_index[fwd], e], 1)
            if rev in edge_index:
                edge_index[rev] = torch.cat([edge_index[rev], e.flip(0)], 1)
        n_id = {t: (torch.arange(n_old + n_new) if t == node_type else v) for t, v in g.n_id.items()}
        x = None
        if g.x is not None:
            x = {t: v for t, v in g.x.items()}
            if node_type in x:
                feats = torch.zeros(n_new, x[node_type].shape[1])
                deg = torch.zeros(n_old + n_new)
                for (s, r, d), ei in edge_index.items():
                    if r.startswith("rev_"):
                        continue
                    if s == node_type:
                        deg += torch.bincount(ei[0], minlength=n_old + n_new).float()
                    if d == node_type:
                        deg += torch.bincount(ei[1], minlength=n_old + n_new).float()
                d = torch.log1p(deg)
                z = (d - d[:n_old].mean()) / d[:n_old].std().clamp(min=1e-6)
                feats[:, 0] = z[n_old:]
                x[node_type] = torch.cat([x[node_type], feats])
        with torch.no_grad():
            ego_old = model.emb[node_type].weight
            ego_new = torch.zeros(n_new, ego_old.shape[1])
            # ego fold-in: one normalized propagation step of the neighbours' input embeddings
            counted = 0
            for et, lists in nbrs.items():
                if (tuple(et) not in edge_index and _reverse(tuple(et)) not in edge_index) or et[2] not in model.emb:
                    continue
                if self.kind == "sage" and et[2] == node_type:
                    continue
                counted += 1
                table = model.emb[et[2]].weight
                deg_n = torch.zeros(table.shape[0])
                full = edge_index.get(tuple(et))
                if full is not None:
                    deg_n += torch.bincount(full[1][full[1] < table.shape[0]], minlength=table.shape[0]).float()
                for r, idx in enumerate(lists):
                    idx = idx[idx >= 0]
                    if len(idx):
                        w = deg_n[idx].clamp(min=1).rsqrt() / np.sqrt(len(idx))
                        ego_new[r] += w @ table[idx]
            if counted > 1:
                ego_new /= counted
            ext = nn.Embedding(n_old + n_new, ego_old.shape[1])
            ext.weight.copy_(torch.cat([ego_old, ego_new]))
            saved_emb, saved_cache = model.emb[node_type], model._adj_cache
            model.emb[node_type], model._adj_cache = ext, {}
            try:
                outs = model.encode(n_id, edge_index, x)
            finally:
                model.emb[node_type], model._adj_cache = saved_emb, saved_cache
        return outs[node_type][n_old:].float().numpy()

    @staticmethod
    def _bpr(
        init: np.ndarray, lists: list[np.ndarray], other: np.ndarray, *, steps: int, lr: float, reg: float, seed: int
    ) -> np.ndarray:
        """Refine new vectors by BPR against the frozen ``other`` side (all new nodes at once)."""
        import torch

        rows = np.concatenate([np.full(len(v), r, np.int64) for r, v in enumerate(lists)]) if lists else np.zeros(0, np.int64)
        cols = np.concatenate(lists) if lists else np.zeros(0, np.int64)
        if not len(rows):
            return init
        gen = torch.Generator().manual_seed(seed)
        v = torch.nn.Parameter(torch.as_tensor(init, dtype=torch.float32).clone())
        o = torch.as_tensor(other, dtype=torch.float32)
        r_t, c_t = torch.as_tensor(rows), torch.as_tensor(cols)
        opt = torch.optim.Adam([v], lr=lr)
        for _ in range(steps):
            neg = torch.randint(0, o.shape[0], (len(rows),), generator=gen)
            pos_s = (v[r_t] * o[c_t]).sum(-1)
            neg_s = (v[r_t] * o[neg]).sum(-1)
            loss = torch.nn.functional.softplus(neg_s - pos_s).mean() + reg * v.pow(2).sum() / max(len(lists), 1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return v.detach().numpy()

    @staticmethod
    def _ls(lists: list[np.ndarray], other: np.ndarray, reg: float, alpha: float = 1.0, w0: float = 0.1) -> np.ndarray:
        """iALS fold-in: ``argmin sum_obs (1+alpha)(1 - v.o)^2 + w0 sum_all (v.o)^2 + reg |v|^2``.

        ``alpha = 1, w0 = 0.1`` were the best of a small grid on HetRec cold users (LightGCN,
        Recall@10 0.188 vs 0.180-0.183 for the other settings; docs/gnn.md).
        """
        o = np.asarray(other, dtype=np.float64)
        gram = w0 * (o.T @ o) + reg * np.eye(o.shape[1])
        out = np.zeros((len(lists), o.shape[1]))
        for r, idx in enumerate(lists):
            if not len(idx):
                continue
            e = o[idx]
            a = gram + (1 + alpha) * (e.T @ e)
            out[r] = np.linalg.solve(a, (1 + alpha) * e.sum(0))
        return out.astype(np.float32)


def _ls_reg(reg: float) -> float:
    """Ridge term of the least-squares fold-in for a given BPR ``reg`` (kept well-conditioned)."""
    return max(reg, 1e-3)


# ============================================================================ catalog / check
@dataclass(slots=True)
class GnnEmbeddings:
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

    def exists(self) -> bool:
        from musicgraph.gnn.embed import INDEX_FILE

        return (self.directory / INDEX_FILE).is_file()

    def load(self) -> Any:
        from musicgraph.gnn.embed import GnnIndex

        return GnnIndex.load(self.directory)

    # ------------------------------------------------------------------ apply
    def apply(self, store: GraphStore, changes: Any = None) -> dict[str, Any]:
        """Upsert fold-in vectors of added/changed nodes, tombstone deleted ones; returns counts."""
        if not self.exists():
            return {"skipped": f"no GNN index in {self.directory}"}
        idx = self.load()
        labels = idx.labels()
        deleted = [NodeRef(lab, k) for lab, keys in (getattr(changes, "deleted", {}) or {}).items()
                   if lab in labels for k in keys]
        want: dict[str, set[str]] = {}
        for kind in ("added", "updated"):
            for lab, keys in (getattr(changes, kind, {}) or {}).items():
                if lab in labels:
                    want.setdefault(lab, set()).update(keys)
        if changes is None:  # whole-store sync: every node of an embedded label without a vector
            for lab in labels:
                want[lab] = {k for k in store.node_keys(lab) if (lab, k) not in idx.pos}
        dropped = idx.delete(deleted)
        refs = [NodeRef(lab, k) for lab in sorted(want) for k in sorted(want[lab])]
        if not self.refresh_updated:
            refs = [r for r in refs if (r.label, r.key) not in idx.pos]
        vecs, missing = fold_in_from_index(store, idx, refs)
        if vecs:
            idx.upsert(list(vecs), np.stack(list(vecs.values())))
            if self.write_property:
                _write_property(store, vecs)
        idx.save(self.directory)
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
            vecs, missing = fold_in_from_index(store, idx, refs)
            if vecs:
                idx.upsert(list(vecs), np.stack(list(vecs.values())))
                if self.write_property:
                    _write_property(store, vecs)
            idx.save(self.directory)
            done.append(f"gnn: folded in {len(vecs)} missing nodes"
                        + (f" ({len(missing)} have no embedded neighbour and stay missing)" if missing else ""))
        return done

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


# ============================================================================ hold-out protocol
@dataclass(slots=True)
class HoldOut:
    """Users and items kept out of training entirely, and the split the model trains on.

    Attributes:
        full: the complete split (every user and item).
        users: indices (into ``full.user_keys``) of the cold users.
        items: indices (into ``full.item_keys``) of the cold items.
        kept: ``full`` without the cold users and items (re-indexed; train/valid/test pairs that
            touch a cold user or item are dropped).
    """

    full: Split
    users: np.ndarray
    items: np.ndarray
    kept: Split

    @property
    def user_keys(self) -> list[str]:
        return [str(self.full.user_keys[u]) for u in self.users]

    @property
    def item_keys(self) -> list[str]:
        return [str(self.full.item_keys[i]) for i in self.items]


def make_holdout(
    split: Split, user_frac: float = 0.1, item_frac: float = 0.0, seed: int = 0, min_item_users: int = 1
) -> HoldOut:
    """Draw cold users (a random ``user_frac``) and cold items (``item_frac`` of the items with at
    least ``min_item_users`` training users) and the split without them."""
    from musicgraph.gnn.splits import Split as SplitCls

    rng = np.random.default_rng(seed)
    n_u = int(round(user_frac * split.num_users))
    users = np.sort(rng.choice(split.num_users, n_u, replace=False)) if n_u else np.zeros(0, np.int64)
    pop = np.bincount(split.train_item, minlength=split.num_items)
    eligible = np.flatnonzero(pop >= min_item_users)
    n_i = int(round(item_frac * len(eligible)))
    items = np.sort(rng.choice(eligible, n_i, replace=False)) if n_i else np.zeros(0, np.int64)
    keep_u = np.ones(split.num_users, bool)
    keep_u[users] = False
    keep_i = np.ones(split.num_items, bool)
    keep_i[items] = False
    umap = np.cumsum(keep_u) - 1
    imap = np.cumsum(keep_i) - 1
    parts = {}
    for part in ("train", "valid", "test"):
        u, i = getattr(split, part)
        m = keep_u[u] & keep_i[i]
        parts[part] = (umap[u[m]], imap[i[m]], m)
    kept = SplitCls(
        user_keys=split.user_keys[keep_u], item_keys=split.item_keys[keep_i],
        train_user=parts["train"][0], train_item=parts["train"][1],
        valid_user=parts["valid"][0], valid_item=parts["valid"][1],
        test_user=parts["test"][0], test_item=parts["test"][1],
        train_weight=split.train_weight[parts["train"][2]] if len(split.train_weight) == len(split.train_user)
        else np.zeros(0, np.float32),
        seed=split.seed,
    )
    return HoldOut(full=split, users=users.astype(np.int64), items=items.astype(np.int64), kept=kept)


def drop_nodes(tables: Any, drop: Mapping[str, Iterable[str]]) -> Any:
    """:class:`~musicgraph.gnn.data.GraphTables` without the given nodes (``{type: keys}``) and their edges."""
    from musicgraph.gnn.data import GraphTables

    keep: dict[str, np.ndarray] = {}
    remap: dict[str, np.ndarray] = {}
    for t, keys in tables.keys.items():
        gone = {str(k) for k in drop.get(t, ())}
        mask = np.array([str(k) not in gone for k in keys], dtype=bool)
        keep[t] = mask
        remap[t] = np.cumsum(mask) - 1
    edges = {}
    for (s, r, d), (si, di, w) in tables.edges.items():
        m = keep[s][si] & keep[d][di]
        edges[(s, r, d)] = (remap[s][si[m]], remap[d][di[m]], w[m])
    feats = {t: f[keep[t]] for t, f in tables.features.items()}
    return GraphTables(keys={t: k[keep[t]] for t, k in tables.keys.items()}, edges=edges, features=feats)


def neighbour_lists(tables: Any, et: EdgeType, keys: Iterable[str]) -> dict[str, list[str]]:
    """``{key: neighbour keys}`` along ``et`` (forward, or the reverse of a stored type) for ``keys``."""
    want = {str(k) for k in keys}
    out: dict[str, list[str]] = {k: [] for k in want}
    if et in tables.edges:
        si, di, _ = tables.edges[et]
        src_keys, dst_keys = tables.keys[et[0]], tables.keys[et[2]]
    elif _reverse(et) in tables.edges:
        di, si, _ = tables.edges[_reverse(et)]
        src_keys, dst_keys = tables.keys[et[0]], tables.keys[et[2]]
    else:
        return out
    for a, b in zip(si.tolist(), di.tolist(), strict=True):
        k = str(src_keys[a])
        if k in want:
            out[k].append(str(dst_keys[b]))
    return out


def train_on_graph(cfg: Any, graph: TrainGraph, split: Split) -> dict[str, Any]:
    """Run :func:`musicgraph.gnn.train.train` with ``cfg`` on a given training view and split
    (e.g. the graph without cold nodes) instead of the one ``cfg`` would load."""
    from musicgraph.gnn import train as tr

    original = tr.load_graph
    tr.load_graph = lambda _cfg, _seed: (graph, split)  # type: ignore[assignment]
    try:
        return tr.train(cfg)
    finally:
        tr.load_graph = original  # type: ignore[assignment]


def _eval_scores(score_fn: Any, rows: np.ndarray, known: Any, target: Any) -> dict[str, float]:
    import scipy.sparse as sp

    from musicgraph.gnn.full_sort import full_sort_metrics

    known = sp.csr_matrix(known)[rows]
    target = sp.csr_matrix(target)[rows]
    return full_sort_metrics(score_fn, known, target, ks=(10, 20))


def cold_user_metrics(
    holdout: HoldOut,
    user_vecs: np.ndarray,
    item_vecs: np.ndarray,
) -> dict[str, float]:
    """Recall/NDCG/Hit@10,20 of cold users' test items among the kept items.

    ``user_vecs``: one row per cold user (order of ``holdout.users``); ``item_vecs``: one row per
    kept item (order of ``holdout.kept.item_keys``). Training and validation items are masked.
    """
    import torch

    full = holdout.full
    kept_items = np.flatnonzero(~np.isin(np.arange(full.num_items), holdout.items))
    known = full.known_before("test")[holdout.users][:, kept_items]
    target = full.matrix("test")[holdout.users][:, kept_items]
    u = torch.as_tensor(user_vecs, dtype=torch.float32)
    it = torch.as_tensor(item_vecs, dtype=torch.float32)
    return _eval_scores(lambda r: u[r] @ it.T, np.arange(len(holdout.users)), known, target)


def cold_item_metrics(holdout: HoldOut, user_vecs: np.ndarray, item_vecs: np.ndarray) -> dict[str, float]:
    """Item-centric Recall/NDCG/Hit@10,20 of the cold items: for each cold item, the kept users are
    ranked by score and the target is the users with that item in test (users who have it in
    training or validation are masked; items with no test user are left out).

    Per-item ranking does not depend on the item vector's norm, so a fold-in cannot score by
    pushing cold items above every warm one. ``user_vecs``: one row per kept user (order of
    ``holdout.kept.user_keys``); ``item_vecs``: one row per cold item (order of ``holdout.items``).
    """
    import torch

    full = holdout.full
    kept_users = np.flatnonzero(~np.isin(np.arange(full.num_users), holdout.users))
    known = full.known_before("test")[kept_users][:, holdout.items].T.tocsr()
    target = full.matrix("test")[kept_users][:, holdout.items].T.tocsr()
    u = torch.as_tensor(user_vecs, dtype=torch.float32)
    it = torch.as_tensor(item_vecs, dtype=torch.float32)
    return _eval_scores(lambda r: it[r] @ u.T, np.arange(len(holdout.items)), known, target)
