"""Shared test fixtures.

* ``fixture_data_dir``: invented mini datasets laid out like MUSICGRAPH_DATA_DIR (tests/fixtures/data).
* ``real_data_dir``: the real shared data; integration tests fail (never skip silently) when it is
  missing, unless MUSICGRAPH_SKIP_INTEGRATION=1.
* ``fixture_store``: an embedded store ingested from the fixture data once per session (read-only use).
* MUSICGRAPH_HOME points at a per-session temporary directory so tests never touch ~/.musicgraph.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

FIXTURE_DATA = Path(__file__).resolve().parent / "fixtures" / "data"

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="musicgraph-test-home-"))
os.environ.setdefault("MUSICGRAPH_HOME", str(_SESSION_HOME))


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
