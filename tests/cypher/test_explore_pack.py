"""Every exploration query runs on Neo4j over the sample graph and gives sensible answers; user Cypher
is read-only with a timeout (tested through the store and the CLI)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from musicgraph.cypher import explore_queries, load_query
from musicgraph.cypher.sample import ARTISTS, LISTENS, SAMPLE_PARAMS
from musicgraph.graph.neo4j_store import Neo4jStore, QueryTimeoutError, ReadOnlyQueryError

pytestmark = pytest.mark.neo4j


def run(store: Neo4jStore, name: str, **extra: object) -> list[dict]:
    q = load_query(name)
    return store.query(q.text, {**q.params, **SAMPLE_PARAMS[name], **extra}, timeout=30)


@pytest.mark.parametrize("query", explore_queries(), ids=lambda q: q.name)
def test_every_query_returns_rows(sample_store: Neo4jStore, query) -> None:
    rows = run(sample_store, query.name)
    assert rows, f"{query.name} returned nothing on the sample graph"


def listened(user: str) -> set[str]:
    return {a.lower() for a in LISTENS[user.split(":")[1]]}


def test_similar_artists_share_listeners(sample_store) -> None:
    rows = run(sample_store, "similar_artists")
    seed_users = {u for u, plays in LISTENS.items() if "Velvet Hours" in plays}
    for row in rows:
        users = {u for u, plays in LISTENS.items() if row["name"] in plays}
        assert row["shared_listeners"] == len(users & seed_users) > 0
        assert 0 < row["jaccard"] <= 1
    assert rows[0]["artist"] == "sunday static"  # played by users 1 and 6, both Velvet Hours listeners
    assert "velvet hours" not in {r["artist"] for r in rows}


def test_user_discoveries_are_new_and_explained(sample_store) -> None:
    rows = run(sample_store, "user_discoveries")
    known = listened("hetrec:1")
    assert all(r["artist"] not in known for r in rows)
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(r["because"] and " (via " in r["because"][0] for r in rows)


def test_friends_favourites_unheard(sample_store) -> None:
    rows = run(sample_store, "friends_favourites")
    assert all(r["artist"] not in listened("hetrec:1") for r in rows)
    top = rows[0]
    assert top["artist"] == "copper owls" and top["friends"] == 2  # friends 2 and 7 both play it


def test_songs_like_song_share_mood_and_tags(sample_store) -> None:
    rows = run(sample_store, "songs_like_song")
    assert rows[0]["song"] == "velvet hours|last tram home"  # same artist, same mood (sad)
    assert all("sad" in r["shared_moods"] and r["shared_tags"] for r in rows)


def test_mood_path_walks_songs_and_moods(sample_store) -> None:
    (row,) = run(sample_store, "mood_path")
    steps = row["steps"]
    assert steps[0] == "Velvet Hours" and steps[-1] == "Neon Harbor"
    assert row["hops"] == len(steps) - 1 and row["hops"] % 2 == 0
    assert set(steps) & {"sad", "calm", "happy", "energetic"}


def test_playlist_cooccurrence(sample_store) -> None:
    rows = run(sample_store, "playlist_cooccurrence")
    assert {r["song"] for r in rows} == {
        "lumen drive|tunnel vision", "paper comets|glow stick heart", "lumen drive|overpass",
        "neon harbor|afterglow avenue"}
    assert all(r["examples"] == ["Night Drive"] for r in rows)


def test_genre_neighbourhood_paths(sample_store) -> None:
    rows = run(sample_store, "genre_neighbourhood")
    assert {r["neighbour"] for r in rows} == {"Lumen Drive", "Paper Comets", "Mara Quell"}
    assert all(r["genre"] in ARTISTS["Neon Harbor"][0] for r in rows)


def test_audio_neighbours_sorted_by_distance(sample_store) -> None:
    rows = run(sample_store, "audio_neighbours", valence=0.2, energy=0.3, danceability=0.35,
               acousticness=0.6, tempo=78.0, limit=5)
    dists = [r["distance"] for r in rows]
    assert dists == sorted(dists) and len(rows) == 5
    sad = {f"{a.lower()}|{t.lower()}" for a, (_, _, tracks, _) in ARTISTS.items() for t, m, _ in tracks if m == "sad"}
    assert {r["song"] for r in rows} <= sad


def test_fulltext_queries(sample_store) -> None:
    assert {r["song"] for r in run(sample_store, "fulltext_songs")} == {
        "velvet hours|paper lanterns", "copper owls|lantern fields"}
    assert run(sample_store, "fulltext_artists")[0]["artist"] == "neon harbor"  # typo tolerated
    (lyr,) = run(sample_store, "fulltext_lyrics")
    assert lyr["song"] == "velvet hours|paper lanterns" and "harbour" in lyr["snippet"]


def test_vector_search_finds_same_mood(sample_store) -> None:
    rows = run(sample_store, "vector_similar_songs", k=3)
    assert len(rows) == 3 and "velvet hours|paper lanterns" not in {r["song"] for r in rows}
    sad = {f"{a.lower()}|{t.lower()}" for a, (_, _, tracks, _) in ARTISTS.items() for t, m, _ in tracks if m == "sad"}
    assert {r["song"] for r in rows} <= sad
    assert rows[0]["similarity"] >= rows[-1]["similarity"]


def test_mood_playlists_and_profiles(sample_store) -> None:
    rows = run(sample_store, "mood_playlists")
    assert all(r["labelled"] for r in rows) and rows[0]["score"] == 3
    prof = run(sample_store, "user_profile")
    assert [r["artist"] for r in prof] == ["velvet hours", "glass pilots", "sunday static"]
    assert prof[0]["friends"] == 3 and prof[0]["own_tags"][0] == "melancholic"
    cloud = run(sample_store, "artist_tag_cloud")
    assert [r["tag"] for r in cloud] == ["night drive", "80s", "upbeat"]


# ------------------------------------------------------------------ read-only user Cypher
WRITES = [
    "CREATE (n:Artist {uid: 'intruder'})",
    "MATCH (a:Artist {uid: 'velvet hours'}) SET a.name = 'hacked'",
    "MATCH (a:Artist {uid: 'velvet hours'}) DETACH DELETE a",
    "MERGE (t:Tag {uid: 'x'}) RETURN t",
    "CREATE INDEX evil IF NOT EXISTS FOR (n:Song) ON (n.title)",
    "CALL { CREATE (:Mood {uid: 'sneaky'}) } RETURN 1 AS x",
]


@pytest.mark.parametrize("cypher", WRITES)
def test_user_cypher_cannot_write(sample_store, cypher: str) -> None:
    before = (sample_store.count_nodes(), sample_store.count_edges(), sample_store.version())
    name_before = sample_store.get_node("Artist", "velvet hours").props["name"]
    with pytest.raises(ReadOnlyQueryError, match="refused"):
        sample_store.query(cypher)
    assert (sample_store.count_nodes(), sample_store.count_edges(), sample_store.version()) == before
    assert sample_store.get_node("Artist", "velvet hours").props["name"] == name_before


def test_server_refuses_writes_even_without_the_planner_check(sample_store, monkeypatch) -> None:
    # with the text guard off, EXPLAIN/CYPHER-prefixed text skips the planner check: the read transaction
    # still refuses
    import musicgraph.cypher.guard as guard

    monkeypatch.setattr(guard, "check_user_cypher", lambda cypher: None)
    before = sample_store.count_nodes()
    with pytest.raises(ReadOnlyQueryError, match="refused by the server"):
        sample_store.query("CYPHER 5 CREATE (n:Artist {uid: 'intruder'})")
    assert sample_store.count_nodes() == before


def test_user_cypher_timeout(sample_store) -> None:
    with pytest.raises(QueryTimeoutError, match="timeout of 0.5 s"):
        sample_store.query(
            "UNWIND range(1, 2000) AS a UNWIND range(1, 2000) AS b UNWIND range(1, 200) AS c "
            "WITH a, b, c WHERE (a * b + c) % 1000003 = -1 RETURN count(*) AS n",
            timeout=0.5,
        )


def test_parameters_are_values_not_cypher(sample_store) -> None:
    evil = "x'}) DETACH DELETE n //"
    assert sample_store.query("MATCH (n:Artist {uid: $k}) RETURN n", {"k": evil}) == []
    assert sample_store.count_nodes()["Artist"] == len(ARTISTS)


# -------------------------------------------------------------------------------- CLI
def test_cli_cypher_run_and_refusal(sample_store, tmp_path) -> None:
    from musicgraph.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["cypher", "run", "similar_artists", "--param", "artist=velvet hours", "--json"])
    assert res.exit_code == 0, res.output
    assert '"artist": "sunday static"' in res.output
    res = runner.invoke(app, ["cypher", "run", "similar_artists", "-p", "artist=velvet hours", "-p", "limit=1"])
    assert res.exit_code == 0 and "(1 rows)" in res.output
    bad = tmp_path / "bad.cypher"
    bad.write_text("// Rename an artist (must be refused)\n:param k => 'velvet hours';\n"
                   "MATCH (a:Artist {uid: $k}) SET a.name = 'x' RETURN a;\n")
    res = runner.invoke(app, ["cypher", "run", str(bad)])
    assert res.exit_code == 2 and "read-only" in res.output
    assert sample_store.get_node("Artist", "velvet hours").props["name"] == "Velvet Hours"
    res = runner.invoke(app, ["cypher", "list"])
    assert res.exit_code == 0 and "mood_path" in res.output


def test_gnn_artists_near_in_tag_uses_the_vector_index(sample_store) -> None:
    """Nearest artists by GNN vector (the artist_embedding index), only those with the tag, best first."""
    import numpy as np

    from musicgraph.cypher.sample import sample_embeddings

    rows = run(sample_store, "gnn_artists_near_in_tag")
    vecs = sample_embeddings(16, "Artist")
    tagged = {a.lower() for a, (_, tags, _, _) in ARTISTS.items() if "melancholic" in tags} - {"velvet hours"}
    seed = np.asarray(vecs["velvet hours"])
    want = sorted(tagged, key=lambda a: -float(np.dot(seed, vecs[a]) / np.linalg.norm(vecs[a])))
    assert [r["artist"] for r in rows] == want
    sims = [r["similarity"] for r in rows]
    assert sims == sorted(sims, reverse=True) and all(0 < s <= 1 for s in sims)
