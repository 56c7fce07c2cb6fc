"""The read-only guard of user Cypher (issue 15): no administration or transaction management, no file
outside the import directory, no outbound URL; ``SHOW`` stays; ``--limit`` is streamed. The text checks
run without a server; the rest runs against the real local Neo4j (marker ``neo4j``)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from musicgraph.cypher.guard import RefusedQueryError, check_user_cypher

ALLOWED = [
    "MATCH (n:Artist {uid: $a}) RETURN n.name LIMIT 5",
    "OPTIONAL MATCH (n) RETURN n",
    "SHOW TRANSACTIONS",
    "SHOW INDEXES YIELD name RETURN name",
    "CALL db.labels()",
    "CALL db.labels",
    "MATCH (db:Artist) RETURN db.name",  # a variable called db is not a procedure
    "RETURN apoc.version()",
    "RETURN apoc.coll.sum([1, 2])",
    "LOAD CSV FROM 'file:///x.csv' AS r RETURN r",
    'LOAD CSV WITH HEADERS FROM "file:///sub/x.csv" AS r RETURN r',
    "EXPLAIN MATCH (n) RETURN n",
    "CYPHER 5 MATCH (n) RETURN n;",
    "MATCH (n) WHERE n.name = 'TERMINATE TRANSACTIONS' RETURN n",  # inside a string
    "// TERMINATE TRANSACTIONS\nMATCH (n) RETURN n",  # inside a comment
    "RETURN 'a;b' AS x",
    "CALL db.index.fulltext.queryNodes('songs', 'lantern') YIELD node RETURN node",
]

REFUSED = [
    ("TERMINATE TRANSACTIONS 'neo4j-transaction-1'", "TERMINATE"),
    ("SHOW TRANSACTIONS YIELD transactionId AS t TERMINATE TRANSACTIONS t", "TERMINATE"),
    ("EXPLAIN TERMINATE TRANSACTIONS 'x'", "TERMINATE"),
    ("CALL dbms.killQuery('query-1')", "dbms.killQuery"),
    ("CALL db.clearQueryCaches()", "db.clearQueryCaches"),
    ("CALL dbms.setConfigValue('a', 'b')", "dbms.setConfigValue"),
    ("CREATE DATABASE x", "CREATE"),
    ("DROP INDEX x", "DROP"),
    ("GRANT ROLE a TO b", "GRANT"),
    ("STOP DATABASE neo4j", "STOP"),
    ("ALTER USER neo4j SET PASSWORD 'x'", "ALTER"),
    ("USE system DROP DATABASE x", "DROP"),
    ("CALL apoc.load.json('http://example.org/x')", "apoc.load.json"),
    ("CALL apoc . load . json('x')", "apoc.load.json"),
    ("CALL `apoc.load.json`('x')", "apoc.load.json"),
    ("RETURN apoc.cypher.runFirstColumnSingle('MATCH (n) RETURN n')", "apoc.cypher"),
    ("MATCH (n) CALL apoc.export.csv.all('x.csv', {}) YIELD file RETURN file", "apoc.export"),
    ("LOAD CSV FROM 'http://example.org/x.csv' AS r RETURN r", "only file:///"),
    ("LOAD CSV FROM 'https://example.org/x.csv' AS r RETURN r", "only file:///"),
    ("LOAD CSV FROM $url AS r RETURN r", "literal"),
    ("LOAD CSV FROM 'file:///' + $f AS r RETURN r", None),
    ("LOAD CSV FROM 'file:///../conf/neo4j.conf' AS r RETURN r", "'..'"),
    ("MATCH (n) RETURN n; MATCH (m) RETURN m", "one statement"),
    ("FOREACH (x IN [1] | CREATE (:A))", "FOREACH"),
    ("MERGE (n:A)", "MERGE"),
    ("", "empty"),
]


@pytest.mark.parametrize("cypher", ALLOWED)
def test_guard_allows_reads(cypher: str) -> None:
    check_user_cypher(cypher)


@pytest.mark.parametrize(("cypher", "why"), REFUSED)
def test_guard_refuses_admin_io_and_writes(cypher: str, why: str | None) -> None:
    with pytest.raises(RefusedQueryError) as info:
        check_user_cypher(cypher)
    if why:
        assert why in str(info.value)


def test_load_query_paths_never_fall_back_to_packaged_queries(tmp_path: Path) -> None:
    from musicgraph.cypher import load_query

    with pytest.raises(FileNotFoundError, match="no Cypher file at"):
        load_query(str(tmp_path / "similar_artists.cypher"))  # a missing file, not the packaged query
    (tmp_path / "x.txt").write_text("// t\nRETURN 1;\n")
    with pytest.raises(ValueError, match="not a .cypher file"):
        load_query(str(tmp_path / "x.txt"))
    with pytest.raises(ValueError, match="not a .cypher file"):
        load_query("../etc/passwd")
    with pytest.raises(FileNotFoundError, match="no packaged Cypher query 'similar artists'"):
        load_query("similar artists")
    big = tmp_path / "big.cypher"
    big.write_text("// big\nRETURN '" + "x" * (1024 * 1024) + "';\n")
    with pytest.raises(ValueError, match="limited to"):
        load_query(str(big))
    bad = tmp_path / "latin.cypher"
    bad.write_bytes("// caf\xe9\nRETURN 1;\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_query(str(bad))
    assert load_query("similar_artists").name == "similar_artists"


# ------------------------------------------------------------------------------ real Neo4j
@pytest.fixture(scope="module")
def guard_store(request: pytest.FixtureRequest):
    from musicgraph.cypher.sample import load_sample

    store = request.getfixturevalue("neo4j_tests").claim(request)
    load_sample(store)
    yield store
    store.close()


def _import_dir(store) -> Path:
    with store._session() as session:  # SHOW SETTINGS is allowed to users too; read it directly here
        rows = session.run("SHOW SETTINGS YIELD name, value WHERE name = 'server.directories.import' "
                           "RETURN value").data()
    return Path(rows[0]["value"])


@pytest.mark.neo4j
def test_terminate_transactions_is_refused_and_the_other_transaction_survives(guard_store) -> None:
    from musicgraph.graph.neo4j_store import ReadOnlyQueryError

    store = guard_store
    marker = f"guard-{uuid.uuid4().hex[:8]}"
    opened, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def other_client() -> None:  # another client's open write transaction
        try:
            with store._session() as session:
                tx = session.begin_transaction()
                tx.run("MERGE (m:MusicgraphMeta {key: $k}) SET m.value = '1'", {"k": marker}).consume()
                opened.set()
                release.wait(30)
                tx.commit()
                outcome["committed"] = True
        except Exception as exc:  # noqa: BLE001 - reported to the test
            outcome["error"] = exc
            opened.set()

    t = threading.Thread(target=other_client, daemon=True)
    t.start()
    assert opened.wait(30)
    (row,) = store.query("SHOW TRANSACTIONS YIELD transactionId RETURN collect(transactionId) AS ids")
    assert row["ids"], "SHOW TRANSACTIONS stays allowed and lists the open transaction"
    for tx_id in row["ids"]:
        with pytest.raises(ReadOnlyQueryError, match="TERMINATE"):
            store.query("TERMINATE TRANSACTIONS $id", {"id": tx_id})
    release.set()
    t.join(30)
    assert outcome == {"committed": True}, outcome
    assert store.get_meta(marker) == "1"
    store.delete_meta(marker)


@pytest.mark.neo4j
def test_load_csv_reads_the_import_directory_only(guard_store) -> None:
    from neo4j.exceptions import ClientError

    from musicgraph.graph.neo4j_store import ReadOnlyQueryError

    store = guard_store
    name = f"guard-{uuid.uuid4().hex[:8]}.csv"
    path = _import_dir(store) / name
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    try:
        rows = store.query(f"LOAD CSV WITH HEADERS FROM 'file:///{name}' AS r RETURN r.a AS a, r.b AS b")
        assert rows == [{"a": "1", "b": "2"}]
        for url in ("file:///../conf/neo4j.conf", "http://127.0.0.1:9/x.csv", "https://example.org/x.csv"):
            with pytest.raises(ReadOnlyQueryError):
                store.query(f"LOAD CSV FROM '{url}' AS r RETURN r LIMIT 1")
        # an absolute file URL is read inside import/, never from the server's file system root
        (path.parent / "etc").mkdir(exist_ok=True)
        (path.parent / "etc" / name).write_text("inside\n", encoding="utf-8")
        assert store.query(f"LOAD CSV FROM 'file:///etc/{name}' AS r RETURN r") == [{"r": ["inside"]}]
        with pytest.raises(ClientError, match="Cannot load from URL"):
            store.query("LOAD CSV FROM 'file:///etc/passwd' AS r RETURN r LIMIT 1")
    finally:
        path.unlink()
        (path.parent / "etc" / name).unlink(missing_ok=True)


@pytest.mark.neo4j
def test_the_server_itself_keeps_files_and_urls_out(guard_store, monkeypatch) -> None:
    """Defence in depth, as Neo4j Browser users meet it: with the text guard switched off, the server still
    refuses files outside import/ and has no APOC loaders registered."""
    from neo4j.exceptions import ClientError

    import musicgraph.cypher.guard as guard

    store = guard_store
    monkeypatch.setattr(guard, "check_user_cypher", lambda cypher: None)
    with pytest.raises(ClientError, match="Cannot load from URL"):
        store.query("LOAD CSV FROM 'file:///../conf/neo4j.conf' AS r RETURN r LIMIT 1")
    with pytest.raises(ClientError, match="no procedure with the name `apoc.load.json`"):
        store.query("CALL apoc.load.json('file:///x.json') YIELD value RETURN value")
    with pytest.raises(ClientError):
        store.query("RETURN apoc.cypher.runFirstColumnSingle('RETURN 1') AS x")
    assert store.query("RETURN apoc.version() AS v")[0]["v"].startswith("5.")


@pytest.mark.neo4j
def test_limit_is_streamed_not_fetched_whole(guard_store) -> None:
    # 10^8 rows would not come back within the 20 s transaction timeout; 3 rows do
    rows = guard_store.query("UNWIND range(1, 100000000) AS x RETURN x", timeout=20, limit=3)
    assert rows == [{"x": 1}, {"x": 2}, {"x": 3}]


@pytest.mark.neo4j
def test_cli_cypher_run_refuses_admin_and_limits(guard_store, tmp_path) -> None:
    from musicgraph.cli import app

    runner = CliRunner()
    term = tmp_path / "kill.cypher"
    term.write_text("// Kill a transaction (must be refused)\nTERMINATE TRANSACTIONS 'neo4j-transaction-1';\n")
    res = runner.invoke(app, ["cypher", "run", str(term)])
    assert res.exit_code == 2 and "TERMINATE" in res.output
    big = tmp_path / "many.cypher"
    big.write_text("// Many rows\nUNWIND range(1, 100000000) AS x RETURN x;\n")
    res = runner.invoke(app, ["cypher", "run", str(big), "--limit", "2", "--timeout", "20"])
    assert res.exit_code == 0, res.output
    assert "x=1" in res.output and "x=2" in res.output and "x=3" not in res.output
    assert "more rows not fetched" in res.output
    res = runner.invoke(app, ["cypher", "run", str(tmp_path / "missing.cypher")])
    assert res.exit_code == 2 and "no Cypher file at" in res.output
