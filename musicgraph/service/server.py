"""``musicgraph serve``: run the application with uvicorn (one or several worker processes).

It binds to ``127.0.0.1`` unless told otherwise, and refuses any other interface while no API key
is configured (``MUSICGRAPH_SERVE_API_KEYS``): beyond loopback, every request then needs a key.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from musicgraph.config import Settings, get_settings, reset_settings
from musicgraph.errors import MusicgraphError
from musicgraph.service.security import is_loopback

log = logging.getLogger(__name__)


class ServeError(MusicgraphError):
    """The server cannot start as asked (the message says why and what to set)."""


def check_bind(settings: Settings, host: str) -> None:
    """Refuse a non-loopback ``host`` without an API key.

    Raises:
        ServeError: naming the host and the setting to add.
    """
    if not is_loopback(host) and not settings.api_keys():
        raise ServeError(f"refusing to listen on {host}: beyond loopback the server needs an API key; set "
                         "MUSICGRAPH_SERVE_API_KEYS (comma-separated keys) or bind to 127.0.0.1")


def serve(settings: Settings | None = None, *, host: str | None = None, port: int | None = None,
          workers: int | None = None, log_level: str = "info") -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM).

    Args:
        host, port, workers: override ``serve_host``, ``serve_port``, ``serve_workers``.
        log_level: uvicorn's log level.

    Raises:
        ServeError: a non-loopback host without an API key.
    """
    import uvicorn

    settings = settings or get_settings()
    host = host or settings.serve_host
    port = port or settings.serve_port
    workers = workers or settings.serve_workers
    check_bind(settings, host)
    # worker processes read their settings from the environment
    os.environ["MUSICGRAPH_SERVE_HOST"] = host
    os.environ["MUSICGRAPH_SERVE_PORT"] = str(port)
    os.environ["MUSICGRAPH_SERVE_WORKERS"] = str(workers)
    reset_settings()
    prom_dir: Path | None = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        settings.service_dir.mkdir(parents=True, exist_ok=True)
        prom_dir = Path(tempfile.mkdtemp(prefix="prometheus-", dir=settings.service_dir))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom_dir)
    log.info("musicgraph serve: http://%s:%d/ (%d worker%s, store %s)", host, port, workers,
             "s" if workers > 1 else "", settings.neo4j_uri and "neo4j" or settings.store_dir)
    try:
        uvicorn.run("musicgraph.service.app:create_app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level, server_header=False, proxy_headers=False,
                    timeout_graceful_shutdown=10, timeout_worker_healthcheck=settings.serve_worker_timeout)
    finally:
        if prom_dir is not None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(prom_dir, ignore_errors=True)
