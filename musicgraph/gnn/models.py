"""Recommendation models over the user -> item graph: MF-BPR, LightGCN and heterogeneous GraphSAGE.

Every model maps a :class:`~musicgraph.gnn.data.TrainGraph` (or a sampled sub-graph) to
``(user_emb, item_emb)``; a :class:`LinkPredictor` (dot product or MLP) scores pairs, and
:func:`bpr_loss` / :func:`bce_loss` train them. ``torch`` and ``torch_geometric`` are imported
here, so import this module only when training.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger(__name__)

EdgeType = tuple[str, str, str]


# ------------------------------------------------------------------ link predictors and losses
class LinkPredictor(nn.Module):
    """Scores (user, item) pairs from their embeddings: ``dot`` product, ``cos`` ine or a small ``mlp``.

    The MLP scores ``[u, i, u * i]`` with one hidden layer; the dot product allows full-sort
    ranking with one matrix product, so it is the default. ``cos`` is the dot product of
    L2-normalized embeddings (in [-1, 1]), the score a softmax loss with a temperature expects.
    """

    def __init__(self, dim: int, kind: str = "dot", hidden: int = 128):
        super().__init__()
        if kind not in ("dot", "cos", "mlp"):
            raise ValueError(f"link predictor must be 'dot', 'cos' or 'mlp', got {kind!r}")
        self.kind = kind
        self.mlp = (
            nn.Sequential(nn.Linear(3 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1)) if kind == "mlp" else None
        )

    def forward(self, u: Tensor, i: Tensor) -> Tensor:
        """Scores of row-aligned pairs ``u[k], i[k]``."""
        if self.kind == "cos":
            return (F.normalize(u, dim=-1) * F.normalize(i, dim=-1)).sum(-1)
        if self.mlp is None:
            return (u * i).sum(-1)
        return self.mlp(torch.cat([u, i, u * i], dim=-1)).squeeze(-1)

    def all_items(self, u: Tensor, items: Tensor) -> Tensor:
        """Scores of every user in ``u`` (B x d) against every item (N x d): B x N."""
        if self.kind == "cos":
            return F.normalize(u, dim=-1) @ F.normalize(items, dim=-1).T
        if self.mlp is None:
            return u @ items.T
        b, n = u.shape[0], items.shape[0]
        uu = u[:, None, :].expand(b, n, -1)
        ii = items[None, :, :].expand(b, n, -1)
        return self.mlp(torch.cat([uu, ii, uu * ii], dim=-1)).squeeze(-1)


def bpr_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """Bayesian personalized ranking loss ``-log sigmoid(pos - neg)`` (mean)."""
    return F.softplus(neg - pos).mean()


def softmax_loss(pos: Tensor, neg: Tensor, temperature: float = 0.2) -> Tensor:
    """Sampled softmax: cross-entropy of the positive among itself and its ``K`` negatives.

    ``pos`` has shape ``(B,)``, ``neg`` ``(B, K)``; scores are divided by ``temperature``.
    """
    logits = torch.cat([pos[:, None], neg], dim=1) / temperature
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


def bce_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """Binary cross-entropy with positives labelled 1 and sampled negatives 0."""
    return F.softplus(-pos).mean() + F.softplus(neg).mean()


def perturb(x: Tensor, eps: float) -> Tensor:
    """SimGCL's view noise: add a random vector of length ``eps`` that stays in ``x``'s orthant.

    ``x + sign(x) * normalize(U(0, 1)) * eps`` row-wise (Yu et al., SIGIR 2022): a small rotation
    of each embedding, so contrasting two perturbed views spreads embeddings more uniformly.
    """
    return x + torch.sign(x) * F.normalize(torch.rand_like(x), dim=-1) * eps


def info_nce(a: Tensor, b: Tensor, temperature: float = 0.2) -> Tensor:
    """InfoNCE between row-aligned views: row ``k`` of ``a`` must pick row ``k`` of ``b`` among all rows.

    Cosine similarities divided by ``temperature``; the mean cross-entropy over rows.
    """
    a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
    logits = a @ b.T / temperature
    return (torch.logsumexp(logits, dim=1) - logits.diagonal()).mean()


# ----------------------------------------------------------------------------------- MF-BPR
class MF(nn.Module):
    """Matrix factorization: one embedding per user and per item (trained with BPR)."""

    def __init__(self, num_users: int, num_items: int, dim: int = 64):
        super().__init__()
        self.user = nn.Embedding(num_users, dim)
        self.item = nn.Embedding(num_items, dim)
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)

    def forward(self, graph: Any = None) -> tuple[Tensor, Tensor]:
        return self.user.weight, self.item.weight

    def ego(self, users: Tensor, items: Tensor) -> list[Tensor]:
        """Input embeddings of a batch (for L2 regularization)."""
        return [self.user(users), self.item(items)]


# --------------------------------------------------------------------------------- LightGCN
def normalized_bipartite_adj(
    users: Tensor, items: Tensor, num_users: int, num_items: int
) -> Tensor:
    """Symmetric-normalized ``D^-1/2 A D^-1/2`` of the user-item graph as a sparse CSR tensor."""
    n = num_users + num_items
    row = torch.cat([users, items + num_users])
    col = torch.cat([items + num_users, users])
    deg = torch.bincount(row, minlength=n).float()
    dinv = deg.pow(-0.5)
    dinv[torch.isinf(dinv)] = 0.0
    val = dinv[row] * dinv[col]
    adj = torch.sparse_coo_tensor(torch.stack([row, col]), val, (n, n)).coalesce()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return adj.to_sparse_csr()


class _SymmetricSpMM(torch.autograd.Function):
    """``A @ x`` for a symmetric sparse ``A`` that needs no gradient: the backward is ``A @ grad``.

    Twice as fast as autograd through ``torch.sparse.mm``, which transposes ``A`` on every backward.
    """

    @staticmethod
    def forward(ctx: Any, adj: Tensor, x: Tensor) -> Tensor:
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor]:
        return None, torch.sparse.mm(ctx.adj, grad)


def sym_spmm(adj: Tensor, x: Tensor) -> Tensor:
    """Sparse ``adj @ x`` for a symmetric ``adj`` (see :class:`_SymmetricSpMM`)."""
    if adj.dtype != x.dtype:
        x = x.to(adj.dtype)
    return _SymmetricSpMM.apply(adj, x)


class LightGCN(nn.Module):
    """LightGCN (He et al. 2020) on the user-item bipartite graph.

    ``backend="sparse"`` propagates with one sparse-dense product per layer (fastest on CPU);
    ``backend="pyg"`` delegates to :class:`torch_geometric.nn.models.LightGCN` (message passing
    over ``edge_index``). Both average the layer outputs with equal weights.
    """

    def __init__(self, num_users: int, num_items: int, dim: int = 64, num_layers: int = 3, backend: str = "sparse"):
        super().__init__()
        if backend not in ("sparse", "pyg"):
            raise ValueError(f"LightGCN backend must be 'sparse' or 'pyg', got {backend!r}")
        self.num_users, self.num_items, self.num_layers, self.backend = num_users, num_items, num_layers, backend
        if backend == "pyg":
            from torch_geometric.nn.models import LightGCN as PygLightGCN

            self.pyg = PygLightGCN(num_users + num_items, dim, num_layers)
            self.embedding = self.pyg.embedding
        else:
            self.pyg = None
            self.embedding = nn.Embedding(num_users + num_items, dim)
            nn.init.normal_(self.embedding.weight, std=0.1)
        self._adj: Tensor | None = None
        self._edge_index: Tensor | None = None
        #: training-time view noise of each layer's output (SimGCL/XSimGCL; 0 = off, see :meth:`views`)
        self.noise_eps = 0.0

    def set_graph(self, users: Tensor, items: Tensor) -> None:
        """Use these (training) user-item pairs for propagation."""
        dev = self.embedding.weight.device
        self._adj = normalized_bipartite_adj(users.cpu(), items.cpu(), self.num_users, self.num_items).to(dev)
        ei = torch.stack([users, items + self.num_users]).to(dev)
        self._edge_index = torch.cat([ei, ei.flip(0)], dim=1)

    def forward(self, graph: Any = None) -> tuple[Tensor, Tensor]:
        users, items, _, _ = self.views(graph, cl_layer=None)
        return users, items

    def views(self, graph: Any = None, cl_layer: int | None = 1) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(users, items, users_l, items_l)``: the final embeddings and those of layer ``cl_layer``.

        While training with ``noise_eps > 0`` every layer's output is perturbed (:func:`perturb`)
        before it propagates further, as in XSimGCL: the final and the layer-``cl_layer`` embeddings
        are then two views of one forward pass for a contrastive loss. ``cl_layer=None`` skips the
        second view (returns the final embeddings twice).
        """
        if self._adj is None:
            raise RuntimeError("LightGCN.set_graph() must be called before forward()")
        noisy = self.training and self.noise_eps > 0
        if self.pyg is not None:
            if noisy:
                raise ValueError("view noise (contrastive loss) needs LightGCN backend='sparse'")
            out = self.pyg.get_embedding(self._edge_index)
            view = out
        else:
            x = self.embedding.weight
            acc, view = x, x
            for layer in range(1, self.num_layers + 1):
                x = sym_spmm(self._adj, x)
                if noisy:
                    x = perturb(x, self.noise_eps)
                if layer == cl_layer:
                    view = x
                acc = acc + x
            out = acc / (self.num_layers + 1)
            if cl_layer is None:
                view = out
        n = self.num_users
        return out[:n], out[n:], view[:n], view[n:]

    def ego(self, users: Tensor, items: Tensor) -> list[Tensor]:
        return [self.embedding(users), self.embedding(items + self.num_users)]


# ------------------------------------------------------------------------ hetero GraphSAGE
class _SpMM(torch.autograd.Function):
    """``adj @ x`` with a precomputed transpose for the backward (no transpose per step)."""

    @staticmethod
    def forward(ctx: Any, adj: Tensor, adj_tr: Tensor, x: Tensor) -> Tensor:
        ctx.adj_tr = adj_tr
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor]:
        return None, None, torch.sparse.mm(ctx.adj_tr, grad)


def aggregation_matrix(edge_index: Tensor, num_src: int, num_dst: int, norm: str = "mean") -> Tensor:
    """Sparse CSR ``num_dst x num_src`` matrix that aggregates neighbour rows (``adj_t @ x``).

    ``norm="mean"``: each row sums to 1 (SAGE's mean aggregation); ``"sym"``: ``1/sqrt(d_dst d_src)``
    (GCN/LightGCN normalization); ``"sum"``: all ones. The transpose is attached for the backward.
    """
    src, dst = edge_index[0], edge_index[1]
    ones = torch.ones(src.numel(), device=src.device)
    deg_dst = torch.zeros(num_dst, device=src.device).index_add_(0, dst, ones).clamp_(min=1)
    if norm == "mean":
        val = 1.0 / deg_dst[dst]
    elif norm == "sym":
        deg_src = torch.zeros(num_src, device=src.device).index_add_(0, src, ones).clamp_(min=1)
        val = deg_dst[dst].rsqrt() * deg_src[src].rsqrt()
    elif norm == "sum":
        val = ones
    else:
        raise ValueError(f"norm must be mean, sym or sum, got {norm!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        adj = torch.sparse_coo_tensor(torch.stack([dst, src]), val, (num_dst, num_src)).coalesce()
        adj_t = adj.to_sparse_csr()
        adj_t._mg_transpose = adj.t().coalesce().to_sparse_csr()  # type: ignore[attr-defined]
    return adj_t


def _sage_conv_class() -> type:
    from torch_geometric.nn import SAGEConv

    class SparseSAGEConv(SAGEConv):
        """``SAGEConv`` whose sparse aggregation reuses a precomputed transpose in the backward."""

        def message_and_aggregate(self, adj_t: Any, x: Any) -> Tensor:
            tr = getattr(adj_t, "_mg_transpose", None)
            if tr is not None and self.aggr == "sum":
                src = x[0] if isinstance(x, tuple) else x
                return _SpMM.apply(adj_t, tr, src.to(adj_t.dtype))
            return super().message_and_aggregate(adj_t, x)

    return SparseSAGEConv


class HeteroSAGE(nn.Module):
    """GraphSAGE over a heterogeneous graph: ``HeteroConv`` of one ``SAGEConv`` per edge type.

    Each node type starts from a learnable ID embedding plus, when the graph has node features
    ``x``, a linear projection of them. Layers aggregate neighbours per relation (``aggr``: mean,
    max, sum, ...) and sum over relations; outputs of all layers are combined (``combine``:
    ``mean`` as in LightGCN, ``last``, or ``cat`` then projected) for the user and item types.

    Args:
        num_nodes: nodes per node type.
        edge_types: the (src, rel, dst) types to convolve over (include reverses).
        feature_dims: input feature width per node type (types absent have none).
        user_type / item_type: node types that :meth:`forward` returns embeddings of.
        dim: embedding and hidden width.
        num_layers: SAGE layers.
        aggr: neighbourhood aggregation of SAGEConv (``mean``, ``sym`` = GCN-normalized sum, ``max``...).
        rel_aggr: how outputs of the relation types meeting at a node type are combined.
        init: ``identity`` (relation transforms start at I and root transforms at 0, i.e. the
            model starts as normalized propagation, which trains much faster) or ``default``.
        combine: layer combination.
        activation: apply a non-linearity between layers (``none``, ``relu``, ``tanh``).
        dropout: dropout on hidden layers during training.
        rel_scale: learn one scalar per relation type that multiplies its messages (shared by the
            layers), so side relations (friends, tags) can be weighed against the interactions.
        rel_scale_init: initial scalar of the relations other than ``interaction`` (and its
            reverse), whose scalars start at 1.
        interaction: the user -> item edge type (default: the edge type from ``user_type`` to
            ``item_type``).
    """

    def __init__(
        self,
        num_nodes: dict[str, int],
        edge_types: list[EdgeType],
        feature_dims: dict[str, int] | None = None,
        user_type: str = "User",
        item_type: str = "Artist",
        dim: int = 64,
        num_layers: int = 2,
        aggr: str = "mean",
        combine: str = "mean",
        activation: str = "none",
        dropout: float = 0.0,
        rel_aggr: str = "mean",
        init: str = "identity",
        rel_scale: bool = False,
        rel_scale_init: float = 1.0,
        interaction: EdgeType | None = None,
    ):
        super().__init__()
        from torch_geometric.nn import HeteroConv

        SAGEConv = _sage_conv_class()
        if combine not in ("mean", "last", "cat"):
            raise ValueError(f"combine must be mean, last or cat, got {combine!r}")
        if activation not in ("none", "relu", "tanh"):
            raise ValueError(f"activation must be none, relu or tanh, got {activation!r}")
        for t in (user_type, item_type):
            if t not in num_nodes:
                raise ValueError(f"node type {t!r} not in the graph's node types {sorted(num_nodes)}")
        self.node_types = sorted(num_nodes)
        self.edge_types = [tuple(et) for et in edge_types]
        self.user_type, self.item_type = user_type, item_type
        self.num_layers, self.combine, self.activation, self.dropout = num_layers, combine, activation, dropout
        self.emb = nn.ModuleDict({t: nn.Embedding(max(n, 1), dim) for t, n in num_nodes.items()})
        for e in self.emb.values():
            nn.init.normal_(e.weight, std=0.1)
        self.feat = nn.ModuleDict(
            {t: nn.Linear(d, dim, bias=False) for t, d in (feature_dims or {}).items() if d > 0 and t in num_nodes}
        )
        for lin in self.feat.values():
            nn.init.normal_(lin.weight, std=0.01)
        # mean / sym aggregation run as one sparse product per edge type (pre-normalized matrix)
        self.norm = aggr if aggr in ("mean", "sym") else None
        conv_aggr = "sum" if self.norm else aggr
        # SAGE: h'_t = W_root,t h_t + AGG_rel (W_rel AGG_{u in N_rel} h_u); the root transform is one per
        # node type (not per relation), which halves the dense work of HeteroConv on many relations.
        self.convs = nn.ModuleList(
            HeteroConv(
                {et: SAGEConv((dim, dim), dim, aggr=conv_aggr, root_weight=False, bias=False) for et in self.edge_types},
                aggr=rel_aggr,
            )
            for _ in range(num_layers)
        )
        receivers = sorted({et[2] for et in self.edge_types})
        self.roots = nn.ModuleList(
            nn.ModuleDict({t: nn.Linear(dim, dim, bias=False) for t in receivers}) for _ in range(num_layers)
        )
        if init == "identity":  # start as LightGCN-style propagation: W_rel = I, W_root = 0
            with torch.no_grad():
                for conv in self.convs:
                    for c in conv.convs.values():
                        c.lin_l.weight.copy_(torch.eye(dim))
                for roots in self.roots:
                    for lin in roots.values():
                        lin.weight.zero_()
        elif init != "default":
            raise ValueError(f"init must be identity or default, got {init!r}")
        if interaction is None:
            interaction = next((et for et in self.edge_types if et[0] == user_type and et[2] == item_type), None)
        inter = {interaction, (item_type, f"rev_{interaction[1]}", user_type)} if interaction else set()
        self.rel_scale = (
            nn.ParameterDict(
                {
                    "__".join(et): nn.Parameter(torch.tensor(1.0 if et in inter else float(rel_scale_init)))
                    for et in self.edge_types
                }
            )
            if rel_scale
            else None
        )
        self.rel_aggr = rel_aggr
        #: training-time view noise of each layer's output (SimGCL/XSimGCL; 0 = off, see :meth:`views`)
        self.noise_eps = 0.0
        self._adj_cache: dict[tuple[Any, ...], Tensor] = {}
        self.out = nn.Linear(dim * (num_layers + 1), dim) if combine == "cat" else None
        # split user / item index -> node index of user_type / item_type (identity until set)
        self.register_buffer("user_map", torch.arange(num_nodes[user_type]), persistent=False)
        self.register_buffer("item_map", torch.arange(num_nodes[item_type]), persistent=False)

    def set_maps(self, user_map: Tensor, item_map: Tensor) -> None:
        """Map split user/item indices to node indices (see ``TrainGraph.user_map``)."""
        self.user_map = user_map.to(self.user_map.device)
        self.item_map = item_map.to(self.item_map.device)

    def inputs(self, n_id: dict[str, Tensor], x: dict[str, Tensor] | None) -> dict[str, Tensor]:
        """Layer-0 representations of the given nodes (ID embedding + projected features)."""
        h = {}
        for t, ids in n_id.items():
            v = self.emb[t](ids)
            if x is not None and t in self.feat and t in x:
                v = v + self.feat[t](x[t])
            h[t] = v
        return h

    def encode(
        self,
        n_id: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        x: dict[str, Tensor] | None = None,
        cache: bool = False,
        targets: set[str] | None = None,
    ) -> dict[str, Tensor]:
        """Embeddings of every node in ``n_id`` after message passing over ``edge_index``.

        ``cache=True`` keeps the aggregation matrices for the next call (a fixed full graph).
        ``targets``: only these node types are needed in the output, so each layer computes only
        the node types that still influence them (training needs users and items only).
        """
        return self._encode(n_id, edge_index, x, cache, targets)[0]

    def _encode(
        self,
        n_id: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        x: dict[str, Tensor] | None = None,
        cache: bool = False,
        targets: set[str] | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, list[Tensor]]]:
        """:meth:`encode`'s output and every node type's per-layer representations (layer 0 first)."""
        h = self.inputs(n_id, x)
        layers = {t: [v] for t, v in h.items()}
        ei = {et: e for et, e in edge_index.items() if et in self.edge_types and e.numel() > 0}
        if self.norm is not None:
            ei = {et: self._adjacency(et, e, n_id, cache) for et, e in ei.items()}
        needed: list[set[str]] = [set(h)] * self.num_layers
        if targets is not None:
            need = set(targets)
            for layer in range(self.num_layers - 1, -1, -1):
                needed[layer] = set(need)
                need = need | {et[0] for et in ei if et[2] in need}
        for layer, conv in enumerate(self.convs):
            keep = needed[layer]
            out = self._relations(conv, h, {et: e for et, e in ei.items() if et[2] in keep})
            new = {}
            for t, v in h.items():
                if t not in keep:
                    continue
                o = out.get(t)
                if o is None:
                    o = v
                elif t in self.roots[layer]:
                    o = o + self.roots[layer][t](v)
                if self.activation == "relu":
                    o = F.relu(o)
                elif self.activation == "tanh":
                    o = torch.tanh(o)
                if self.dropout and self.training:
                    o = F.dropout(o, self.dropout)
                if self.noise_eps > 0 and self.training:
                    o = perturb(o, self.noise_eps)
                new[t] = o
            h = new
            for t, v in h.items():
                layers[t].append(v)
        if self.combine == "last":
            return h, layers
        if self.combine == "mean":
            return {t: torch.stack(layers[t]).mean(0) for t in h}, layers
        assert self.out is not None
        return {t: self.out(torch.cat(layers[t], dim=-1)) for t in h}, layers

    def _relations(self, conv: nn.Module, h: dict[str, Tensor], ei: dict[EdgeType, Any]) -> dict[str, Tensor]:
        """One ``HeteroConv`` step (per-relation SAGE messages, aggregated per receiving node type),
        with each relation's messages multiplied by its learned scalar when ``rel_scale`` is on."""
        if self.rel_scale is None:
            return conv(h, ei)
        per_dst: dict[str, list[Tensor]] = {}
        for et, e in ei.items():
            if et[0] not in h or et[2] not in h:
                continue
            o = conv.convs[et]((h[et[0]], h[et[2]]), e) * self.rel_scale["__".join(et)]
            per_dst.setdefault(et[2], []).append(o)
        if self.rel_aggr == "sum":
            return {t: torch.stack(v).sum(0) for t, v in per_dst.items()}
        if self.rel_aggr == "mean":
            return {t: torch.stack(v).mean(0) for t, v in per_dst.items()}
        raise ValueError(f"rel_scale needs rel_aggr sum or mean, got {self.rel_aggr!r}")

    def relation_scales(self) -> dict[str, float]:
        """Current per-relation scalars (empty without ``rel_scale``)."""
        return {} if self.rel_scale is None else {k: float(v.detach()) for k, v in self.rel_scale.items()}

    def _adjacency(self, et: EdgeType, e: Tensor, n_id: dict[str, Tensor], cache: bool) -> Tensor:
        n_src, n_dst = n_id[et[0]].numel(), n_id[et[2]].numel()
        if not cache:
            return aggregation_matrix(e, n_src, n_dst, self.norm or "mean")
        key = (et, e.data_ptr(), e.shape[1], n_src, n_dst, str(e.device))
        adj = self._adj_cache.get(key)
        if adj is None:
            if len(self._adj_cache) > 4 * len(self.edge_types):
                self._adj_cache.clear()
            adj = aggregation_matrix(e, n_src, n_dst, self.norm or "mean")
            self._adj_cache[key] = adj
        return adj

    def forward(self, graph: Any) -> tuple[Tensor, Tensor]:
        """Full-graph ``(user_emb, item_emb)``; ``graph`` has ``n_id``, ``edge_index`` and ``x`` dicts."""
        out = self.encode(graph.n_id, graph.edge_index, graph.x, cache=True, targets={self.user_type, self.item_type})
        return out[self.user_type][self.user_map], out[self.item_type][self.item_map]

    def views(self, graph: Any, cl_layer: int | None = 1) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(users, items, users_l, items_l)``: final embeddings and those of layer ``cl_layer``.

        With ``noise_eps > 0`` in training every layer's output is perturbed (:func:`perturb`), so the
        two are XSimGCL's views of one forward pass (see :meth:`LightGCN.views`).
        """
        out, layers = self._encode(
            graph.n_id, graph.edge_index, graph.x, cache=True, targets={self.user_type, self.item_type}
        )
        u, i = self.user_type, self.item_type
        if cl_layer is None:
            vu, vi = out[u], out[i]
        else:
            if not 0 <= cl_layer <= self.num_layers:
                raise ValueError(f"cl_layer must be between 0 and {self.num_layers}, got {cl_layer}")
            vu, vi = layers[u][cl_layer], layers[i][cl_layer]
        return out[u][self.user_map], out[i][self.item_map], vu[self.user_map], vi[self.item_map]

    def ego(self, users: Tensor, items: Tensor) -> list[Tensor]:
        return [self.emb[self.user_type](self.user_map[users]), self.emb[self.item_type](self.item_map[items])]


def l2_reg(tensors: list[Tensor], batch: int) -> Tensor:
    """LightGCN-style L2 penalty ``sum ||e||^2 / 2 / batch`` of the batch's input embeddings."""
    return sum((t.pow(2).sum() for t in tensors), torch.zeros((), device=tensors[0].device)) / 2 / max(batch, 1)


def build_model(name: str, graph: Any, **kw: Any) -> nn.Module:
    """Model by name (``mf``, ``lightgcn``, ``sage``, ``sage-bipartite``) for a TrainGraph.

    Args:
        name: ``mf`` (matrix factorization), ``lightgcn``, ``sage`` (heterogeneous GraphSAGE over every
            relation of ``graph``) or ``sage-bipartite`` (GraphSAGE over the interactions only).
        graph: the :class:`~musicgraph.gnn.data.TrainGraph` it trains on (sizes, edges, features).
        **kw: the :class:`~musicgraph.gnn.train.TrainConfig` fields the model reads (``dim``, ``layers``,
            ``aggr``, ``combine``, ``activation``, ``dropout``, ``rel_aggr``, ``init``, ``rel_scale``,
            ``rel_scale_init``, ``features``, ``backend``).

    Raises:
        ValueError: an unknown name.
    """
    dim = int(kw.get("dim", 64))
    if name == "mf":
        return MF(graph.num_users, graph.num_items, dim)
    if name == "lightgcn":
        m = LightGCN(graph.num_users, graph.num_items, dim, int(kw.get("layers", 3)), kw.get("backend", "sparse"))
        m.set_graph(graph.train_user, graph.train_item)
        return m
    if name in ("sage", "sage-bipartite"):
        ets = graph.edge_types if name == "sage" else [et for et in graph.edge_types if graph.is_interaction(et)]
        model = HeteroSAGE(
            {t: int(n.numel()) for t, n in graph.n_id.items()},
            ets,
            feature_dims={t: int(v.shape[1]) for t, v in (graph.x or {}).items()} if kw.get("features", True) else None,
            user_type=graph.user_type,
            item_type=graph.item_type,
            dim=dim,
            num_layers=int(kw.get("layers", 2)),
            aggr=str(kw.get("aggr", "mean")),
            combine=str(kw.get("combine", "mean")),
            activation=str(kw.get("activation", "none")),
            dropout=float(kw.get("dropout", 0.0)),
            rel_aggr=str(kw.get("rel_aggr", "mean")),
            init=str(kw.get("init", "identity")),
            rel_scale=bool(kw.get("rel_scale", False)),
            rel_scale_init=float(kw.get("rel_scale_init", 1.0)),
            interaction=graph.interaction,
        )
        model.set_maps(graph.user_map, graph.item_map)
        return model
    raise ValueError(f"unknown model {name!r}; expected mf, lightgcn, sage or sage-bipartite")
