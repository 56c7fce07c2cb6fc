"""Secrets never reach logs, errors or stores.

The Last.fm API key, the Genius token and the Neo4j password are registered here when a client or store
is created with them (and read from the settings), and :func:`redact` replaces every occurrence — raw or
URL-encoded — by ``***``. Secret-looking URL parameters (``api_key=…``, ``token=…``, ``password=…``), the
password of ``scheme://user:password@host`` URLs and ``Authorization``/``Bearer`` values are replaced
whatever their value. Used by API errors
(:class:`musicgraph.loaders.http_cache.ApiError`), their log lines, the enrichment run records stored in
the graph's meta table, and every line the CLI prints or logs (:mod:`musicgraph.cli.terminal`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
#: Shortest value treated as a secret (shorter ones would mask ordinary words).
MIN_SECRET_LENGTH = 6

_SECRET_NAMES = r"api[_-]?key|access[_-]?token|auth[_-]?token|token|sk|api[_-]?sig|password|passwd|secret|client[_-]?secret"
_PARAM = re.compile(rf"(?i)(\b(?:{_SECRET_NAMES})=)([^&\s'\"<>]+)")
_JSON_FIELD = re.compile(rf"(?i)(['\"](?:{_SECRET_NAMES})['\"]\s*:\s*['\"])([^'\"]+)")
_BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]{4,})")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@'\"]+:)([^@\s'\"]+)(@)")
_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?!bearer\b)([^'\",}\s]+)")

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret to redact from now on (values shorter than 6 characters are ignored)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.update({value, quote(value, safe=""), quote_plus(value)})


def _settings_secrets() -> list[str]:
    try:
        from musicgraph.config import get_settings

        s = get_settings()
    except Exception:  # noqa: BLE001 - settings that do not validate have no secrets to add
        return []
    return [v for v in (s.lastfm_api_key, s.genius_token, s.neo4j_password) if v]


def redact(text: str) -> str:
    """``text`` with every known secret and every secret-looking parameter value replaced by ``***``."""
    if not isinstance(text, str) or not text:
        return text
    for value in _settings_secrets():
        register_secret(value)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    text = _PARAM.sub(lambda m: m.group(1) + MASK, text)
    text = _JSON_FIELD.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    return _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)


def redact_obj(obj: Any) -> Any:
    """A copy of a JSON-like value with every string redacted (keys named like secrets masked whole)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if isinstance(k, str) and re.fullmatch(rf"(?i)(?:{_SECRET_NAMES})", k) and v:
                out[k] = MASK
            else:
                out[k] = redact_obj(v)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj
