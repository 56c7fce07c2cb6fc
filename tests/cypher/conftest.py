"""Fixtures of the Cypher tests: the Neo4j server (the project's own start command) with the sample graph."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from musicgraph.graph.neo4j_store import Neo4jStore


def neo4j_session_store(request: pytest.FixtureRequest) -> Neo4jStore:
    """A cleared Neo4j test database owned by ``request``'s fixture (or test) until its teardown; fails
    loudly when Neo4j cannot run (skip: MUSICGRAPH_SKIP_NEO4J=1) or when another owner still holds it
    (``neo4j_tests`` in tests/conftest.py)."""
    return request.getfixturevalue("neo4j_tests").claim(request)


@pytest.fixture(scope="module")
def sample_store(request: pytest.FixtureRequest) -> Iterator[Neo4jStore]:
    """Neo4j holding the invented sample graph with song embeddings."""
    from musicgraph.cypher.sample import load_sample, sample_embeddings

    store = neo4j_session_store(request)
    load_sample(store)
    store.set_embeddings("Song", sample_embeddings(store.embedding_dim))
    store.set_vectors("Artist", sample_embeddings(16, "Artist"))  # GNN-sized artist vectors (own index size)
    yield store
    store.close()
