"""Process-wide thread-count limits (torch's, FAISS's OpenMP) for single queries.

A single short query is latency-bound: one thread avoids the thread-pool overhead that makes
multi-threaded CPU inference several times slower on a busy machine. :data:`TORCH_THREADS` is lowered
by the query encoder (:mod:`musicgraph.retrieval.encoder`), :data:`FAISS_THREADS` by single-query
searches of the dense index (:mod:`musicgraph.retrieval.dense`); both are shared by every thread of
the process, so lowering and restoring them is coordinated by :class:`ThreadLimit`.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any


class ThreadLimit:
    """A library's thread-count setting (torch's, FAISS's OpenMP) lowered while single queries run.

    Depending on the build, the setting is per thread (OpenMP's ``nthreads`` ICV: FAISS), global (MKL), or
    both (torch: the calling thread's OpenMP value and the default of threads created later). A plain
    save/set/restore around each call races where it is global: one caller restores the value while
    another is still inside, and that one runs multi-threaded. Here every caller sets the value in its own
    thread on entry, and only the last caller to leave restores the value saved by the first one to enter,
    so no caller ever sees a restore while it is inside, whatever the semantics. (A thread that leaves
    while others are inside keeps the lowered value in its own thread until its next call.)

    Args:
        get: reads the setting. set: writes it.
    """

    def __init__(self, get: Any, set: Any):
        self._get, self._set = get, set
        self._lock = threading.Lock()
        self._inside = 0
        self._saved: int | None = None

    @contextlib.contextmanager
    def limit(self, threads: int) -> Any:
        """Run the block with the setting at ``threads`` (0: leave it alone)."""
        if not threads:
            yield
            return
        with self._lock:
            if self._inside == 0:
                self._saved = int(self._get())
            self._inside += 1
            if int(self._get()) != threads:
                self._set(threads)
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0 and self._saved is not None:
                    if int(self._get()) != self._saved:
                        self._set(self._saved)
                    self._saved = None


def _torch_get() -> int:
    import torch

    return int(torch.get_num_threads())


def _torch_set(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def _faiss_get() -> int:
    import faiss

    return int(faiss.omp_get_max_threads())


def _faiss_set(n: int) -> None:
    import faiss

    faiss.omp_set_num_threads(n)


#: torch's intra-op thread count, lowered for single-query encoding.
TORCH_THREADS = ThreadLimit(_torch_get, _torch_set)
#: FAISS's OpenMP thread count, lowered for single-query searches.
FAISS_THREADS = ThreadLimit(_faiss_get, _faiss_set)
