"""Fuzzing the catalog parsers and the editor (issue 15): whatever a change file holds, the result is a
:class:`CatalogError` naming the place, or a change applied — never another exception. Inputs that once
broke this are kept in ``tests/fixtures/fuzz/catalog`` and replayed here (the corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musicgraph.graph.catalog import CatalogEditor
from musicgraph.graph.changes import CatalogError, read_changes, validate_changes

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "fuzz" / "catalog"
FUZZ = settings(max_examples=200, suppress_health_check=list(HealthCheck), deadline=None)


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    from musicgraph.graph import EmbeddedStore

    store = EmbeddedStore(tmp_path_factory.mktemp("fuzz") / "s")
    ed = CatalogEditor(store, lock=False)
    ed.add_artists([{"name": "Known Artist"}])
    yield ed
    store.close()


def _apply_or_refuse(editor: CatalogEditor, op: str, records: list[dict]) -> None:
    before = editor.store.version()
    try:
        editor.apply_records(op, records)
    except CatalogError as exc:
        assert str(exc).strip() and "\n" not in str(exc)
        assert editor.store.version() == before  # refused: nothing written


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*")), ids=lambda p: p.name)
def test_corpus_replays(editor, path: Path) -> None:
    try:
        records = read_changes(path)
    except CatalogError as exc:
        assert str(path) in str(exc)
        return
    for op in ("add", "update", "delete"):
        _apply_or_refuse(editor, op, [dict(r) for r in records])


_TEXT = st.text(max_size=12) | st.sampled_from(
    ["Known Artist", "known artist", "feat. X", "The", "!!!", " ", "-", "Known Artist feat. Known Artist", "0"])
_NUM = st.one_of(st.integers(-5, 3000), st.floats(-100, 3000), st.text(max_size=5), st.none(), st.booleans())
_SONG = st.fixed_dictionaries({"type": st.just("song"), "artist": _TEXT, "title": _TEXT}, optional={
    "album": _TEXT, "genres": st.lists(_TEXT, max_size=3) | _TEXT, "moods": st.lists(_TEXT, max_size=3),
    "tags": st.lists(_TEXT, max_size=3) | st.dictionaries(_TEXT, _NUM, max_size=2), "energy": _NUM, "year": _NUM,
    "key": _NUM, "features": st.dictionaries(st.sampled_from(["energy", "tempo", "mode", "colour"]), _NUM, max_size=3),
    "featured": st.lists(_TEXT, max_size=2), "lyrics": _TEXT, "explicit": _NUM})
_ARTIST = st.fixed_dictionaries({"type": st.just("artist"), "name": _TEXT}, optional={
    "tags": st.dictionaries(_TEXT, _NUM, max_size=3) | st.lists(_TEXT, max_size=3), "genres": st.lists(_TEXT, max_size=3),
    "aliases": st.lists(_TEXT, max_size=2)})
_TAG = st.fixed_dictionaries({"type": st.just("tag"), "artist": _TEXT, "tag": _TEXT}, optional={"weight": _NUM})
_LISTEN = st.fixed_dictionaries({"type": st.just("listen"), "user": _TEXT | st.integers(), "artist": _TEXT},
                                optional={"weight": _NUM})


@FUZZ
@given(records=st.lists(st.one_of(_SONG, _ARTIST, _TAG, _LISTEN), min_size=1, max_size=5),
       op=st.sampled_from(["add", "update", "delete"]))
def test_editor_applies_or_refuses(editor, records, op) -> None:
    _apply_or_refuse(editor, op, records)


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=20))
_VALUES = st.recursive(_SCALARS, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                       max_leaves=8)
_ANY_RECORD = st.dictionaries(st.sampled_from(["type", "artist", "title", "name", "tag", "user", "weight", "features",
                                               "energy", "tempo", "key", "year", "genres", "moods", "tags", "lyrics",
                                               "album", "explicit", "popularity", "featured", "aliases", "_where"]),
                              _VALUES, max_size=8)


@FUZZ
@given(records=st.lists(_ANY_RECORD, min_size=1, max_size=4), op=st.sampled_from(["add", "update", "delete"]))
def test_validation_of_any_json_values(records, op) -> None:
    try:
        clean = validate_changes(op, records)
    except CatalogError as exc:
        assert "\n" not in str(exc)
        return
    assert len(clean) == len(records) and all(r["_clean"] for r in clean)


@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode), suffix=st.sampled_from([".jsonl", ".csv"]))
def test_files_of_any_bytes(tmp_path_factory, data: bytes, suffix: str) -> None:
    path = tmp_path_factory.mktemp("bytes") / f"changes{suffix}"
    path.write_bytes(data)
    try:
        validate_changes("add", read_changes(path))
    except CatalogError as exc:
        assert str(path) in str(exc)


@FUZZ
@given(rows=st.lists(st.lists(st.text(alphabet='ab,"\n\r\ufeff; :', max_size=8), min_size=1, max_size=4),
                     min_size=1, max_size=5))
def test_csv_with_quotes_and_separators(tmp_path_factory, rows) -> None:
    path = tmp_path_factory.mktemp("csv") / "changes.csv"
    path.write_text("type,artist,title,tags\n" + "\n".join(",".join(r) for r in rows), encoding="utf-8")
    try:
        validate_changes("add", read_changes(path))
    except CatalogError as exc:
        assert str(path) in str(exc)
