"""A person's history through the real store: weights, match report, profile, negative evidence, personal
recommendations with "you played" paths, all-or-nothing imports, GNN fold-in, and forget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from musicgraph.config import Settings
from musicgraph.cypher.sample import load_sample, sample_embeddings
from musicgraph.graph import EmbeddedStore
from musicgraph.graph.profile import (
    MIN_PLAY_MS,
    ProfileError,
    build_profile,
    play_weight,
)
from musicgraph.graph.store import content_checksum
from musicgraph.loaders.history import HistoryFormatError, read_history
from musicgraph.me import forget, import_history, resolve_profile, show

HIST = Path(__file__).resolve().parents[1] / "fixtures" / "history"
SPOTIFY = HIST / "StreamingHistory_music_0.json"


@pytest.fixture()
def store(tmp_path: Path):
    st = EmbeddedStore(tmp_path / "store")
    load_sample(st)
    yield st
    st.close()


def recommend(store, **kw):
    """Recommendations through the library's entry point (the graph retriever)."""
    import musicgraph

    return musicgraph.recommend(store=store, **kw)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", data_dir=tmp_path / "no-data")


def test_play_weight_rules() -> None:
    assert play_weight(MIN_PLAY_MS - 1, None) == 0.0  # negative evidence, not a play
    assert play_weight(None, None) == 1.0  # a scrobble / listen
    assert play_weight(60_000, None) == pytest.approx(0.5)  # half of the 2 min default
    assert play_weight(60_000, None, duration_ms=120_000) == 1.0  # half the track played
    assert play_weight(240_000, None, duration_ms=1_200_000) == 1.0
    assert play_weight(120_000, None, duration_ms=1_200_000) == pytest.approx(0.5)  # full at the 4 min cap
    assert play_weight(200_000, True) == pytest.approx(0.5)  # skipped counts half


def test_match_report_weights_and_negative_evidence(store) -> None:
    read = read_history([SPOTIFY])
    prof = build_profile(store, "t", read.plays)
    rep = prof.report
    assert (rep.plays_read, rep.counted_plays, rep.short_plays) == (13, 11, 2)
    assert (rep.artist_matched_plays, rep.song_matched_plays) == (9, 8)
    assert rep.match_rate == pytest.approx(9 / 11) and rep.song_match_rate == pytest.approx(8 / 11)
    assert (rep.artists, rep.artists_matched, rep.songs, rep.songs_matched) == (5, 4, 7, 5)
    assert rep.top_unmatched_artists == [("The Unheard Ones", 2)]
    assert rep.top_unmatched_songs == [("The Unheard Ones - Basement Demo", 2), ("Velvet Hours - Unreleased B-Side", 1)]
    vh = prof.artists["velvet hours"]
    assert (vh.plays, vh.net) == (6, pytest.approx(3 + 0.5 + 1 + 1))
    pl = prof.songs["velvet hours|paper lanterns"]
    assert (pl.plays, pl.weight) == (4, pytest.approx(3.5))
    nh = prof.artists["neon harbor"]
    assert (nh.plays, nh.short_plays, nh.net) == (0, 2, 0.0)  # only skipped: known, no preference
    assert prof.negative == {"artists": ["Neon Harbor"], "songs": ["Neon Harbor - Chrome Sunset"]}
    assert "sunday static|faded polaroid" in prof.songs  # "- Remastered 2011" dropped by the normalizer


def test_profile_tags_moods_and_features(store) -> None:
    prof = build_profile(store, "t", read_history([SPOTIFY]).plays)
    assert prof.top_tags[0][0] == "melancholic"  # on all three played artists
    assert prof.moods[0][0] == "sad" and abs(sum(w for _, w in prof.moods) - 1.0) < 1e-9
    played = {k: s.net for k, s in prof.songs.items() if s.net > 0}
    nodes = store.get_nodes("Song", list(played))
    vals = np.array([nodes[k].props["valence"] for k in played])
    w = np.array(list(played.values()))
    mean = np.average(vals, weights=w)
    assert prof.features["valence"]["mean"] == pytest.approx(mean, abs=1e-12)
    assert prof.features["valence"]["std"] == pytest.approx(np.sqrt(np.average((vals - mean) ** 2, weights=w)), abs=1e-12)
    assert prof.features_basis == "songs you played"


def test_import_writes_user_edges_and_personal_recommendations(store, settings) -> None:
    result = import_history(store, "t", paths=[SPOTIFY], settings=settings)
    assert result.edges == {"Artist": 4, "Song": 5}
    edges = {(nb.label, nb.key): e.props for e, nb in store.neighbors("User", "me:t", "LISTENED_TO", "out")}
    assert edges[("Artist", "velvet hours")]["plays"] == 6
    assert edges[("Artist", "neon harbor")]["weight"] == 0 and edges[("Artist", "neon harbor")]["short_plays"] == 2
    assert resolve_profile(store, "t") == "me:t"
    everything = recommend(store, user="me:t", k=30)
    mine = {"velvet hours", "marrow lane", "sunday static", "neon harbor"}
    assert everything and not [r for r in everything if r.id.split("|")[0] in mine]  # known artists' songs left out
    played = {(nb.label, nb.key) for _, nb in store.neighbors("User", "me:t", "LISTENED_TO", "out")}
    mine_paths = [p for r in everything for p in r.paths if p.nodes[0].key == "me:t"]
    assert mine_paths and all((p.nodes[1].label, p.nodes[1].key) in played for p in mine_paths)  # through my music
    assert any(p.explain().startswith(("you played Velvet Hours 6 times (weighted)",  # 3 + 0.5 + 1 + 1 full plays
                                       "you played Marrow Lane 2 times (weighted)",
                                       "you played Sunday Static 1 times (weighted)")) for p in mine_paths)


def test_skip_only_artist_is_excluded_but_would_be_recommended_otherwise(store, settings, tmp_path) -> None:
    """Neon Harbor's songs are reachable from the person's artists; the short plays alone keep them out."""
    rows = json.loads(SPOTIFY.read_text())
    control = tmp_path / "StreamingHistory_control.json"
    control.write_text(json.dumps([r for r in rows if r["artistName"] != "Neon Harbor"]))
    import_history(store, "control", paths=[control], settings=settings)
    import_history(store, "t", paths=[SPOTIFY], settings=settings)
    nh = {"neon harbor|chrome sunset", "neon harbor|pulse city", "neon harbor|afterglow avenue"}
    assert nh & {r.id for r in recommend(store, user="me:control", k=30)}
    assert not nh & {r.id for r in recommend(store, user="me:t", k=30)}


def test_import_is_all_or_nothing(store, settings, tmp_path, monkeypatch) -> None:
    before = content_checksum(store)
    bad = tmp_path / "StreamingHistory0.json"
    bad.write_text('[{"endTime": "2024-01-05 08:00", "artistName": "Velvet Hours", "trackName": "Paper Lanterns", '
                   '"msPlayed": 200000},\n{"endTime": "2024-01-05", "artistName": "A", "trackName": "T", "msPlayed": 1}]')
    with pytest.raises(HistoryFormatError, match=r"StreamingHistory0\.json:2: field 'endTime'"):
        import_history(store, "t", paths=[SPOTIFY, bad], settings=settings)
    assert content_checksum(store) == before
    nothing = tmp_path / "StreamingHistory1.json"
    nothing.write_text('[{"endTime": "2024-01-05 08:00", "artistName": "Nobody Known", "trackName": "X", "msPlayed": 99999}]')
    with pytest.raises(ProfileError, match="no artist of the history is in the catalog"):
        import_history(store, "t", paths=[nothing], settings=settings)
    assert content_checksum(store) == before

    real_upsert = store.upsert_edges
    fail_next = [True]

    def failing(rel, src, dst, rows):  # the first write of song edges fails (a transient error)
        if dst == "Song" and fail_next[0]:
            fail_next[0] = False
            raise RuntimeError("disk full")
        return real_upsert(rel, src, dst, rows)

    monkeypatch.setattr(store, "upsert_edges", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        import_history(store, "t", paths=[SPOTIFY], settings=settings)
    assert content_checksum(store) == before  # the half-written new profile was removed
    monkeypatch.setattr(store, "upsert_edges", real_upsert)
    import_history(store, "t", paths=[HIST / "listens.jsonl"], settings=settings)
    with_old = content_checksum(store, with_props=False)
    old_props = store.get_node("User", "me:t").props
    monkeypatch.setattr(store, "upsert_edges", failing)
    fail_next[0] = True
    with pytest.raises(RuntimeError):
        import_history(store, "t", paths=[SPOTIFY], settings=settings)
    assert content_checksum(store, with_props=False) == with_old  # the earlier profile is back
    assert store.get_node("User", "me:t").props == old_props


def test_unfinished_import_is_refused(store, settings) -> None:
    import_history(store, "t", paths=[SPOTIFY], settings=settings)
    store.upsert_nodes("User", [("me:t", {"import_state": "writing"})])
    with pytest.raises(ProfileError, match="did not finish"):
        resolve_profile(store, "t")
    with pytest.raises(ProfileError, match="no profile named 'nobody'"):
        resolve_profile(store, "nobody")
    with pytest.raises(ProfileError, match="several profiles"):
        resolve_profile(store)  # me:sample and me:t
    with pytest.raises(ValueError, match="profile name"):
        import_history(store, "bad name!", paths=[SPOTIFY], settings=settings)
    with pytest.raises(ProfileError, match="several profiles"):
        forget(store, settings=settings)
    store.delete_nodes("User", ["me:sample"])
    assert forget(store, settings=settings)["nodes_removed"] == 1  # an unfinished import can be forgotten
    assert store.get_node("User", "me:t") is None


def _gnn_index(settings: Settings, store: EmbeddedStore) -> Path:
    from musicgraph.gnn.embed import build_index, index_dir

    vecs = sample_embeddings(16, "Artist") | sample_embeddings(16, "Song")
    ids = [["Artist" if "|" not in k else "Song", k] for k in vecs]
    ids.append(["User", "hetrec:1"])
    arr = np.array(list(vecs.values()) + [np.ones(16) / 4.0], dtype=np.float32)
    d = index_dir(settings)
    build_index(arr, ids, d)
    return d


def test_fold_in_then_forget_removes_every_trace(store, settings) -> None:
    from musicgraph.gnn.embed import GnnIndex
    from musicgraph.graph.schema import NodeRef
    from musicgraph.loaders.http_cache import HttpCache, HttpResponse, request_key

    d = _gnn_index(settings, store)
    before = content_checksum(store)
    cache = HttpCache(settings.cache_dir / "http.sqlite")
    params = {"method": "user.getRecentTracks", "user": "some one", "page": 1}
    cache.put(request_key("GET", "https://ws.audioscrobbler.com/2.0/", params),
              HttpResponse(200, b"{}", "GET https://ws.audioscrobbler.com/2.0/?method=user.getRecentTracks&page=1&user=some+one",
                           service="lastfm"))
    other = {"method": "artist.getSimilar", "artist": "x"}
    cache.put(request_key("GET", "https://ws.audioscrobbler.com/2.0/", other),
              HttpResponse(200, b"{}", "GET https://ws.audioscrobbler.com/2.0/?artist=x&method=artist.getSimilar", service="lastfm"))
    cache.close()

    result = import_history(store, "t", paths=[SPOTIFY], settings=settings)
    assert result.gnn["embedded"] is True and result.gnn["upserted"] == 1
    vec = GnnIndex.load(d).vector(NodeRef("User", "me:t"))
    want = sum(np.asarray(v) for k, v in (sample_embeddings(16, "Artist") | sample_embeddings(16, "Song")).items()
               if k in {"velvet hours", "marrow lane", "sunday static", "velvet hours|paper lanterns",
                        "velvet hours|slow harbour", "marrow lane|kettle song", "sunday static|faded polaroid"})
    assert np.allclose(vec, want / np.linalg.norm(want), atol=1e-5)  # neon harbor (weight 0) left out
    store.upsert_nodes("User", [("me:t", {"import_sources": ["lastfm:some one"]})])
    assert show(store, "t")["has_gnn_vector"] is True

    out = forget(store, "t", settings=settings)
    assert out["gnn_vectors_removed"] == 1 and out["nodes_removed"] == 1 and out["http_cache_entries_removed"] == 1
    idx = GnnIndex.load(d)
    assert idx.vector(NodeRef("User", "me:t")) is None and idx.tombstones == 0  # compacted: no bytes left
    assert "me:t" not in (d / "gnn.ids.json").read_text()
    assert content_checksum(store) == before
    cache = HttpCache(settings.cache_dir / "http.sqlite")
    assert cache.count("lastfm") == 1  # the unrelated answer stays
    cache.close()
    with pytest.raises(ProfileError, match="no profile named 't'"):
        forget(store, "t", settings=settings)


def test_gnn_training_tables_leave_personal_users_out(store, settings) -> None:
    from musicgraph.gnn.data import tables_from_store

    import_history(store, "t", paths=[SPOTIFY], settings=settings)
    tables = tables_from_store(store)
    users = [str(k) for k in tables.keys["User"]]
    assert users and not [u for u in users if u.startswith("me:")]
    src, _, _ = tables.edges[("User", "LISTENED_TO", "Artist")]
    assert src.max() < len(users) and ("User", "LISTENED_TO", "Song") not in tables.edges
