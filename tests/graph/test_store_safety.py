"""Embedded store under contention (issue 15): a failed BEGIN must not leak the writer lock, readers do not
queue behind one connection, and nested transactions are atomic."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from musicgraph.graph import EmbeddedStore
from musicgraph.graph.store import StoreError


@pytest.fixture
def store(tmp_path):
    s = EmbeddedStore(tmp_path / "s", busy_timeout=0.2)
    yield s
    s.close()


def _run_in_thread(fn, timeout: float) -> tuple[bool, list[BaseException]]:
    """Run ``fn`` in a daemon thread; (finished within ``timeout``, exceptions raised)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)

    t = threading.Thread(target=target, daemon=True)  # daemon: a hung thread must not hang pytest
    t.start()
    t.join(timeout)
    return not t.is_alive(), errors


def test_failed_begin_releases_the_writer_lock(store, tmp_path):
    # another process (here: another connection) holds SQLite's write lock
    other = sqlite3.connect(tmp_path / "s" / "graph.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError, match="locked"):
        store.set_meta("k", "v")
    other.execute("ROLLBACK")
    other.close()
    # the lock of the failed transaction is released: another thread can write, and read
    done, errors = _run_in_thread(lambda: store.set_meta("k", "w"), timeout=10)
    assert done, "a thread blocked forever on the lock the failed transaction kept"
    assert not errors
    assert store.get_meta("k") == "w"


def test_readers_are_not_serialized_behind_a_writer(store):
    store.upsert_nodes("Artist", [("a", {"name": "A"})])
    entered, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with store.transaction():
            store.upsert_nodes("Artist", [("b", {"name": "B"})])
            entered.set()
            release.wait(10)

    writer = threading.Thread(target=long_write, daemon=True)
    writer.start()
    assert entered.wait(10)
    try:
        # another thread reads while the write transaction is open: committed data, at once
        got: dict[str, object] = {}
        done, errors = _run_in_thread(lambda: got.update(a=store.get_node("Artist", "a"),
                                                         b=store.get_node("Artist", "b"),
                                                         n=store.count_nodes()["Artist"]), timeout=5)
        assert done and not errors, errors
        assert got["a"] is not None and got["b"] is None and got["n"] == 1
    finally:
        release.set()
        writer.join(10)
    assert store.get_node("Artist", "b") is not None


def test_parallel_readers(store):
    store.upsert_nodes("Artist", [(f"a{i}", {"name": f"A{i}"}) for i in range(200)])
    errors: list[BaseException] = []
    results: list[int] = []

    def read() -> None:
        try:
            for _ in range(20):
                results.append(len(list(store.iter_nodes("Artist"))))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert results == [200] * 160


def test_transaction_is_atomic_and_nests(store):
    v0 = store.version()
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.upsert_nodes("Artist", [("a", {"name": "A"})])
            store.set_meta("m", "1")
            raise RuntimeError("boom")
    assert store.get_node("Artist", "a") is None and store.get_meta("m") is None
    assert store.version() == v0
    with store.transaction():
        store.upsert_nodes("Artist", [("a", {"name": "A"})])
        # reads inside the transaction see its own writes
        assert store.get_node("Artist", "a") is not None
        with pytest.raises(ValueError):
            with store.transaction():  # a nested block rolls back alone (savepoint)
                store.upsert_nodes("Artist", [("b", {"name": "B"})])
                raise ValueError("inner")
        assert store.get_node("Artist", "b") is None
    assert store.get_node("Artist", "a") is not None and store.get_node("Artist", "b") is None
    assert int(store.version()) == int(v0) + 1  # one commit, one version


def test_version_seen_by_other_threads_only_after_commit(store):
    v0 = store.version()
    seen: list[str] = []
    with store.transaction():
        store.upsert_nodes("Artist", [("a", {"name": "A"})])
        done, _ = _run_in_thread(lambda: seen.append(store.version()), timeout=5)
        assert done
    assert seen == [v0]
    assert store.version() != v0


def test_close_is_quick_with_reader_threads(store):
    store.upsert_nodes("Artist", [("a", {})])
    done, errors = _run_in_thread(lambda: store.get_node("Artist", "a"), timeout=5)
    assert done and not errors
    t0 = time.monotonic()
    store.close()
    assert time.monotonic() - t0 < 5


def test_close_while_other_threads_read_does_not_crash_them(tmp_path):
    """A service reload thread may still be reading when the store is closed: its statements finish or
    raise StoreError; closing its connection under a running statement crashed the process (SIGSEGV)."""
    s = EmbeddedStore(tmp_path / "s")
    s.upsert_nodes("Artist", [(f"a{i}", {"name": f"Artist {i}", "pad": "x" * 200}) for i in range(3000)])
    started = threading.Barrier(5)
    outcomes: list[str] = []

    def reader() -> None:
        started.wait()
        try:
            for _ in range(200):
                assert sum(1 for _ in s.iter_nodes("Artist")) == 3000
            outcomes.append("finished")
        except StoreError:
            outcomes.append("closed")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.05)
    s.close()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert len(outcomes) == 4 and "closed" in outcomes
    with pytest.raises(StoreError):
        s.get_meta("version")
