"""The web page at ``/`` and its static files (plain ES modules, no build step, nothing fetched from elsewhere)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)


def static_dir() -> Path:
    """The packaged ``static/`` folder."""
    return Path(str(resources.files("musicgraph.service").joinpath("static")))


@router.get("/")
def index() -> FileResponse:
    return FileResponse(static_dir() / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP})


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(static_dir() / "favicon.svg", media_type="image/svg+xml")


#: Everything the page loads comes from this server.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
