"""The torch/FAISS thread-count limit of single queries does not race (issue 15): while any caller is inside,
every caller runs with the lowered count, and the count before the first caller is restored after the last."""

from __future__ import annotations

import threading
import time

import numpy as np

from musicgraph.retrieval.dense import DenseIndex
from musicgraph.retrieval.threads import FAISS_THREADS, ThreadLimit


class GlobalSetting:
    """A process-global setting (as MKL's or torch's default for new threads), slow to change."""

    def __init__(self, value: int):
        self.value = value

    def get(self) -> int:
        return self.value

    def set(self, n: int) -> None:
        time.sleep(0.001)  # widen the window a racy save/restore would fall into
        self.value = n


def test_overlapping_callers_never_see_a_restore_and_the_value_comes_back():
    setting = GlobalSetting(4)
    limit = ThreadLimit(setting.get, setting.set)
    wrong: list[int] = []
    start = threading.Barrier(8)

    def caller(i: int) -> None:
        start.wait()
        time.sleep(0.002 * i)  # staggered: callers leave while others are still inside
        with limit.limit(1):
            for _ in range(10):
                time.sleep(0.002)
                if setting.get() != 1:
                    wrong.append(setting.get())

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert wrong == []
    assert setting.get() == 4


def test_zero_leaves_the_setting_alone():
    setting = GlobalSetting(3)
    with ThreadLimit(setting.get, setting.set).limit(0):
        assert setting.get() == 3


def test_parallel_faiss_single_queries_restore_the_thread_count():
    import faiss

    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(200, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = DenseIndex(kind="flat").build(vecs)
    before = faiss.omp_get_max_threads()
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def search() -> None:
        try:
            for i in range(50):
                _, rows = index.search(vecs[i : i + 1], 3)
                results.append((i, int(rows[0][0])))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 400
    assert all(i == nearest for i, nearest in results)  # each unit vector's nearest neighbour is itself
    assert faiss.omp_get_max_threads() == before
    assert FAISS_THREADS._inside == 0
