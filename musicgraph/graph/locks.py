"""Cross-process locks and atomic file writes for the store and the indexes derived from it.

Two ``musicgraph`` commands that write the same store (``catalog add``, ``ingest``, ``check --repair``,
``index build``...) run one after the other: each holds the store's **write lock**
(:func:`store_write_lock`, a lock file beside the embedded store, or under ``MUSICGRAPH_HOME/locks`` for a
Neo4j database) for the whole operation, store writes and index updates together. A second writer waits
(up to ``MUSICGRAPH_LOCK_TIMEOUT`` seconds, saying so in the log) instead of interleaving its index
update with the first one's. The locks are ``flock`` locks (:mod:`filelock`): the operating system
releases them when a process dies, so a killed writer never leaves a stale lock behind.

An index directory has its own lock (:func:`directory_lock`), held while its files are written and
while a reader loads them, so a reader never sees half of an update. Files are written under unique
temporary names in the same directory and moved into place (:func:`atomic_write_bytes`,
:func:`atomic_save_npy`), so two writers never share a temporary file and a crash leaves either the
old or the new file, never a truncated one.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.graph.store import StoreError

if TYPE_CHECKING:
    from musicgraph.graph.store import GraphStore

log = logging.getLogger(__name__)

#: Name of the lock file of an index directory.
DIRECTORY_LOCK = ".lock"


class LockTimeoutError(StoreError):
    """Another process held a write lock longer than the configured timeout."""


_LOCKS: dict[str, Any] = {}
_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> Any:
    """One :class:`filelock.FileLock` per path in this process (re-entrant within a thread; threads exclude
    each other, as processes do)."""
    from filelock import FileLock

    key = str(path.resolve())
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = FileLock(key, thread_local=True)
        return lock


def _default_timeout() -> float:
    from musicgraph.config import get_settings

    return float(get_settings().lock_timeout)


@contextmanager
def file_lock(path: Path, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock file ``path`` (created if missing) for the block.

    Args:
        path: the lock file.
        what: what the lock protects, for the log and the error (``the store at ...``).
        timeout: seconds to wait for another holder (default ``MUSICGRAPH_LOCK_TIMEOUT``).

    Raises:
        LockTimeoutError: another process kept the lock for ``timeout`` seconds.
    """
    from filelock import Timeout

    path = Path(path)
    timeout = _default_timeout() if timeout is None else timeout
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _file_lock(path)
    t0 = time.monotonic()
    try:
        lock.acquire(timeout=min(0.5, timeout))
    except Timeout:
        log.info("waiting for another musicgraph command to finish with %s (lock %s)", what, path)
        try:
            lock.acquire(timeout=max(0.0, timeout - (time.monotonic() - t0)))
        except Timeout:
            raise LockTimeoutError(
                f"another musicgraph command has been writing to {what} for more than {timeout:g} s "
                f"(lock {path}); wait for it to finish, or raise MUSICGRAPH_LOCK_TIMEOUT") from None
    waited = time.monotonic() - t0
    if waited > 0.5:
        log.info("got the lock on %s after %.1f s", what, waited)
    try:
        yield
    finally:
        lock.release()


def store_lock_path(store: GraphStore) -> Path:
    """The write-lock file of ``store``: ``write.lock`` in an embedded store's directory, else one file per
    Neo4j database under ``MUSICGRAPH_HOME/locks``."""
    path = getattr(store, "path", None)
    if path is not None:
        return Path(path) / "write.lock"
    import hashlib

    from musicgraph.config import get_settings

    ident = f"{store.backend}|{getattr(store, 'uri', '')}|{getattr(store, 'database', '')}"
    return get_settings().home / "locks" / f"{store.backend}-{hashlib.sha1(ident.encode()).hexdigest()[:16]}.lock"


@contextmanager
def store_write_lock(store: GraphStore, timeout: float | None = None) -> Iterator[None]:
    """Hold ``store``'s write lock for the block (see the module docstring)."""
    with file_lock(store_lock_path(store), f"{store!r}", timeout):
        yield


@contextmanager
def directory_lock(directory: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock of an index directory (its files are being written or read as one set).

    A directory this process cannot write to (a read-only copy) is read without a lock.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock_path = directory / DIRECTORY_LOCK
        if not lock_path.exists():
            lock_path.touch()
    except OSError as exc:
        log.debug("no lock for read-only index directory %s: %s", directory, exc)
        yield
        return
    with file_lock(lock_path, f"the index in {directory}", timeout):
        yield


# ---------------------------------------------------------------------------- atomic files
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{12}\.(?:tmp|old)$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(directory: Path) -> list[str]:
    """Delete the temporary files and directories that killed writers left in ``directory`` (their process
    is gone); returns their names. Call with the directory's lock held."""
    import shutil

    removed = []
    for entry in Path(directory).iterdir() if Path(directory).is_dir() else ():
        m = _TEMPORARY.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    if removed:
        log.info("removed %d temporary file(s) of interrupted writers in %s", len(removed), directory)
    return removed


def temporary_name(path: Path) -> Path:
    """A unique temporary file beside ``path`` (same directory, so the final move is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a unique temporary file: readers see the old or the new file."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_directory(directory: Path, write: Any) -> None:
    """Fill a new directory with ``write(path)`` under a unique temporary name, then put it in place of
    ``directory`` (two renames; the old one is removed afterwards)."""
    import shutil

    directory = Path(directory)
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:12]}"
    tmp = directory.with_name(f".{directory.name}.{tag}.tmp")
    old = directory.with_name(f".{directory.name}.{tag}.old")
    tmp.mkdir(parents=True)
    try:
        write(tmp)
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_save_npy(path: Path, array: Any) -> None:
    """``numpy.save`` to ``path`` atomically (the array may be a memory map of ``path`` itself)."""
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(array))
    atomic_write_bytes(path, buf.getvalue())
