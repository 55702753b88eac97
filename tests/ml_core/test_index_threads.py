"""Concurrent searches while another thread adds and removes; the readers-writer lock."""
import threading
import time

import numpy as np
import pytest

from ml_core.index import IndexPolicy, VectorIndex
from ml_core.index.rwlock import RWLock


def _unit(n, seed, dim=32):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("threshold", [10**9, 500])  # flat, ivf
def test_searches_during_adds_and_removes(threshold):
    base = np.arange(3000)
    index = VectorIndex.build(base, _unit(3000, 0), model_id="m",
                              policy=IndexPolicy(flat_threshold=threshold, tune_queries=32))
    extra_ids, extra = np.arange(10_000, 12_000), _unit(2000, 1)
    queries, errors, stop = _unit(50, 2), [], threading.Event()
    valid = set(base.tolist()) | set(extra_ids.tolist())

    def reader(seed):
        rng = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                q = queries[rng.integers(len(queries))]
                hits = index.search(q, 10, allow_ids=base[::3] if rng.random() < 0.3 else None)
                assert len(hits.ids) == 10 and set(hits.ids.tolist()) <= valid
                assert np.all(np.diff(hits.scores) <= 1e-6)
        except Exception as exc:  # surfaced in the main thread
            errors.append(exc)

    readers = [threading.Thread(target=reader, args=(s,)) for s in range(4)]
    for t in readers:
        t.start()
    for start in range(0, 2000, 100):
        index.add(extra_ids[start:start + 100], extra[start:start + 100])
        index.remove(extra_ids[start:start + 50])
    stop.set()
    for t in readers:
        t.join()
    assert not errors, errors[0]
    assert len(index) == 3000 + 1000


def test_writer_excludes_readers_and_is_not_starved():
    lock, events = RWLock(), []
    with lock.read():
        writer = threading.Thread(target=lambda: _hold(lock.write(), events, "w"))
        writer.start()
        time.sleep(0.05)
        late_reader = threading.Thread(target=lambda: _hold(lock.read(), events, "r"))
        late_reader.start()
        time.sleep(0.05)
        assert events == []  # writer waits for the running reader, the late reader waits too
    writer.join()
    late_reader.join()
    assert events == ["w", "r"]  # writer preference


def _hold(ctx, events, name):
    with ctx:
        events.append(name)
        time.sleep(0.02)


def test_search_applies_the_thread_count_in_the_calling_thread(monkeypatch):
    import faiss

    index = VectorIndex.build(np.arange(100), _unit(100, 5), model_id="m", policy=IndexPolicy(search_threads=1))
    seen = []

    def worker():  # a fresh thread starts from OpenMP's process default, not the main thread's
        index.search(_unit(1, 6)[0], 5)
        seen.append(faiss.omp_get_max_threads())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [1]
