"""Fixtures of the Cypher tests: the Neo4j server (the project's own start command) with the sample graph."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from musicgraph.graph.neo4j_store import Neo4jStore


def neo4j_session_store(request: pytest.FixtureRequest) -> Neo4jStore:
    """A cleared Neo4j test database; fails loudly when Neo4j cannot run (skip: MUSICGRAPH_SKIP_NEO4J=1)."""
    if os.environ.get("MUSICGRAPH_SKIP_NEO4J") == "1":
        pytest.skip("MUSICGRAPH_SKIP_NEO4J=1: Neo4j tests skipped on request")
    from musicgraph.config import Settings
    from musicgraph.graph.neo4j_server import Neo4jServerError, open_test_store
    from musicgraph.graph.store import StoreError

    try:
        store, server, started = open_test_store(
            Settings(), wipe=os.environ.get("MUSICGRAPH_NEO4J_TEST_WIPE") == "1"
        )
    except Neo4jServerError as exc:
        pytest.fail(f"Neo4j could not be installed/started (set MUSICGRAPH_SKIP_NEO4J=1 to skip): {exc}")
    except StoreError as exc:
        pytest.fail(str(exc))
    if started and server is not None and os.environ.get("MUSICGRAPH_NEO4J_KEEP") != "1":
        # stop it when the session's tests are done (before the per-session MUSICGRAPH_HOME is removed)
        request.session.addfinalizer(server.stop)
    return store


@pytest.fixture(scope="module")
def sample_store(request: pytest.FixtureRequest) -> Iterator[Neo4jStore]:
    """Neo4j holding the invented sample graph with song embeddings."""
    from musicgraph.cypher.sample import load_sample, sample_embeddings

    store = neo4j_session_store(request)
    load_sample(store)
    store.set_embeddings("Song", sample_embeddings(store.embedding_dim))
    yield store
    store.close()
