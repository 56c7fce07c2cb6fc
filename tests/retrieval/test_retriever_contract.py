"""The contract every Retriever keeps, run over each implementation (the test_store_parity.py shape).

A synthetic graph (invented names, generated with a fixed seed) with enough artists, songs, albums,
playlists, tags and listeners that caps, constraints and k-fill all bite:

* exact top-k under constraints: for retrievers whose scores do not depend on the mask (graph, BM25,
  dense, GNN), the constrained top-k equals the unconstrained full ranking filtered by the constraints;
  for the hybrid (whose fusion pools depend on the mask) every result satisfies them and the list is full;
* the k-fill: a per-artist cap never returns fewer than k when k allowed items exist;
* seed exclusion: seeds (and a seed user's known artists) never come back unless asked for;
* output kind: every result has the requested kind.
"""

from __future__ import annotations

import numpy as np
import pytest

from musicgraph.graph.embedded import EmbeddedStore
from musicgraph.retrieval.request import Constraints, Diversity, Request, Seed

N_ARTISTS, SONGS_PER_ARTIST, N_USERS = 24, 5, 60
TAGS = ("rock", "pop", "jazz", "ambient", "folk")


def _populate(store: EmbeddedStore) -> dict:
    rng = np.random.default_rng(7)
    artists = [f"artist {i:02d}" for i in range(N_ARTISTS)]
    store.upsert_nodes("Artist", [(a, {"name": a.title()}) for a in artists])
    tags_of = {a: sorted({TAGS[i % len(TAGS)], TAGS[(i * 3 + 1) % len(TAGS)]}) for i, a in enumerate(artists)}
    store.upsert_nodes("Tag", [(t, {"name": t}) for t in TAGS])
    store.upsert_edges("TAGGED", "Artist", "Tag",
                       [(a, t, {"weight": int(rng.integers(1, 40))}) for a, ts in tags_of.items() for t in ts])
    songs, perf, on_album, albums, album_by = [], [], [], [], []
    for i, a in enumerate(artists):
        alb = f"{a}|album"
        albums.append((alb, {"name": f"{a.title()} Album"}))
        album_by.append((alb, a, {}))
        for j in range(SONGS_PER_ARTIST):
            key = f"{a}|song {j}"
            feats = {"year": int(1970 + (i * 7 + j * 3) % 50), "energy": round(float(rng.random()), 3),
                     "valence": round(float(rng.random()), 3), "popularity": int(rng.integers(10, 90))}
            songs.append((key, {"title": f"Song {j} of {a.title()}", "artist": a.title(), **feats}))
            perf.append((key, a, {"role": "main"}))
            on_album.append((key, alb, {}))
    store.upsert_nodes("Song", songs)
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", perf)
    store.upsert_nodes("Album", albums)
    store.upsert_edges("ON_ALBUM", "Song", "Album", on_album)
    store.upsert_edges("ALBUM_BY", "Album", "Artist", album_by)
    playlists = [(f"test:p{p}", {"name": f"Playlist {p}"}) for p in range(4)]
    store.upsert_nodes("Playlist", playlists)
    members = [(songs[int(s)][0], f"test:p{p}", {"position": n}) for p in range(4)
               for n, s in enumerate(rng.choice(len(songs), 12, replace=False))]
    store.upsert_edges("IN_PLAYLIST", "Song", "Playlist", members)
    store.upsert_nodes("User", [(f"hetrec:{u}", {"source": "hetrec", "source_id": str(u)}) for u in range(N_USERS)])
    pop = np.linspace(3.0, 0.3, N_ARTISTS)
    listens = []
    for u in range(N_USERS):
        chosen = rng.choice(N_ARTISTS, 6, replace=False, p=pop / pop.sum())
        listens += [(f"hetrec:{u}", artists[int(a)], {"weight": int(rng.integers(1, 500))}) for a in chosen]
    store.upsert_edges("LISTENED_TO", "User", "Artist", listens)
    return {"artists": artists, "tags_of": tags_of}


@pytest.fixture(scope="module")
def world(tmp_path_factory, make_encoder, vad):
    from musicgraph.retrieval.index import IndexBundle, build_indexes
    from musicgraph.retrieval.resources import GraphResources

    store = EmbeddedStore(tmp_path_factory.mktemp("contract-store"))
    info = _populate(store)
    out = tmp_path_factory.mktemp("contract-index")
    build_indexes(store, out, encoder=make_encoder(), vad=vad, progress=False)
    bundle = IndexBundle.load(out)
    res = GraphResources(store, bundle, vad=vad)
    return store, bundle, res, info


def _retriever(name: str, world, make_encoder, vad):
    store, bundle, res, _ = world
    if name == "graph":
        from musicgraph.retrieval.graph_retriever import GraphRetriever

        return GraphRetriever(resources=res)
    if name == "bm25":
        from musicgraph.retrieval.bm25_retriever import BM25Retriever

        return BM25Retriever(res)
    if name == "dense":
        from musicgraph.retrieval.dense_retriever import DenseRetriever

        return DenseRetriever(res, encoder=make_encoder())
    if name == "gnn":
        from musicgraph.retrieval.gnn_retriever import GNNRetriever

        rng = np.random.default_rng(3)
        artists = world[3]["artists"]
        return GNNRetriever(res, vectors={"Artist": (artists, rng.normal(size=(len(artists), 8)).astype(np.float32))})
    from musicgraph.retrieval.hybrid import HybridRetriever

    return HybridRetriever(store, bundle=bundle, encoder=make_encoder(), vad=vad, resources=res)


RETRIEVERS = ("graph", "bm25", "dense", "gnn", "hybrid")


def _request(kind: str, **kw) -> Request:
    base = dict(text="song of artist", terms=["song", "artist"], dense_text="song of artist",
                seeds=[Seed(label="Artist", name="Artist 03", relation="fans_of")], kind=kind, k=6)
    base.update(kw)
    return Request(**base)


def _artist_of(r, kind: str) -> str:
    return r.id.split("|", 1)[0] if kind in ("song", "album") else r.id


@pytest.mark.parametrize("name", RETRIEVERS)
@pytest.mark.parametrize("kind", ["song", "artist", "album"])
def test_output_kind_and_seed_exclusion(name, kind, world, make_encoder, vad):
    r = _retriever(name, world, make_encoder, vad)
    res = r.search(_request(kind))
    assert res, f"{name} returned nothing for kind {kind}"
    assert all(x.kind == kind for x in res)
    assert [x.rank for x in res] == list(range(1, len(res) + 1))
    assert all(_artist_of(x, kind) != "artist 03" for x in res)  # the seed and its own work are left out
    kept = r.search(_request(kind, constraints=Constraints(include_seeds=True), k=200))
    if name in ("graph", "hybrid") and kind == "artist":
        # asked for, the seed may come back (the graph scores it 0 as its own neighbour, so only if scored)
        assert all(x.kind == kind for x in kept)


@pytest.mark.parametrize("name", RETRIEVERS)
def test_constraints_hold_on_every_result(name, world, make_encoder, vad):
    store, _, res, info = world
    r = _retriever(name, world, make_encoder, vad)
    c = Constraints(tags=["jazz"], years=(1980, 2005), exclude=[{"label": "Artist", "name": "Artist 05"}])
    out = r.search(_request("song", constraints=c, k=8))
    assert out
    for x in out:
        artist = x.id.split("|", 1)[0]
        assert "jazz" in info["tags_of"][artist]
        assert 1980 <= x.props["year"] <= 2005
        assert artist != "artist 05"
    arts = r.search(_request("artist", constraints=Constraints(tags=["pop", "rock"]), k=8))
    assert arts and all({"pop", "rock"} <= set(info["tags_of"][x.id]) for x in arts)


@pytest.mark.parametrize("name", ["graph", "bm25", "dense", "gnn"])
@pytest.mark.parametrize("kind", ["song", "artist"])
def test_top_k_under_constraints_is_exact(name, kind, world, make_encoder, vad):
    """Constrained top-k == the full unconstrained ranking filtered by the constraints, cut at k."""
    _, _, _, info = world
    r = _retriever(name, world, make_encoder, vad)
    no_cap = Diversity(max_per_artist=1000)
    full = r.search(_request(kind, k=1000, diversity=no_cap))
    constraints = Constraints(tags=["pop"])
    allowed = [x.id for x in full if "pop" in info["tags_of"][_artist_of(x, kind)]]
    score_of = {x.id: round(x.score, 9) for x in full}
    for k in (1, 3, 7):
        got = [x.id for x in r.search(_request(kind, k=k, constraints=constraints, diversity=no_cap))]
        # the same items in the same order; where scores tie exactly (bag-of-words vectors of similar
        # titles), either of the tied items may take the place
        assert [score_of[g] for g in got] == [score_of[a] for a in allowed[:k]]
        assert all(g == a or score_of[g] == score_of[a] for g, a in zip(got, allowed[:k], strict=True))


@pytest.mark.parametrize("name", RETRIEVERS)
def test_per_artist_cap_fills_k(name, world, make_encoder, vad):
    """With at most one song per artist, k results still come back when k distinct-or-not songs exist."""
    r = _retriever(name, world, make_encoder, vad)
    for k in (5, 30):
        out = r.search(_request("song", k=k, diversity=Diversity(max_per_artist=1)))
        assert len(out) == k
        first = [_artist_of(x, "song") for x in out]
        distinct = len(set(first))
        # the cap puts one song per artist first: no artist repeats before every artist had one
        seen: set[str] = set()
        for a in first[:distinct]:
            assert a not in seen
            seen.add(a)
    # only one artist's songs allowed, k larger than its songs: all of them, none missing
    only = Constraints(exclude=[{"label": "Artist", "name": f"Artist {i:02d}"} for i in range(N_ARTISTS) if i not in (3, 7)])
    out = r.search(_request("song", k=8, constraints=only, diversity=Diversity(max_per_artist=1),
                            seeds=[Seed(label="Artist", name="Artist 03", relation="fans_of")]))
    assert [x.id.split("|")[0] for x in out] == ["artist 07"] * len(out)
    if name != "gnn":  # (random GNN vectors may score an artist's songs at zero: nothing to fill with)
        assert len(out) == SONGS_PER_ARTIST


@pytest.mark.parametrize("name", ["graph", "gnn", "hybrid"])
def test_user_seed_excludes_known_artists(name, world, make_encoder, vad):
    store, _, res, _ = world
    r = _retriever(name, world, make_encoder, vad)
    known = {e.dst.key for e in store.iter_edges("LISTENED_TO") if e.src.key == "hetrec:1"}
    if name == "gnn":  # a GNN retriever needs the user's vector: give it one
        from musicgraph.retrieval.gnn_retriever import GNNRetriever

        base = r
        r = GNNRetriever(res, vectors={"Artist": (world[3]["artists"], base.artist), "User": (["hetrec:1"], base.artist[:1])})
    req = Request(seeds=[Seed(label="User", name="1", key="hetrec:1")], kind="artist", k=10)
    out = r.search(req)
    assert out and not ({x.id for x in out} & known)
    kept = r.search(req.with_(constraints={"include_known": True}, k=30))
    assert {x.id for x in kept} & known


def test_hybrid_fuses_an_attached_gnn_only(world, make_encoder, vad):
    """An attached GNN joins the fusion (its score shows on the results); without one it never appears."""
    from musicgraph.retrieval.gnn_retriever import GNNRetriever
    from musicgraph.retrieval.hybrid import HybridRetriever

    store, bundle, res, info = world
    rng = np.random.default_rng(5)
    vectors = {"Artist": (info["artists"], rng.normal(size=(len(info["artists"]), 8)).astype(np.float32))}
    with_gnn = HybridRetriever(store, bundle=bundle, encoder=make_encoder(), vad=vad, resources=res,
                               gnn=GNNRetriever(res, vectors=vectors))
    without = HybridRetriever(store, bundle=bundle, encoder=make_encoder(), vad=vad, resources=res)
    req = _request("artist", k=8)
    a, b = with_gnn.search(req), without.search(req)
    assert any("gnn" in r.scores for r in a) and not any("gnn" in r.scores for r in b)
    assert [r.id for r in with_gnn.search(req.with_())] == [r.id for r in a]  # deterministic
    off = with_gnn.retrieve(req, use_gnn=False)
    assert [r.id for r in off] == [r.id for r in b]
