"""The packaged Cypher files parse, document themselves, and cover the schema (no server needed)."""

from __future__ import annotations

import re

import pytest

from musicgraph.cypher import (
    explore_queries,
    load_query,
    parse_cypher_file,
    parse_literal,
    schema_statements,
    split_statements,
)
from musicgraph.cypher.sample import SAMPLE_PARAMS
from musicgraph.graph.schema import LABELS

QUERIES = explore_queries()


def test_at_least_twelve_exploration_queries() -> None:
    assert len(QUERIES) >= 12
    assert len({q.name for q in QUERIES}) == len(QUERIES)


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_query_header_params_and_single_statement(query) -> None:
    assert query.title and len(query.title) > 10
    assert query.description.endswith((".", "?", ")")), query.description
    # every $parameter the statement uses has a :param default, and every default is used
    assert set(query.required_params()) == set(query.params), query.name
    assert ";" not in query.text.rstrip().rstrip(";")[-1:]
    # read-only by construction: no write clauses
    assert not re.search(r"\b(CREATE|MERGE|DELETE|SET|REMOVE|DROP|LOAD CSV)\b", query.text, re.I), query.name
    # the Browser form: :param lines are valid Browser syntax
    for line in query.source.splitlines():
        if line.startswith(":param"):
            assert re.match(r"^:param [A-Za-z_]\w* => .+;$", line), line
    assert query.name in SAMPLE_PARAMS, f"add sample parameters for {query.name}"


def test_queries_cover_the_issue_list() -> None:
    names = {q.name for q in QUERIES}
    for required in ("similar_artists", "user_discoveries", "friends_favourites", "songs_like_song",
                     "mood_path", "playlist_cooccurrence", "genre_neighbourhood", "audio_neighbours",
                     "fulltext_songs", "fulltext_lyrics", "vector_similar_songs"):
        assert required in names
    assert "shortestPath" in load_query("mood_path").text
    assert "db.index.vector.queryNodes" in load_query("vector_similar_songs").text
    assert "db.index.fulltext.queryNodes" in load_query("fulltext_lyrics").text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'radiohead'", "radiohead"),
        ('"it\\\'s"', "it's"),
        ("42", 42),
        ("-0.5", -0.5),
        ("1e3", 1000.0),
        ("true", True),
        ("NULL", None),
        ("[1, 'a', [2.5]]", [1, "a", [2.5]]),
        ("{k: 'v', `odd key`: [], 'q': {x: 1}}", {"k": "v", "odd key": [], "q": {"x": 1}}),
        ("[]", []),
    ],
)
def test_parse_literal(text: str, value: object) -> None:
    assert parse_literal(text) == value


@pytest.mark.parametrize("bad", ["'unterminated", "[1, 2", "{k 1}", "foo", "1 2"])
def test_parse_literal_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_literal(bad)


def test_parse_file_errors_name_the_file_and_line() -> None:
    with pytest.raises(ValueError, match=r"q:2: expected `:param"):
        parse_cypher_file("// title here\n:param x = 1;\nRETURN $x;", "q")
    with pytest.raises(ValueError, match="exactly one Cypher statement"):
        parse_cypher_file("// t\nRETURN 1; RETURN 2;", "q")
    with pytest.raises(ValueError, match="header comment"):
        parse_cypher_file("RETURN 1;", "q")


def test_split_statements_respects_strings() -> None:
    assert split_statements("RETURN 'a;b' AS x;\n// c;\nRETURN 2") == ["RETURN 'a;b' AS x", "RETURN 2"]


def test_load_query_by_path_and_unknown_name(tmp_path) -> None:
    path = tmp_path / "mine.cypher"
    path.write_text("// My query about things\n:param n => 3;\nUNWIND range(1, $n) AS x RETURN x;\n")
    q = load_query(path)
    assert q.name == "mine" and q.params == {"n": 3} and q.text.startswith("UNWIND")
    with pytest.raises(FileNotFoundError, match="similar_artists"):
        load_query("no_such_query")


def test_schema_has_a_key_constraint_per_label_and_the_indexes() -> None:
    stmts = schema_statements()
    text = "\n".join(stmts)
    for label in LABELS:
        assert re.search(rf"FOR \(n:{label}\) REQUIRE n\.uid IS UNIQUE", text), label
    assert all("IF NOT EXISTS" in s for s in stmts)
    for index in ("song_title", "artist_name", "tag_name", "lyrics_text"):
        assert f"FULLTEXT INDEX {index} " in text
    assert "n.aliases" in text and "n.text" in text
    assert text.count("VECTOR INDEX") == 2 and "$embedding_dim" in text
