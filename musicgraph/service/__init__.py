"""musicgraph as a service: a REST API, an OpenAI-compatible chat endpoint and a web page.

``musicgraph serve`` runs it (FastAPI + uvicorn). Modules:

* :mod:`~musicgraph.service.app` — the application (:func:`create_app`);
* :mod:`~musicgraph.service.engine` — one worker's store, loaded indexes, reloads and catalog writes;
* :mod:`~musicgraph.service.library` — the one place HTTP bodies become library calls;
* :mod:`~musicgraph.service.views` — results as JSON with explanation graphs and radars;
* :mod:`~musicgraph.service.routes` — endpoints per area; :mod:`~musicgraph.service.schemas` — their models;
* :mod:`~musicgraph.service.security`, :mod:`~musicgraph.service.metrics`, :mod:`~musicgraph.service.sessions`;
* :mod:`~musicgraph.service.server` — ``musicgraph serve`` (uvicorn, workers, bind checks);
* ``static/`` — the web page (plain ES modules).

FastAPI, uvicorn and prometheus-client come with the ``service`` extra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Engine", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from musicgraph.service.app import create_app

        return create_app
    if name == "Engine":
        from musicgraph.service.engine import Engine

        return Engine
    raise AttributeError(f"module 'musicgraph.service' has no attribute {name!r}")
