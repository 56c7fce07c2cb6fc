"""Shared test fixtures.

* ``fixture_data_dir``: invented mini datasets laid out like MUSICGRAPH_DATA_DIR (tests/fixtures/data).
* ``real_data_dir``: the real shared data; integration tests fail (never skip silently) when it is
  missing, unless MUSICGRAPH_SKIP_INTEGRATION=1.
* ``fixture_store``: an embedded store ingested from the fixture data once per session (read-only use).
* ``real_store``: the same for the real shared data.
* ``neo4j_tests``: the session's Neo4j test server; ``neo4j_tests.claim(request)`` hands the cleared test
  database to one owner (fixture or test) at a time (``neo4j_session_store`` in test_store_parity.py and
  tests/cypher/conftest.py wrap it).
* Hypothesis: the ``ci`` profile (selected by ``.ci/run`` via HYPOTHESIS_PROFILE=ci) draws the same
  examples every run, so CI is reproducible; local runs keep drawing new ones.
* MUSICGRAPH_HOME (and the exported-encoder cache) point at a per-session temporary directory so tests
  never touch ~/.musicgraph or ~/.cache.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

FIXTURE_DATA = Path(__file__).resolve().parent / "fixtures" / "data"

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="musicgraph-test-home-"))
os.environ.setdefault("MUSICGRAPH_HOME", str(_SESSION_HOME))
os.environ.setdefault("MUSICGRAPH_ENCODER_CACHE", str(_SESSION_HOME / "encoders"))  # not the user's ~/.cache


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def fixture_data_dir() -> Path:
    return FIXTURE_DATA


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    from musicgraph.config import Settings

    path = Settings().data_dir
    if not (path / "hetrec_lastfm2k").is_dir():
        if os.environ.get("MUSICGRAPH_SKIP_INTEGRATION") == "1":
            pytest.skip("MUSICGRAPH_SKIP_INTEGRATION=1 and no data directory")
        pytest.fail(
            f"real data not found at {path}: set MUSICGRAPH_DATA_DIR (or MUSICGRAPH_SKIP_INTEGRATION=1 "
            "to leave integration tests out)"
        )
    return path


@pytest.fixture(scope="session")
def fixture_store(tmp_path_factory: pytest.TempPathFactory, fixture_data_dir: Path):
    """An embedded store holding the ingested fixture data. Do not write to it."""
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.ingest import ingest

    store = EmbeddedStore(tmp_path_factory.mktemp("fixture-store"))
    ingest(store, fixture_data_dir, progress=False)
    yield store
    store.close()


@pytest.fixture(scope="session")
def real_store(tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path):
    """An embedded store holding the whole real shared data, ingested once per session (read-only use)."""
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.ingest import ingest

    store = EmbeddedStore(tmp_path_factory.mktemp("real-store"))
    ingest(store, real_data_dir, progress=False)
    yield store
    store.close()


# ------------------------------------------------------------------------------------ Neo4j
class Neo4jTestDatabase:
    """The session's Neo4j test database, handed to one owner (a fixture or test) at a time.

    Every Neo4j test clears the database when it takes it (:meth:`claim`), so two owners alive at once
    would wipe each other's data. A claim lasts until the owner's fixture (or test) is torn down; a
    second claim while one is held fails loudly, naming both, instead of silently clearing data another
    test still reads. Module- and function-scoped owners never overlap in pytest's order: module
    fixtures are finalized before the next module's are set up, and a parametrized fixture's previous
    instance before its next.
    """

    def __init__(self, settings: Any, server: Any, started: bool):
        self.settings = settings
        self.server = server
        self.started = started
        self.holder: str | None = None

    def claim(self, request: pytest.FixtureRequest) -> Any:
        """A :class:`~musicgraph.graph.neo4j_store.Neo4jStore` on the cleared database, owned by ``request``'s
        fixture (or test) until it is torn down."""
        from musicgraph.graph.neo4j_store import Neo4jStore
        from musicgraph.graph.store import StoreError

        owner = f"{request.node.nodeid} ({request.fixturename or 'test'}, {request.scope} scope)"
        if self.holder is not None:
            pytest.fail(
                f"the Neo4j test database is still held by {self.holder}; {owner} would clear it under that "
                "test's feet. Give the second user its own fixture scope or run it in another module."
            )
        try:
            store = Neo4jStore.from_settings(self.settings)
            store.claim_for_tests(wipe=os.environ.get("MUSICGRAPH_NEO4J_TEST_WIPE") == "1")
        except StoreError as exc:
            pytest.fail(str(exc))
        self.holder = owner

        def release() -> None:
            if self.holder == owner:
                self.holder = None

        request.addfinalizer(release)
        return store


@pytest.fixture(scope="session")
def neo4j_tests() -> Any:
    """The Neo4j server of the test session: the one answering on the configured Bolt port (e.g. started by
    ``bin/dev test``), else this session's, installed and started with ``musicgraph neo4j start --install``
    and stopped at the end (``MUSICGRAPH_NEO4J_KEEP=1`` keeps it). Fails loudly when Neo4j cannot run;
    ``MUSICGRAPH_SKIP_NEO4J=1`` skips instead."""
    if os.environ.get("MUSICGRAPH_SKIP_NEO4J") == "1":
        pytest.skip("MUSICGRAPH_SKIP_NEO4J=1: Neo4j tests skipped on request")
    from musicgraph.config import Settings
    from musicgraph.graph.neo4j_server import Neo4jServerError, start_for_tests

    settings = Settings()
    server, started = None, False
    if not settings.neo4j_uri:
        try:
            server, started = start_for_tests(settings)
        except Neo4jServerError as exc:
            pytest.fail(f"Neo4j could not be installed/started (set MUSICGRAPH_SKIP_NEO4J=1 to skip): {exc}")
    yield Neo4jTestDatabase(settings, server, started)
    if started and server is not None and os.environ.get("MUSICGRAPH_NEO4J_KEEP") != "1":
        server.stop()

