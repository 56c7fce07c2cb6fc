"""Input validation of catalog change files (issue 15): a one-line error naming file and line, exit code 2,
and nothing changed — neither the store nor the retrieval indexes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from musicgraph.graph.store import content_checksum


@pytest.fixture(scope="module")
def built(tmp_path_factory, fixture_data_dir):
    """A home with the fixture data ingested and the retrieval indexes built (no dense index)."""
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.ingest import ingest
    from musicgraph.retrieval.index import build_indexes

    home = tmp_path_factory.mktemp("home")
    store = EmbeddedStore(home / "stores" / "default")
    ingest(store, fixture_data_dir, progress=False)
    build_indexes(store, home / "indexes" / "default", dense=False, data_dir=fixture_data_dir, progress=False)
    store.close()
    return home


@pytest.fixture()
def home(built, tmp_path, monkeypatch, fixture_data_dir):
    from musicgraph.config import reset_settings

    h = tmp_path / "home"
    shutil.copytree(built, h)
    monkeypatch.setenv("MUSICGRAPH_HOME", str(h))
    monkeypatch.setenv("MUSICGRAPH_DATA_DIR", str(fixture_data_dir))
    monkeypatch.delenv("MUSICGRAPH_NEO4J_URI", raising=False)
    reset_settings()
    yield h
    reset_settings()


def snapshot(home: Path) -> tuple[str, dict[str, bytes]]:
    """The store's content checksum and every index file's bytes."""
    from musicgraph.graph import EmbeddedStore

    store = EmbeddedStore(home / "stores" / "default")
    try:
        checksum = content_checksum(store) + "|" + json.dumps(
            {r: t for r, t in sorted(store.get_texts([n.props.get("lyrics_ref") for n in store.iter_nodes("Song")
                                                      if n.props.get("lyrics_ref")]).items())})
    finally:
        store.close()
    idx = home / "indexes" / "default"
    files = {str(p.relative_to(idx)): p.read_bytes() for p in sorted(idx.rglob("*"))
             if p.is_file() and p.name != ".lock"}
    return checksum, files


def run_cli(*args: str):
    from musicgraph.cli import app

    return CliRunner().invoke(app, list(args))


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"artist": "Moss Lantern", "title": "Glass River", "year": 1996, "energy": 0.3})

# (second line of the file, text the error must contain)
BAD_LINES = [
    ('{"artist": "A", "title": 12345}', "title must be text, got int 12345"),
    ('{"artist": ["A", "B"], "title": "T"}', "artist must be text, got list"),
    ('{"artist": "A", "title": "T", "features": [1, 2]}', "'features' must be an object"),
    ('{"artist": "A", "title": "T", "energy": NaN}', "NaN is not a number"),
    ('{"artist": "A", "title": "T", "tempo": Infinity}', "Infinity is not a number"),
    ('{"artist": "A", "title": "T", "loudness": -Infinity}', "-Infinity is not a number"),
    ('{"artist": "A", "title": "T", "tempo": -120}', "tempo must be a number from 0 to 300 BPM, got -120"),
    ('{"artist": "A", "title": "T", "features": {"energy": 7.5}}', "energy must be a number from 0 to 1, got 7.5"),
    ('{"artist": "A", "title": "T", "popularity": 1e308}', "popularity must be a number from 0 to 100"),
    ('{"artist": "A", "title": "T", "tempo": 1e400}', "tempo must be a number from 0 to 300"),
    ('{"artist": "A", "title": "T", "key": 5.5}', "key must be an integer from -1 to 11"),
    ('{"artist": "A", "title": "T", "year": true}', "year must be an integer from 1800 to 2100, got bool"),
    ('{"artist": "A", "title": "T", "title": "U"}', "duplicate key 'title'"),
    ('{"artist": "A", "title": "T", "features": {"energy": 0.1, "energy": 0.2}}', "duplicate key 'energy'"),
    ('{"artist": "A", "title": "T", "genres": {"rock": 1}}', "'genres' must be a list of text"),
    ('{"artist": "A", "title": "T", "explicit": "maybe"}', "'explicit' must be true or false"),
    ('{"type": "tag", "artist": "Moss Lantern", "tag": "dream pop", "weight": "heavy"}',
     "weight must be a number from 0 to 1000000000000, got 'heavy'"),
    ('{"type": "listen", "user": "u1", "artist": "Moss Lantern", "weight": -3}', "weight must be a number"),
    ('{"type": "artist", "name": "Moss Lantern", "tags": {"dream pop": "lots"}}', "weight of tag 'dream pop'"),
    ('{"type": "artist", "name": {"x": 1}}', "name must be text, got dict"),
    ('[1, 2, 3]', "expected a JSON object, got list"),
    ('{"artist": "A", "title": "T",', "not JSON"),
    (json.dumps({"artist": "A", "title": "x" * 10_000_000}), "title is 10,000,000 characters long; the limit is 500"),
    (json.dumps({"artist": "A" * 501, "title": "T"}), "artist is 501 characters long; the limit is 500"),
    (json.dumps({"artist": "A", "title": "T", "genres": ["g" * 201]}), "genres item is 201 characters long; the limit is 200"),
    (json.dumps({"artist": "A", "title": "T", "lyrics": "la " * 40_000}), "the limit is 100,000"),
    (json.dumps({"artist": "A", "title": "T", "genres": ["g"] * 201}), "'genres' has 201 items; the limit is 200"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES, ids=[m[:40] for _, m in BAD_LINES])
def test_bad_record_is_one_line_error_exit_2_and_changes_nothing(home, tmp_path, line, message):
    before = snapshot(home)
    f = write(tmp_path / "changes.jsonl", [GOOD, line])
    r = run_cli("catalog", "add", str(f))
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output[:2000]
    assert f"{f}:2:" in lines[0], lines[0][:500]
    assert message in lines[0], lines[0][:500]
    assert snapshot(home) == before  # the valid first line was not applied either


def test_a_file_applies_whole_when_a_later_record_fails_in_the_store(home, tmp_path):
    """A record that is valid on its own but names an artist the store lacks: found only while writing,
    and still nothing of the file is applied."""
    before = snapshot(home)
    f = write(tmp_path / "c.jsonl", [GOOD, json.dumps({"type": "tag", "artist": "Nobody Here", "tag": "x"})])
    r = run_cli("catalog", "add", str(f))
    assert r.exit_code == 2 and f"{f}:2: artist 'Nobody Here' is not in the store" in r.output
    assert snapshot(home) == before


def test_valid_file_still_applies(home, tmp_path):
    f = write(tmp_path / "c.jsonl", [GOOD, json.dumps({"type": "tag", "artist": "Moss Lantern", "tag": "dream pop",
                                                       "weight": "7"})])
    r = run_cli("catalog", "add", str(f), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["added"]["Song"] == 1


def test_csv_with_byte_order_mark_is_accepted(home, tmp_path):
    f = tmp_path / "excel.csv"
    f.write_bytes("\ufefftype,artist,title,energy\nsong,Moss Lantern,Tide Pool,0.4\n".encode())
    r = run_cli("catalog", "add", str(f), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["added"]["Song"] == 1


def test_jsonl_with_byte_order_mark_is_accepted(home, tmp_path):
    f = tmp_path / "bom.jsonl"
    f.write_bytes(("\ufeff" + GOOD + "\n").encode())
    r = run_cli("catalog", "add", str(f), "--json")
    assert r.exit_code == 0, r.output


def test_unterminated_csv_quote_names_the_line_where_it_opened(home, tmp_path):
    before = snapshot(home)
    f = tmp_path / "q.csv"
    f.write_text('type,artist,title\nsong,Moss Lantern,Fine\nsong,"Moss Lantern,Broken\nsong,X,Y\n', encoding="utf-8")
    r = run_cli("catalog", "add", str(f))
    assert r.exit_code == 2
    assert f"{f}:3: unterminated quoted field" in r.output, r.output
    assert snapshot(home) == before


def test_csv_row_with_extra_fields_and_bad_tag_weights(home, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("type,artist,title\nsong,A,T,surplus\n", encoding="utf-8")
    r = run_cli("catalog", "add", str(f))
    assert r.exit_code == 2 and f"{f}:2: 4 fields but the header has 3" in r.output
    f.write_text("type,name,tags\nartist,Moss Lantern,dream pop:heavy\n", encoding="utf-8")
    r = run_cli("catalog", "add", str(f))
    assert r.exit_code == 2 and f"{f}:2:" in r.output and "'heavy'" in r.output


def test_not_utf8_names_the_line(home, tmp_path):
    f = tmp_path / "latin1.jsonl"
    f.write_bytes((GOOD + "\n").encode() + '{"artist": "Mot\xf6rhead", "title": "Ace"}\n'.encode("latin-1"))
    r = run_cli("catalog", "add", str(f))
    assert r.exit_code == 2 and f"{f}:2: not UTF-8" in r.output


def test_longest_allowed_title_keeps_recommend_working(home, tmp_path):
    """A title at the length limit is stored, and later multi-hop recommendations still run (the 10 MB title
    of issue 15 made every later `recommend` fail; the limit rejects it, see BAD_LINES)."""
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.multihop import recommend
    from musicgraph.graph.schema import MAX_NAME_LENGTH

    title = "Glass " + "r" * (MAX_NAME_LENGTH - 6)
    f = write(tmp_path / "long.jsonl", [json.dumps({"artist": "Moss Lantern", "title": title, "genres": ["dream pop"]})])
    r = run_cli("catalog", "add", str(f))
    assert r.exit_code == 0, r.output
    store = EmbeddedStore(home / "stores" / "default")
    try:
        key = next(k for k in store.node_keys("Song") if k.startswith("moss lantern|glass r"))
        assert len(key) < 2 * MAX_NAME_LENGTH
        proj = store.projection()
        assert proj.num_nodes > 0
        results = recommend(store, artists=["Moss Lantern"], k=5)
        assert isinstance(results, list)
        from musicgraph.graph.projection import PROJECTION_CACHE

        cache = home / "stores" / "default" / PROJECTION_CACHE
        assert cache.stat().st_size < 64 * 1024 * 1024  # not sized to a huge fixed-width key
    finally:
        store.close()


def test_feature_ranges_cover_the_fixture_data(fixture_store):
    from musicgraph.graph.schema import FEATURE_RANGES, check_number

    seen = 0
    for node in fixture_store.iter_nodes("Song"):
        for name in FEATURE_RANGES:
            value = node.props.get(name)
            if value is not None:
                assert check_number(name, value) == pytest.approx(value), (node.key, name, value)
                seen += 1
    assert seen > 50


@pytest.mark.integration
def test_feature_ranges_cover_the_real_data(real_store):
    """Every measured value of the shared datasets lies inside the schema's ranges."""
    from musicgraph.graph.schema import FEATURE_RANGES, check_number

    seen = 0
    for node in real_store.iter_nodes("Song"):
        for name in FEATURE_RANGES:
            value = node.props.get(name)
            if value is not None and not node.props.get("features_estimated"):
                check_number(name, value)
                seen += 1
    assert seen > 10_000


def test_store_rejects_nan_properties(tmp_path):
    from musicgraph.graph import EmbeddedStore

    store = EmbeddedStore(tmp_path / "s")
    try:
        with pytest.raises(ValueError):
            store.upsert_nodes("Song", [("a|b", {"energy": float("nan")})])
        assert store.get_node("Song", "a|b") is None
    finally:
        store.close()
