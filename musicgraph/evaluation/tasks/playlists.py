"""Task 2: playlist continuation on the 300 Spotify playlists and the 40 MPD emotion playlists.

Protocol ``playlist-lastn`` (version 1), in the spirit of the RecSys Challenge 2018: songs are
identified by :func:`musicgraph.graph.resolve.song_key` (normalized artist + title, so the same song
in both sources is one item). Every playlist with at least ``MIN_TRACKS`` distinct songs is a test
playlist: its last ``N_HIDDEN`` songs (file order) are hidden and its earlier songs are its seed
(fold-in: the training matrix holds every playlist's seed part). Systems rank all songs not in the
seed; metrics over a 500-song list as in the challenge: R-precision, NDCG@500, Recall@10/50/500 and
NDCG@10, per source. The **title-only** variant hides all songs and gives only the playlist name:
systems are MostPop, a title-kNN (token-Jaccard similarity of names to the other playlists' names,
scores = similarity-weighted seed songs of those playlists) and the hybrid retriever given the name as
its request (when a retrieval index exists).

With an ingested store, the **graph** system is personalized PageRank restarting at the playlist's node
in the store's projection after every hidden (song, playlist) membership has been removed, so the walk
sees exactly what the baselines see (every playlist's seed part) plus the rest of the graph (artists,
albums, tags, listeners); songs are matched to the store by the same normalized key.

The challenge figures (winner R-precision 0.2241, NDCG 0.3946) are on the full 1M-playlist MPD with
10k challenge playlists and 2.2M candidate tracks: a different, much harder and much larger setting;
they are shown as context only.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from musicgraph.evaluation import metrics as M
from musicgraph.evaluation.baselines import SEEDED, make_baseline
from musicgraph.evaluation.tasks import EvalConfig, SystemResult, TaskResult, run_seeds

log = logging.getLogger(__name__)

PROTOCOL = "playlist-lastn"
PROTOCOL_VERSION = 1
N_HIDDEN = 10
MIN_TRACKS = 15
LIST_LEN = 500

BASELINES: dict[str, dict[str, Any]] = {
    "random": {},
    "mostpop": {},
    "itemknn": {"k": 200},
    "userknn": {"k": 30},
    "ease": {"lam": 100.0, "max_items": 6000},
    "bpr": {"factors": 64, "iterations": 100},
    "als": {"factors": 64, "iterations": 15, "alpha": 5.0},
}
QUICK_OVERRIDES: dict[str, dict[str, Any]] = {"ease": {"lam": 100.0, "max_items": 3000}}

_TOKEN = re.compile(r"[a-z0-9']+")


def load_playlists(data_dir: Any) -> dict[str, dict[str, Any]]:
    """``"<source>:<id>" -> {"name", "source", "songs": [song keys in order, distinct]}``."""
    from musicgraph.graph.resolve import song_key
    from musicgraph.loaders.playlists import iter_mpd_tracks, iter_spotify300

    out: dict[str, dict[str, Any]] = {}
    for loader in (iter_spotify300, iter_mpd_tracks):
        rows = sorted(loader(data_dir), key=lambda r: (r.source, r.playlist_id, r.position))
        for rec in rows:
            key = f"{rec.source}:{rec.playlist_id}"
            entry = out.setdefault(key, {"name": rec.playlist_name, "source": rec.source, "songs": []})
            sk = song_key(rec.artist, rec.title)
            if sk not in entry["songs"]:
                entry["songs"].append(sk)
    return out


def build_matrices(
    playlists: dict[str, dict[str, Any]], n_hidden: int = N_HIDDEN, min_tracks: int = MIN_TRACKS
) -> tuple[list[str], list[str], sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Playlist keys, song keys, seed (train) matrix, hidden matrix, and the test playlist row indices."""
    pkeys = sorted(playlists)
    skeys = sorted({s for p in playlists.values() for s in p["songs"]})
    sidx = {s: i for i, s in enumerate(skeys)}
    tr_r, tr_c, te_r, te_c, test_rows = [], [], [], [], []
    for r, pk in enumerate(pkeys):
        songs = [sidx[s] for s in playlists[pk]["songs"]]
        if len(songs) >= min_tracks:
            test_rows.append(r)
            seed, hidden = songs[:-n_hidden], songs[-n_hidden:]
        else:
            seed, hidden = songs, []
        tr_r += [r] * len(seed)
        tr_c += seed
        te_r += [r] * len(hidden)
        te_c += hidden
    shape = (len(pkeys), len(skeys))
    train = sp.csr_matrix((np.ones(len(tr_r)), (tr_r, tr_c)), shape=shape)
    hidden = sp.csr_matrix((np.ones(len(te_r)), (te_r, te_c)), shape=shape)
    return pkeys, skeys, train, hidden, np.asarray(test_rows, dtype=np.int64)


def _tokens(name: str) -> set[str]:
    return set(_TOKEN.findall(name.lower()))


def title_knn_scores(names: list[str], train: sp.csr_matrix, rows: np.ndarray, exclude_self: bool = True) -> np.ndarray:
    """Scores from playlists with similar names: ``sum_v jaccard(name_u, name_v) * seed_v``."""
    toks = [_tokens(n) for n in names]
    sims = np.zeros((len(rows), len(names)))
    for a, r in enumerate(rows):
        tr = toks[r]
        for v, tv in enumerate(toks):
            if (exclude_self and v == r) or not tr or not tv:
                continue
            inter = len(tr & tv)
            if inter:
                sims[a, v] = inter / len(tr | tv)
    pop = np.asarray(train.sum(axis=0)).ravel()
    scores = np.asarray((sp.csr_matrix(sims) @ train).todense())
    return scores + 1e-6 * pop / max(pop.max(), 1.0)  # popularity breaks ties and fills empty rows


def _metrics(ranked: np.ndarray, target: sp.csr_matrix) -> dict[str, np.ndarray]:
    hits, n_rel = M.hit_matrix(ranked, target)
    return {
        "r_precision": M.r_precision(hits, n_rel),
        "ndcg@500": M.ndcg_at_k(hits, n_rel, LIST_LEN),
        "recall@10": M.recall_at_k(hits, n_rel, 10),
        "recall@50": M.recall_at_k(hits, n_rel, 50),
        "recall@500": M.recall_at_k(hits, n_rel, LIST_LEN),
        "ndcg@10": M.ndcg_at_k(hits, n_rel, 10),
    }


def run(cfg: EvalConfig) -> TaskResult:
    """Run task 2 (see the module docstring)."""
    t0 = time.perf_counter()
    playlists = load_playlists(cfg.data_dir)
    pkeys, skeys, train, hidden, rows = build_matrices(playlists)
    if len(rows) == 0:
        res = TaskResult(task="playlists", protocol={"name": PROTOCOL, "version": PROTOCOL_VERSION})
        res.missing["*"] = f"no playlist has >= {MIN_TRACKS} distinct songs in {cfg.data_dir}"
        return res
    names = [playlists[p]["name"] for p in pkeys]
    sources = np.array([playlists[p]["source"] for p in pkeys])
    seeds = list(cfg.training_seeds())
    target = hidden[rows]
    result = TaskResult(
        task="playlists",
        protocol={
            "name": PROTOCOL,
            "version": PROTOCOL_VERSION,
            "data": "spotify_playlists_300 + mpd_emotion_playlists (old_silver_standard)",
            "items": f"{len(skeys)} songs (normalized artist|title keys)",
            "test_playlists": int(len(rows)),
            "hidden": f"last {N_HIDDEN} distinct songs of playlists with >= {MIN_TRACKS} songs; fold-in of the rest",
            "list_length": LIST_LEN,
            "training_seeds": seeds,
            "bootstrap": {"n": cfg.n_boot, "seed": cfg.boot_seed, "alpha": 0.05, "unit": "playlist"},
            "quick": cfg.quick,
            "title_only": "all songs hidden, playlist name given; R-precision over all of the playlist's songs",
        },
        main_metrics=["r_precision", "ndcg@500", "recall@50", "ndcg@10"],
    )
    by_source = {s: np.flatnonzero(sources[rows] == s) for s in sorted(set(sources[rows]))}

    def add(name: str, sysres: SystemResult) -> None:
        result.add_system(name, sysres, by_source, cfg.boot_seed, cfg.n_boot)
        log.info("playlists: %s R-prec %.4f (%.1fs)", name, sysres.mean("r_precision"), sysres.seconds)

    for name, params in BASELINES.items():
        params = {**params, **(QUICK_OVERRIDES.get(name, {}) if cfg.quick else {})}

        def one(seed: int, name: str = name, params: dict[str, Any] = params) -> dict[str, np.ndarray]:
            model = make_baseline(name, seed=seed, **params).fit(train)
            return _metrics(model.recommend(rows, LIST_LEN, train), target)

        try:
            add(name, run_seeds(name, seeds if name in SEEDED else [0], one, params))
        except ImportError as exc:  # an optional library (implicit) is not installed: documented, not a failure
            result.missing[name] = str(exc)

    # title-only variant: nothing of the playlist is known
    full = (train + hidden).tocsr()
    full.data[:] = 1.0
    empty = sp.csr_matrix(full.shape)
    t_target = full[rows]
    others_train = train.copy().tolil()
    title_res: dict[str, SystemResult] = {}
    start = time.perf_counter()
    pop_scores = np.tile(np.asarray(train.sum(axis=0)).ravel(), (len(rows), 1))
    for name, scores in (
        ("title:mostpop", pop_scores),
        ("title:title-knn", title_knn_scores(names, sp.csr_matrix(others_train), rows)),
    ):
        ranked = M.top_k_from_scores(scores, LIST_LEN, empty[rows])
        sr = SystemResult(name, _metrics(ranked, t_target), {}, [0], {})
        sr.per_seed = {m: [float(v.mean())] for m, v in sr.per_query.items()}
        sr.seconds = time.perf_counter() - start
        title_res[name] = sr.finalize(cfg.boot_seed, cfg.n_boot)
    result.slices["title_only"] = title_res
    result.notes.append(
        "title-only: the title-kNN scores use the other playlists' seed parts; a playlist's own songs are "
        "never used for its own query."
    )
    store = cfg.open_store()
    if store is None:
        result.missing["graph"] = f"no ingested store at {cfg.store_dir} (run `musicgraph ingest`)"
        result.missing["hybrid"] = "no ingested store"
    else:
        try:
            start = time.perf_counter()
            ranked = graph_playlist_ranking(store, pkeys, skeys, hidden, train, rows)
            if ranked is None:
                result.missing["graph"] = "the store has no IN_PLAYLIST relationships"
            else:
                per_query = _metrics(ranked, target)
                sysres = SystemResult("graph", per_query, {m: [float(v.mean())] for m, v in per_query.items()}, [0],
                                      {"walk": "PPR from the playlist node, hidden memberships removed"})
                sysres.seconds = time.perf_counter() - start
                add("graph", sysres)
            title_res["title:hybrid"] = _title_hybrid(cfg, store, names, skeys, rows, t_target, result)
            if title_res["title:hybrid"] is None:
                del title_res["title:hybrid"]
        finally:
            store.close()
        result.missing.setdefault(
            "hybrid", "the hybrid retriever takes text requests, not seed songs: it runs in the title-only variant "
                      "(slice title_only, system title:hybrid)")
    result.missing.setdefault("gnn", "not run: the GNN presets train on HetRec user -> artist listening; training on "
                              "playlist -> song membership is not implemented")
    best = result.best("r_precision")
    second = result.best("r_precision", exclude=[best]) if best else None
    if best and second:
        result.add_paired("r_precision", best, second, cfg.boot_seed)
    result.seconds = time.perf_counter() - t0
    return result




def graph_playlist_ranking(store: Any, pkeys: list[str], skeys: list[str], hidden: sp.csr_matrix,
                           train: sp.csr_matrix, rows: np.ndarray, batch: int = 64) -> np.ndarray | None:
    """Top-``LIST_LEN`` song indices per test playlist from PPR at its node, hidden memberships removed."""
    from musicgraph.graph.multihop import MultiHopScorer
    from musicgraph.graph.projection import Projection

    proj = store.projection()
    mat = proj.matrices.get("IN_PLAYLIST")
    if mat is None or mat.nnz == 0:
        return None
    song_node = np.array([_or_minus_one(proj.index("Song", k)) for k in skeys], dtype=np.int64)
    pl_node = np.array([_or_minus_one(proj.index("Playlist", k)) for k in pkeys], dtype=np.int64)
    hid = hidden.tocoo()
    keep = (song_node[hid.col] >= 0) & (pl_node[hid.row] >= 0)
    drop = sp.csr_matrix((np.ones(int(keep.sum())), (song_node[hid.col[keep]], pl_node[hid.row[keep]])),
                         shape=mat.shape)
    cut = mat - mat.multiply(drop > 0)
    cut.eliminate_zeros()
    matrices = {**proj.matrices, "IN_PLAYLIST": cut.tocsr()}
    masked = Projection(keys=proj.keys, names=proj.names, label_ranges=proj.label_ranges, matrices=matrices,
                        version=proj.version + "-playlists-heldout")
    scorer = MultiHopScorer(masked)
    mapped = song_node >= 0
    out = np.full((len(rows), LIST_LEN), -1, dtype=np.int64)
    for start in range(0, len(rows), batch):
        br = rows[start : start + batch]
        nodes = pl_node[br]
        ok = nodes >= 0
        seeds = sp.csr_matrix((np.ones(int(ok.sum())), (nodes[ok], np.flatnonzero(ok))),
                              shape=(proj.num_nodes, len(br)))
        r = scorer.ppr_many(seeds)
        scores = np.full((len(br), len(skeys)), -np.inf)
        scores[:, mapped] = np.asarray(r[song_node[mapped]]).T
        scores[~ok] = -np.inf
        scores[scores <= 0] = -np.inf  # unreached songs are not recommended (no padding with zeros)
        top = M.top_k_from_scores(scores, LIST_LEN, train[br])
        out[start : start + len(br), : top.shape[1]] = top
    return out


def _or_minus_one(v: int | None) -> int:
    return -1 if v is None else int(v)


def _title_hybrid(cfg: EvalConfig, store: Any, names: list[str], skeys: list[str], rows: np.ndarray,
                  t_target: sp.csr_matrix, result: TaskResult) -> SystemResult | None:
    """The hybrid retriever with the playlist's name as the request (title-only variant)."""
    from musicgraph.evaluation.tasks import retrieval_common as R

    try:
        from musicgraph.retrieval.index import IndexBundle
        from musicgraph.retrieval.retriever import HybridRetriever

        bundle = IndexBundle.load(R.default_index_dir(cfg))
    except (FileNotFoundError, TypeError, ImportError) as exc:
        result.missing["title:hybrid"] = f"no retrieval index ({exc}); run `musicgraph index build`"
        return None
    bundle, _ = R.ensure_dense(bundle)
    retriever = HybridRetriever(store, bundle=bundle, data_dir=cfg.data_dir, encoder=cfg.encoder)
    sidx = {k: i for i, k in enumerate(skeys)}
    start = time.perf_counter()
    ranked = np.full((len(rows), LIST_LEN), -1, dtype=np.int64)
    for a, r in enumerate(rows):
        try:
            res = retriever.retrieve(names[r] or "music", k=LIST_LEN)
        except ValueError:  # an empty or unusable name: nothing to rank
            continue
        got = [sidx[x.id] for x in res if x.id in sidx][:LIST_LEN]
        ranked[a, : len(got)] = got
    sr = SystemResult("title:hybrid", _metrics(ranked, t_target), {}, [0], {"request": "the playlist name"})
    sr.per_seed = {m: [float(v.mean())] for m, v in sr.per_query.items()}
    sr.seconds = time.perf_counter() - start
    return sr.finalize(cfg.boot_seed, cfg.n_boot)
