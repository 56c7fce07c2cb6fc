"""Fixtures of the service tests.

* ``service_settings``: settings of a test server (its own home for sessions and locks, the fixture
  data's lexicons, an API key ``test-key``, no rate limit, reloads checked on every request).
* ``fixture_index``: retrieval indexes of the session's read-only ``fixture_store`` (hashing encoder).
* ``engine``: an :class:`~musicgraph.service.engine.Engine` over ``fixture_store`` (read-only use).
* ``client``: a TestClient of the app (in process); ``live_server``: the same engine served by a real
  uvicorn on a free loopback port (for the openai client, the browser and schemathesis).
* ``make_home``: a writable home (the fixture data ingested, indexes built) for tests that change the catalog.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

API_KEY = "test-key"


class HashEncoder:
    """The model-free hashing encoder (64 dims) in place of MiniLM."""

    def __new__(cls) -> Any:
        from musicgraph.retrieval.encoder import HashingEncoder

        return HashingEncoder(dim=64)


def settings_for(home: Path, data_dir: Path, **overrides: Any) -> Any:
    from musicgraph.config import Settings

    values: dict[str, Any] = dict(home=home, data_dir=data_dir, serve_api_keys=SecretStr(API_KEY), serve_rate_limit=0.0,
                                  serve_reload_interval=0.0, serve_check_interval=0.0, serve_warm_up=True)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def service_settings(tmp_path_factory: pytest.TempPathFactory, fixture_data_dir: Path) -> Any:
    return settings_for(tmp_path_factory.mktemp("service-home"), fixture_data_dir)


@pytest.fixture(scope="session")
def fixture_index(fixture_store: Any, tmp_path_factory: pytest.TempPathFactory, fixture_data_dir: Path) -> Path:
    from musicgraph.retrieval.index import build_indexes

    out = tmp_path_factory.mktemp("fixture-index")
    build_indexes(fixture_store, out, encoder=HashEncoder(), data_dir=fixture_data_dir, progress=False)
    return out


@pytest.fixture(scope="session")
def engine(service_settings: Any, fixture_store: Any, fixture_index: Path) -> Any:
    from musicgraph.service.engine import Engine

    eng = Engine(service_settings, fixture_store, index_dir=fixture_index, encoder=HashEncoder())
    eng.start(background=False)
    return eng


def make_app(settings: Any, engine: Any, **kw: Any) -> Any:
    from musicgraph.service.app import create_app

    return create_app(settings, engine, warm_in_background=False, **kw)


@pytest.fixture(scope="session")
def client(service_settings: Any, engine: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(make_app(service_settings, engine)) as c:
        yield c


@dataclass
class LiveServer:
    url: str
    server: Any
    thread: threading.Thread


def start_live(app: Any) -> LiveServer:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a thread (returns once it accepts)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


def stop_live(live: LiveServer) -> None:
    live.server.should_exit = True
    live.thread.join(timeout=15)


@pytest.fixture(scope="session")
def live_server(service_settings: Any, engine: Any) -> Iterator[LiveServer]:
    live = start_live(make_app(service_settings, engine))
    yield live
    stop_live(live)


@dataclass
class Home:
    settings: Any
    store: Any
    index_dir: Path


@pytest.fixture
def make_home(tmp_path_factory: pytest.TempPathFactory, fixture_data_dir: Path) -> Iterator[Callable[..., Home]]:
    """``make_home(dense=True, **settings)``: a fresh writable home with the fixture data and its indexes."""
    from musicgraph.graph import EmbeddedStore
    from musicgraph.graph.ingest import ingest
    from musicgraph.retrieval.index import build_indexes

    opened: list[Any] = []

    def make(dense: bool = True, **overrides: Any) -> Home:
        home = tmp_path_factory.mktemp("writable-home")
        settings = settings_for(home, fixture_data_dir, **overrides)
        store = EmbeddedStore(settings.store_dir)
        opened.append(store)
        ingest(store, fixture_data_dir, progress=False)
        index_dir = home / "indexes" / settings.store_name
        build_indexes(store, index_dir, dense=dense, encoder=HashEncoder(), data_dir=fixture_data_dir,
                      progress=False)
        return Home(settings, store, index_dir)

    yield make
    for s in opened:
        s.close()
