"""Chat sessions kept on the server, shared by every worker process, expiring when unused.

Each session is a :class:`~musicgraph.rag.chat.ChatState` (the refinements so far and the last
answer) stored in a small SQLite file (``MUSICGRAPH_HOME/service/sessions.sqlite``), so a
conversation continues whichever worker answers the next message. A session ends
``serve_session_ttl`` seconds after its last use; past ``serve_max_sessions`` the least recently
used go first. The file is written and read only by the service itself.
"""

from __future__ import annotations

import contextlib
import pickle
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from musicgraph.service.errors import ApiError

if TYPE_CHECKING:
    from musicgraph.rag.chat import ChatState

_SCHEMA = "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, expires REAL NOT NULL, state BLOB NOT NULL)"


class SessionStore:
    """Expiring chat sessions in SQLite (safe across threads and worker processes).

    Args:
        path: the SQLite file (created with its directory).
        ttl: seconds a session lives after its last use.
        max_sessions: sessions kept at most.
        clock: the time source (tests).
    """

    def __init__(self, path: Path, ttl: float, max_sessions: int, clock: object = time.time):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._clock = clock
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()
        self._session_locks: dict[str, threading.Lock] = {}

    def now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def _purge(self) -> None:
        now = self.now()
        self._db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
        (n,) = self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()
        if n > self.max_sessions:
            self._db.execute("DELETE FROM sessions WHERE id IN (SELECT id FROM sessions ORDER BY expires LIMIT ?)",
                             (n - self.max_sessions,))

    def load(self, sid: str) -> ChatState:
        """The state of session ``sid``.

        Raises:
            ApiError: ``unknown_session`` when it never existed or has expired.
        """
        with self._lock:
            row = self._db.execute("SELECT expires, state FROM sessions WHERE id = ?", (sid,)).fetchone()
        if row is None or row[0] < self.now():
            raise ApiError("unknown_session", f"chat session {sid!r} does not exist or has expired; "
                           "send the message without session_id to start a new one")
        return pickle.loads(row[1])  # noqa: S301 - written by this service only

    def save(self, sid: str, state: ChatState) -> float:
        """Store ``state``; returns when the session expires."""
        expires = self.now() + self.ttl
        blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._db.execute("INSERT INTO sessions(id, expires, state) VALUES(?, ?, ?) ON CONFLICT(id) DO UPDATE "
                             "SET expires = excluded.expires, state = excluded.state", (sid, expires, blob))
            self._purge()
        return expires

    def delete(self, sid: str) -> bool:
        """End session ``sid``; False when there was no live one."""
        with self._lock:
            cur = self._db.execute("DELETE FROM sessions WHERE id = ? AND expires >= ?", (sid, self.now()))
            self._purge()
        return cur.rowcount > 0

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM sessions WHERE expires >= ?", (self.now(),)).fetchone()
        return int(n)

    @contextlib.contextmanager
    def session(self, sid: str | None) -> Iterator[tuple[str, ChatState]]:
        """``with store.session(sid) as (sid, state):`` load (or start) a session, one message at a
        time per session in this process; the caller saves the state it changed."""
        from musicgraph.rag.chat import ChatState

        new = sid is None
        sid = sid or secrets.token_urlsafe(18)
        with self._lock:
            lock = self._session_locks.setdefault(sid, threading.Lock())
        with lock:
            state = ChatState() if new else self.load(sid)
            yield sid, state
        with self._lock:
            if len(self._session_locks) > 4 * self.max_sessions:
                self._session_locks.clear()

    def close(self) -> None:
        with self._lock:
            self._db.close()
