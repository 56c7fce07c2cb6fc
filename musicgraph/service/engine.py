"""The state of one service worker: the store, the loaded indexes, reloads and catalog writes.

A worker serves from a :class:`Generation`: the retriever and name indexes loaded for one store
version. When the store's version changes (a catalog change through any worker, or the CLI), every
worker notices on its next request (at most every ``serve_reload_interval`` seconds), builds the
next generation in a background thread and swaps it in; requests keep being answered by the
previous generation meanwhile, so a reload never fails or blocks a request.

Workers coordinate through a file lock beside the indexes (``MUSICGRAPH_HOME/service/index.lock``):
a catalog change holds it exclusively while it writes the store and updates the indexes, and a
reload holds it shared while it reads them, so no worker ever loads half-written index files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.config import Settings, get_settings
from musicgraph.service.errors import ApiError

if TYPE_CHECKING:
    from musicgraph.graph.projection import Projection
    from musicgraph.graph.store import GraphStore
    from musicgraph.rag.mentions import NameIndex
    from musicgraph.retrieval.base import Retriever
    from musicgraph.retrieval.hybrid import HybridRetriever

log = logging.getLogger(__name__)

CHANGE_META = "service.change:"


@dataclass(slots=True)
class Generation:
    """What a worker serves from: the retrievers and name indexes of one store version.

    Attributes:
        version: the store version the indexes were loaded for.
        hybrid: the hybrid retriever (None when the retrieval indexes are missing: ``error`` says why).
        graph: the graph retriever (sharing the hybrid's resources when there is one).
        index_version: the store version the retrieval index files were built or updated for.
        grounding: the catalog name index of the RAG grounding (answers cite only catalog songs).
        projection: the graph projection of this version (name look-ups and suggestions).
        loaded_at: when it was swapped in (Unix time).
    """

    version: str
    hybrid: HybridRetriever | None
    graph: Retriever
    index_version: str | None
    grounding: NameIndex
    projection: Projection
    error: str | None = None
    loaded_at: float = field(default_factory=time.time)
    _others: dict[str, Retriever] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def catalog(self) -> Any:
        """The song catalog (in-memory song columns) of the retrievers."""
        return self.graph.resources.catalog  # type: ignore[attr-defined]

    def retriever(self, name: str) -> Retriever:
        """The retriever ``name`` (graph, hybrid, bm25, dense) of this generation.

        Raises:
            IndexMissingError: a text retriever without retrieval indexes.
            RequestError: an unknown name.
        """
        if name == "graph":
            return self.graph
        if name not in ("hybrid", "bm25", "dense"):
            from musicgraph.errors import RequestError

            raise RequestError(f"invalid request: retriever: unknown {name!r}; expected graph, hybrid, bm25 or dense",
                               field="retriever")
        if self.hybrid is None:
            from musicgraph.errors import IndexMissingError

            raise IndexMissingError(self.error or "no retrieval index: run `musicgraph index build`")
        if name == "hybrid":
            return self.hybrid
        with self._lock:
            if name not in self._others:
                if name == "bm25":
                    from musicgraph.retrieval.bm25_retriever import BM25Retriever

                    self._others[name] = BM25Retriever(self.hybrid.resources)
                else:
                    from musicgraph.retrieval.dense_retriever import DenseRetriever

                    self._others[name] = DenseRetriever(self.hybrid.resources, encoder=self.hybrid.encoder)
            return self._others[name]


class PinnedStore:
    """The store, with :meth:`projection` pinned to one generation's: a request answered while the
    next generation loads never rebuilds the projection itself (the reload thread does, once)."""

    def __init__(self, store: GraphStore, projection: Projection):
        self._store = store
        self._projection = projection

    def projection(self) -> Projection:
        return self._projection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def __repr__(self) -> str:
        return repr(self._store)


class IndexLock:
    """A file lock shared by the worker processes (``flock``): exclusive for writers, shared for readers."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def hold(self, exclusive: bool, timeout: float | None = None) -> Iterator[None]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            if timeout is None:
                fcntl.flock(fd, mode)
            else:
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        fcntl.flock(fd, mode | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"{self.path} is held by another writer") from None
                        time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def busy(self) -> bool:
        """Whether a writer holds the lock now."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)


class Engine:
    """One worker's view of musicgraph (see the module docstring).

    Args:
        settings: the settings (default: from the environment).
        store: an open store (default: the configured one; the engine closes only what it opened).
        index_dir: the retrieval indexes (default ``MUSICGRAPH_HOME/indexes/<store name>``).
        encoder: the dense query encoder (default MiniLM, loaded once and reused by every generation).
        vad: the NRC-VAD table (default: read from ``MUSICGRAPH_DATA_DIR``).
        data_dir: where the lexicons are (default: the settings').
        derived_indexes: the indexes a catalog change updates (default: the retrieval bundle and the
            GNN embeddings found in ``index_dir``).
    """

    def __init__(self, settings: Settings | None = None, store: GraphStore | None = None, *,
                 index_dir: Path | None = None, encoder: Any = None, vad: Any = None, data_dir: Path | None = None,
                 derived_indexes: Sequence[Any] | None = None):
        from musicgraph.graph import open_store

        self.settings = settings or get_settings()
        self._owns_store = store is None
        self.store: GraphStore = store if store is not None else open_store(self.settings)
        self.index_dir = Path(index_dir) if index_dir else self.settings.home / "indexes" / self.settings.store_name
        self.encoder = encoder
        self.vad = vad
        self.data_dir = data_dir or self.settings.data_dir
        self._derived = list(derived_indexes) if derived_indexes is not None else None
        self.lock = IndexLock(self.settings.service_dir / f"index-{self.settings.store_name}.lock")
        self._gen: Generation | None = None
        self._gen_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.settings.serve_concurrency)
        self._reload_thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._next_poll = 0.0
        self._start_error: str | None = None
        self.started_at = time.time()
        self.reloads = 0
        self.check: dict[str, Any] = {"ran_at": None, "version": None, "issues": [], "stale": []}
        self._check_thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ generations
    def start(self, background: bool = True) -> None:
        """Load the first generation (warming the retriever when the settings say so), then check."""
        if background:
            threading.Thread(target=self._first_load, name="musicgraph-warm-up", daemon=True).start()
        else:
            self._first_load()

    def _first_load(self) -> None:
        try:
            gen = self._build(None, warm=self.settings.serve_warm_up)
            with self._gen_lock:
                self._gen = gen
            _settle_gc()
        except Exception as exc:  # noqa: BLE001 - readiness reports it; requests get a clear error
            log.exception("the service could not load the store and indexes")
            self._start_error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()
        self._schedule_check(force=True)

    def _build(self, previous: Generation | None, warm: bool = True) -> Generation:
        """Load the next generation: store version, projection, indexes, name index under the shared
        lock (no writer can change them meanwhile), then warm the retrievers up."""
        from musicgraph.rag.mentions import NameIndex
        from musicgraph.retrieval.graph_retriever import GraphRetriever
        from musicgraph.retrieval.hybrid import HybridRetriever
        from musicgraph.retrieval.index import IndexBundle
        from musicgraph.retrieval.resources import GraphResources

        t0 = time.perf_counter()
        hybrid: HybridRetriever | None = None
        error = None
        index_version = None
        old = previous.hybrid if previous is not None else None
        vad = old.emotion.vad if old is not None else self.vad
        with self.lock.hold(exclusive=False):
            version = self.store.version()
            if self.store.is_empty():
                from musicgraph.errors import EmptyStoreError

                raise EmptyStoreError("the graph store is empty: run `musicgraph ingest` (or `bin/dev demo`) first")
            projection = self.store.projection()
            pinned = PinnedStore(self.store, projection)
            try:
                bundle = IndexBundle.load(self.index_dir)
                index_version = str(bundle.manifest.get("store_version"))
            except (FileNotFoundError, ValueError, OSError) as exc:
                bundle = None
                error = (f"no usable retrieval index in {self.index_dir} ({exc}); run `musicgraph index build`. "
                         "Answers come from the graph retriever meanwhile.")
                log.warning("%s", error)
            if bundle is None:  # the song catalog is then read from the store
                resources = GraphResources(pinned, None, vad=vad, data_dir=self.data_dir)
                _ = resources.catalog
            grounding = NameIndex.from_store(self.store)
        # the rest reads only what is loaded (the pinned projection, the bundle): no lock needed
        if bundle is not None:
            hybrid = HybridRetriever(pinned, bundle=bundle, vad=vad, data_dir=self.data_dir,
                                     encoder=(old._encoder if old is not None else None) or self.encoder)
            resources = hybrid.resources
        graph = GraphRetriever(resources=resources)
        if hybrid is not None and warm:
            hybrid.warm_up(dense=True, freeze_gc=False)
            if self.encoder is None:
                self.encoder = hybrid._encoder
        elif warm:
            resources.warm_up()
        log.info("serving store version %s (indexes %s) after %.1f s", version, index_version or "missing",
                 time.perf_counter() - t0)
        return Generation(version=version, hybrid=hybrid, graph=graph, index_version=index_version,
                          grounding=grounding, projection=projection, error=error)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the worker's ``serve_concurrency`` slots for CPU-bound work (searches, answers).

        Python runs one thread at a time; more concurrent searches only interleave (each slower) and
        starve a reload running in the background. Requests beyond the slots wait their turn.
        """
        with self._slots:
            yield

    def generation(self, wait: float = 0.0) -> Generation:
        """The generation to answer a request with (and a background reload when the store changed).

        Raises:
            ApiError: ``starting`` while the first load runs (after ``wait`` seconds), ``store_empty``
                or ``index_missing`` when it failed.
        """
        if not self._ready.wait(wait):
            raise ApiError("starting", "the service is still loading the graph and indexes; retry in a few seconds",
                           headers={"Retry-After": "5"})
        gen = self._gen
        if gen is None:
            self._ready.clear()
            self.start(background=True)  # retry: the store may have been built since
            msg = self._start_error or "the store could not be loaded"
            code = "store_empty" if "empty" in msg else "index_missing"
            raise ApiError(code, msg, headers={"Retry-After": "10"})
        self.maybe_reload()
        return gen

    def maybe_reload(self, force: bool = False) -> bool:
        """Start a background reload when the store's version moved on (checked at most every
        ``serve_reload_interval`` seconds unless ``force``). Returns whether one was started."""
        now = time.monotonic()
        if not force and now < self._next_poll:
            return False
        self._next_poll = now + self.settings.serve_reload_interval
        gen = self._gen
        if gen is None or self._closed:
            return False
        try:
            version = self.store.version()
        except Exception as exc:  # noqa: BLE001 - the store may be briefly unavailable; keep serving
            log.warning("cannot read the store version: %s", exc)
            return False
        if version == gen.version:
            return False
        with self._gen_lock:
            if self._reload_thread is not None and self._reload_thread.is_alive():
                return False
            self._reload_thread = threading.Thread(target=self._reload, name="musicgraph-reload", daemon=True)
            self._reload_thread.start()
        return True

    def _reload(self) -> None:
        prev = self._gen
        try:
            gen = self._build(prev, warm=True)
        except Exception:  # noqa: BLE001 - keep serving the previous generation; the next poll retries
            log.exception("reloading the indexes failed; still serving store version %s", prev and prev.version)
            return
        with self._gen_lock:
            self._gen = gen
            self.reloads += 1
        del prev
        _settle_gc()
        from musicgraph.service import metrics

        metrics.RELOADS.inc()
        log.info("reloaded: now serving store version %s", gen.version)
        self._schedule_check()

    def wait_reloaded(self, timeout: float = 60.0) -> Generation:
        """Block until the served generation matches the store's version (tests, catalog writes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            gen = self._gen
            if gen is not None and gen.version == self.store.version():
                return gen
            self.maybe_reload(force=True)
            time.sleep(0.05)
        raise TimeoutError(f"the indexes were not reloaded within {timeout:g} s")

    # ------------------------------------------------------------------ check / health
    def _schedule_check(self, force: bool = False) -> None:
        interval = self.settings.serve_check_interval
        last = self.check.get("ran_at")
        if not force and (interval <= 0 or (last is not None and time.time() - last < interval)):
            return
        if self._check_thread is not None and self._check_thread.is_alive():
            return
        self._check_thread = threading.Thread(target=self._run_check, name="musicgraph-check", daemon=True)
        self._check_thread.start()

    def _run_check(self) -> None:
        from musicgraph.graph.check import run_check

        try:
            with self.lock.hold(exclusive=False):
                version = self.store.version()
                rep = run_check(self.store, [i for i in self.derived_indexes() if i.exists()])
        except Exception as exc:  # noqa: BLE001 - health reports it
            log.warning("background check failed: %s", exc)
            self.check = {"ran_at": time.time(), "version": None, "issues": [f"check failed: {exc}"], "stale": []}
            return
        stale = sorted({i.component for i in rep.issues if i.kind in ("stale", "outdated", "missing", "orphan",
                                                                      "count", "corrupt")})
        self.check = {"ran_at": time.time(), "version": version, "stale": stale,
                      "issues": [f"{i.component}: {i.message}" for i in rep.issues][:50]}

    def index_states(self) -> list[dict[str, str]]:
        """Each derived index: current, stale, missing, loading or error (cheap: manifest versions)."""
        out = []
        gen = self._gen
        store_version = self.store.version()
        manifest = self.index_dir / "manifest.json"
        if not manifest.is_file():
            out.append({"name": "retrieval", "state": "missing",
                        "detail": f"no index in {self.index_dir}; run `musicgraph index build`"})
        else:
            try:
                on_disk = str(json.loads(manifest.read_text(encoding="utf-8")).get("store_version"))
            except (OSError, ValueError) as exc:
                out.append({"name": "retrieval", "state": "error", "detail": f"unreadable manifest: {exc}"})
            else:
                if on_disk != store_version:
                    state = "loading" if self.lock.busy() else "stale"
                    detail = (f"built for store version {on_disk}, the store is at {store_version}"
                              + ("" if state == "loading" else "; run `musicgraph check --repair`"))
                elif gen is None or gen.version != store_version:
                    state, detail = "loading", "this worker is loading the new version"
                else:
                    state, detail = "current", f"store version {store_version}"
                out.append({"name": "retrieval", "state": state, "detail": detail})
        for name in self.check.get("stale", []):
            if name not in ("retrieval", *(o["name"] for o in out)):
                out.append({"name": name, "state": "stale", "detail": "reported by the last `musicgraph check`"})
        return out

    def health(self) -> dict[str, Any]:
        """The ``/health`` answer.

        Returns:
            ``status`` (``starting``, ``degraded`` when an index is stale, missing or failed, else ``ok``),
            ``live``, ``ready``, the worker's pid, the store (backend, version, start error), the serving
            version, the state of each index, the stale ones, the last check and the uptime in seconds.
        """
        ready = self._ready.is_set() and self._gen is not None
        states = self.index_states() if ready else []
        stale = sorted({s["name"] for s in states if s["state"] in ("stale", "error", "missing")}
                       | set(self.check.get("stale", [])))
        if not self._ready.is_set():
            status = "starting"
        elif not ready or stale:
            status = "degraded"
        else:
            status = "ok"
        gen = self._gen
        return {
            "status": status, "live": True, "ready": ready, "worker": os.getpid(),
            "store": {"backend": self.store.backend, "version": self.store.version() if ready else "",
                      **({"error": self._start_error} if self._start_error and not ready else {})},
            "serving_version": gen.version if gen else None,
            "indexes": states, "stale": stale,
            "check": {k: v for k, v in self.check.items() if k in ("ran_at", "version", "issues")},
            "uptime_s": round(time.time() - self.started_at, 3),
        }

    # ------------------------------------------------------------------ catalog changes
    def derived_indexes(self) -> list[Any]:
        """The indexes a catalog change updates (those present on disk are updated)."""
        if self._derived is not None:
            return self._derived
        from musicgraph.gnn.derived_index import GnnEmbeddings
        from musicgraph.retrieval.incremental import RetrievalIndexes

        out: list[Any] = [RetrievalIndexes(self.index_dir, encoder=self.encoder, vad=self.vad, data_dir=self.data_dir)]
        gnn = GnnEmbeddings(self.index_dir)
        if gnn.exists():
            out.append(gnn)
        return out

    def apply_changes(self, change_id: str, op: str, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Apply catalog change records once per ``change_id``, all or nothing, then update the indexes.

        The same ``change_id`` with the same records answers the first result again (``replayed``)
        and changes nothing; with different records it is a conflict.

        Raises:
            ApiError: ``change_id_conflict``, ``invalid_change`` (nothing was written).
        """
        from musicgraph.graph.catalog import CatalogEditor, CatalogError
        from musicgraph.graph.locks import store_write_lock

        clean = [{k: v for k, v in r.items() if k != "_where"} for r in records]
        digest = hashlib.sha256(json.dumps([op, clean], sort_keys=True, default=str).encode()).hexdigest()
        meta_key = CHANGE_META + change_id
        rows = [{**r, "_where": f"change {change_id} record {i}"} for i, r in enumerate(clean, start=1)]
        with self.lock.hold(exclusive=True, timeout=120.0):
            seen = self.store.get_meta(meta_key)
            if seen is not None:
                prior = json.loads(seen)
                if prior.get("digest") != digest:
                    raise ApiError("change_id_conflict", f"change id {change_id!r} was already used for other changes; "
                                   "choose a new id")
                return {**prior["result"], "replayed": True, "store_version": self.store.version(), "indexes": {},
                        "index_errors": {}}
            try:
                # the store's write lock before its transaction, the order `musicgraph catalog` takes them
                with store_write_lock(self.store), self.store.transaction():
                    cs = CatalogEditor(self.store, [], lock=False).apply_records(op, rows)
                    result = {"change_id": change_id, "op": op, "changes": cs.to_dict()}
                    self.store.set_meta(meta_key, json.dumps({"digest": digest, "result": result,
                                                              "applied_at": time.time()}))
            except (CatalogError, ValueError, KeyError, TypeError) as exc:
                raise ApiError("invalid_change", f"nothing was changed: {exc}") from None
            reports: dict[str, Any] = {}
            errors: dict[str, str] = {}
            for idx in self.derived_indexes():
                if not idx.exists():
                    continue
                try:
                    reports[idx.name] = idx.apply(self.store, cs)
                except Exception as exc:  # noqa: BLE001 - the store change stands; check --repair fixes the index
                    log.exception("updating index %s after change %s failed", idx.name, change_id)
                    errors[idx.name] = f"{type(exc).__name__}: {exc} (run `musicgraph check --repair`)"
            version = self.store.version()
        from musicgraph.service import metrics

        metrics.CATALOG_CHANGES.labels(op=op).inc()
        self.maybe_reload(force=True)
        return {**result, "replayed": False, "store_version": version, "indexes": _json_safe(reports),
                "index_errors": errors}

    def close(self) -> None:
        """Stop serving; closes the store when the engine opened it."""
        self._closed = True
        if self._owns_store:
            self.store.close()


def _settle_gc() -> None:
    """Collect the previous generation's cycles once, then freeze what is loaded now.

    The loaded catalog and indexes are about a million Python objects; left to the cyclic collector,
    each full collection walks them all and stalls a request for most of a second every few hundred
    requests. Frozen objects are skipped (and still freed by reference counting); unfreezing once
    per reload lets the collector free the previous generation's reference cycles.
    """
    import gc

    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
