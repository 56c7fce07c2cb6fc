"""ListenBrainz client: a user's public listens (``GET /1/user/<user>/listens``).

Listens are public on ListenBrainz, so no token is needed. Pages hold at most ``count`` listens
(the server's ``MAX_ITEMS_PER_GET`` is 1,000), newest first; the next page is asked for with
``max_ts`` set to the oldest ``listened_at`` seen. Requests go through the shared
:class:`~musicgraph.loaders.http_cache.HttpClient` (rate limit, retries with ``Retry-After``, cache,
offline mode). ListenBrainz announces its limits in ``X-RateLimit-*`` headers; the limiter stays
well under them at two requests per second.

Answer format (one page)::

    {"payload": {"count": 2, "user_id": "alice", "latest_listen_ts": 1700000000,
                 "listens": [{"listened_at": 1700000000, "recording_msid": "...",
                              "track_metadata": {"artist_name": "Portishead", "track_name": "Roads",
                                                 "release_name": "Dummy", "additional_info": {...}}}]}}
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from musicgraph.loaders.http_cache import (
    HttpCache,
    HttpClient,
    MalformedResponseError,
    RetryPolicy,
    service_client,
)
from musicgraph.loaders.ratelimit import Clock

log = logging.getLogger(__name__)

SERVICE = "listenbrainz"
API_ROOT = "https://api.listenbrainz.org/1/"
RATE_PER_SECOND = 2.0
MAX_PER_PAGE = 1000


def parse_listens(data: Any) -> list[dict[str, Any]]:
    """The listens of one ``/listens`` answer, or :class:`MalformedResponseError`."""
    payload = data.get("payload") if isinstance(data, Mapping) else None
    if not isinstance(payload, Mapping) or not isinstance(payload.get("listens"), list):
        raise MalformedResponseError(f"{SERVICE}: /listens answer has no payload.listens list", service=SERVICE)
    return [x for x in payload["listens"] if isinstance(x, Mapping)]


class ListenBrainzClient:
    """ListenBrainz REST client (see the module docstring).

    Args:
        http: a ready :class:`HttpClient` (tests); otherwise one from the settings.
        cache / session / offline / clock / retry: as for the other clients.
    """

    service = SERVICE

    def __init__(
        self,
        http: HttpClient | None = None,
        *,
        cache: HttpCache | None = None,
        session: Any = None,
        offline: bool | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        base_url: str = API_ROOT,
    ) -> None:
        if http is None:
            http = service_client(SERVICE, RATE_PER_SECOND, cache=cache, session=session, clock=clock, retry=retry,
                                  offline=offline)
        self.http = http
        self.base_url = base_url

    def listens_url(self, user: str) -> str:
        if not user.strip():
            raise ValueError("ListenBrainz: empty user name")
        return f"{self.base_url}user/{quote(user.strip(), safe='')}/listens"

    def listens(self, user: str, count: int = MAX_PER_PAGE, max_ts: int | None = None) -> list[dict[str, Any]]:
        """One page of listens, newest first (older than ``max_ts`` when given)."""
        return parse_listens(self.http.get_json(self.listens_url(user), {"count": min(count, MAX_PER_PAGE), "max_ts": max_ts}))

    def iter_listens(self, user: str, max_pages: int = 50, count: int = MAX_PER_PAGE) -> Iterator[dict[str, Any]]:
        """Listens across pages (newest first), at most ``max_pages`` pages."""
        max_ts: int | None = None
        for _ in range(max_pages):
            page = self.listens(user, count=count, max_ts=max_ts)
            if not page:
                return
            yield from page
            stamps = [int(x["listened_at"]) for x in page if isinstance(x.get("listened_at"), int)]
            if not stamps or len(page) < min(count, MAX_PER_PAGE):
                return
            oldest = min(stamps)
            if max_ts is not None and oldest >= max_ts:
                return
            max_ts = oldest
