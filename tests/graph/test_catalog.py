"""The living catalog: add/update/delete songs, artists, tags and listens in the store (and derived indexes)."""

from __future__ import annotations

import json

import pytest

from musicgraph.graph.catalog import CatalogEditor, CatalogError, ChangeSet, read_changes, song_record


@pytest.fixture()
def store(tmp_path):
    from musicgraph.graph import EmbeddedStore

    s = EmbeddedStore(tmp_path / "store")
    ed = CatalogEditor(s)
    ed.add_artists([{"name": "Moss Lantern", "tags": {"dream pop": 20, "shoegaze": 5}, "genres": ["indie"]}])
    ed.add_songs([
        {"artist": "Moss Lantern", "title": "Glass River", "album": "Tides", "year": 1996, "genres": ["dream pop"],
         "features": {"energy": 0.3, "valence": 0.2}, "moods": ["sad"], "lyrics": "glass river under the moon"},
        {"artist": "Moss Lantern feat. Ivy Coil", "title": "Ember Line", "album": "Tides", "year": 1997},
    ])
    yield s
    s.close()


class Recorder:
    name = "recorder"

    def __init__(self):
        self.calls: list[ChangeSet] = []

    def apply(self, store, changes=None):
        self.calls.append(changes)
        return {"seen": sum(len(v) for v in changes.added.values())}

    def check(self, store):
        return []

    def repair(self, store, issues):
        return []


def test_add_maps_like_ingest_and_notifies_indexes(store):
    song = store.get_node("Song", "moss lantern|glass river")
    assert song.props["year"] == 1996 and song.props["energy"] == 0.3 and song.props["lyrics_ref"].startswith("sha1:")
    assert store.get_texts([song.props["lyrics_ref"]])
    assert {nb.key for _, nb in store.neighbors("Song", "moss lantern|glass river", "HAS_MOOD")} == {"sad"}
    feat = [(e.props["role"], nb.key) for e, nb in store.neighbors("Song", "moss lantern|ember line", "PERFORMED_BY")]
    assert sorted(feat) == [("featured", "ivy coil"), ("main", "moss lantern")]
    rec = Recorder()
    cs = CatalogEditor(store, [rec]).add_songs([{"artist": "Ivy Coil", "title": "Static Bloom"}])
    assert cs.added["Song"] == {"ivy coil|static bloom"} and rec.calls == [cs]
    assert cs.indexes == {"recorder": {"seen": 1}}


def test_update_overwrites_and_replaces_links(store):
    ed = CatalogEditor(store)
    cs = ed.update_songs([{"artist": "Moss Lantern", "title": "Glass River", "year": 2001, "genres": ["slowcore"],
                           "moods": ["calm"]}])
    assert cs.updated["Song"] == {"moss lantern|glass river"}
    node = store.get_node("Song", "moss lantern|glass river")
    assert node.props["year"] == 2001 and node.props["energy"] == 0.3  # untouched fields stay
    assert {nb.key for _, nb in store.neighbors("Song", node.key, "HAS_GENRE")} == {"slowcore"}
    assert {nb.key for _, nb in store.neighbors("Song", node.key, "HAS_MOOD")} == {"calm"}
    with pytest.raises(CatalogError, match="not in the store: moss lantern\\|nope"):
        ed.update_songs([{"artist": "Moss Lantern", "title": "Nope"}])


def test_delete_leaves_nothing_behind(store):
    ed = CatalogEditor(store)
    ed.delete_songs([{"artist": "Moss Lantern", "title": "Ember Line"}])
    assert store.get_node("Artist", "ivy coil") is None  # only that song used it
    cs = ed.delete_songs(["moss lantern|glass river"])
    assert store.get_node("Album", "moss lantern|tides") is None
    assert store.get_node("Mood", "sad") is None and store.get_node("Genre", "dream pop") is None
    assert store.get_node("Artist", "moss lantern") is not None  # still has tags and a genre
    assert sum(store.count_edges().values()) == 3  # TAGGED x2, artist HAS_GENRE
    assert cs.deleted["Song"] == {"moss lantern|glass river"} and "Album" in cs.deleted
    with pytest.raises(CatalogError, match="not in the store"):
        ed.delete_songs(["moss lantern|glass river"])


def test_artists_tags_listens_and_users(store):
    ed = CatalogEditor(store)
    ed.set_tags([{"artist": "Moss Lantern", "tag": "Lo-Fi", "weight": 7}])
    assert ("lo-fi" in {nb.key for _, nb in store.neighbors("Artist", "moss lantern", "TAGGED")}) or (
        "lo fi" in {nb.key for _, nb in store.neighbors("Artist", "moss lantern", "TAGGED")})
    ed.set_tags([{"artist": "Moss Lantern", "tag": "shoegaze"}], delete=True)
    assert store.get_node("Tag", "shoegaze") is None
    cs = ed.set_listens([{"user": "42", "artist": "Moss Lantern", "weight": 12}])
    assert cs.added["User"] == {"catalog:42"}
    e = next(iter(store.iter_edges("LISTENED_TO")))
    assert (e.src.key, e.dst.key, e.props["weight"]) == ("catalog:42", "moss lantern", 12.0)
    ed.set_listens([{"user": "catalog:42", "artist": "Moss Lantern"}], delete=True)
    assert list(store.iter_edges("LISTENED_TO")) == []
    ed.delete_users(["catalog:42"])
    cs = ed.delete_artists(["Moss Lantern"])
    assert store.count_nodes()["Song"] == 0 and store.get_node("Artist", "moss lantern") is None
    assert len(cs.deleted["Song"]) == 2
    with pytest.raises(CatalogError, match="artist 'Nobody' is not in the store"):
        ed.set_tags([{"artist": "Nobody", "tag": "x"}])


def test_files_jsonl_and_csv(tmp_path, store):
    j = tmp_path / "c.jsonl"
    j.write_text("\n".join(json.dumps(r) for r in [
        {"type": "artist", "name": "Quiet Harbor", "tags": {"ambient": 9}},
        {"artist": "Quiet Harbor", "title": "Fog Horn", "energy": 0.1, "year": "2004"},
        {"type": "listen", "user": "hetrec:7", "artist": "Quiet Harbor", "weight": 3},
    ]) + "\n", encoding="utf-8")
    cs = CatalogEditor(store).apply_file("add", j)
    assert cs.added["Song"] == {"quiet harbor|fog horn"} and store.get_node("User", "hetrec:7") is not None
    c = tmp_path / "c.csv"
    c.write_text("type,artist,title,genres\nsong,Quiet Harbor,Fog Horn,ambient;drone\n", encoding="utf-8")
    CatalogEditor(store).apply_file("update", c)
    assert {nb.key for _, nb in store.neighbors("Song", "quiet harbor|fog horn", "HAS_GENRE")} == {"ambient", "drone"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"artist": "X"}\nnot json\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="bad.jsonl:2: not JSON"):
        read_changes(bad)
    bad.write_text('{"type": "album"}\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="bad.jsonl:1: unknown change type 'album'"):
        read_changes(bad)
    with pytest.raises(CatalogError, match="unknown song field.*colour"):
        song_record({"artist": "A", "title": "B", "colour": "red"})
    with pytest.raises(CatalogError, match="needs 'artist' and 'title'"):
        song_record({"artist": "A"}, "x.jsonl:3")


def test_cli_catalog_add_delete(tmp_path, monkeypatch, store):
    from typer.testing import CliRunner

    import musicgraph.cli.catalog as cli_catalog
    from musicgraph.cli import app

    monkeypatch.setattr(cli_catalog, "open_cli_store", lambda s=None: store.__class__(store.path))
    monkeypatch.setattr(cli_catalog, "derived_indexes", lambda index_dir=None, dense_encoder=None: [])
    f = tmp_path / "add.jsonl"
    f.write_text(json.dumps({"artist": "Ivy Coil", "title": "Static Bloom"}) + "\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["catalog", "add", str(f), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["added"]["Song"] == 1
    r = CliRunner().invoke(app, ["catalog", "delete", "--key", "ivy coil|static bloom", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["deleted"]["Song"] == 1
    r = CliRunner().invoke(app, ["catalog", "delete", "--key", "ivy coil|static bloom"])
    assert r.exit_code == 2 and "not in the store" in r.output
