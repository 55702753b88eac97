"""LiveIndex: the FAISS vector store a process serves: a mapped snapshot, a delta, tombstones.

* the **snapshot** (:mod:`.snapshot`) is immutable and shared by every process on the machine;
* the **delta** is a small exact in-memory index of the rows added since the snapshot was built
  (it is searched beside the snapshot and merged by score);
* **tombstones** are ids removed since: hidden from the snapshot's results before they are
  returned (an id re-added to the delta is hidden in the snapshot the same way, so the newest
  vector wins).

The next snapshot folds the delta and the tombstones in; the caller then starts a fresh
LiveIndex around it and swaps the reference, so serving never pauses.
"""
from __future__ import annotations

import threading

import numpy as np

from .factory import IndexPolicy
from .index import Hits, VectorIndex, _pad
from .snapshot import Snapshot
from .vectors import as_id_set, as_vectors


class LiveIndex:
    """A :class:`~.base.VectorStore` over an optional snapshot plus a delta. Thread-safe."""

    def __init__(self, snapshot: Snapshot | None, *, model_id: str, dim: int,
                 policy: IndexPolicy | None = None) -> None:
        self.snapshot = snapshot
        self.model_id = model_id
        self.policy = policy or IndexPolicy()
        self.delta = VectorIndex.empty(dim, model_id=model_id, policy=self.policy)
        self._tombstones = np.zeros(0, np.int64)
        self._hidden = np.zeros(0, np.int64)  # tombstones + ids in the delta: never read from the snapshot
        self._size = len(snapshot) if snapshot is not None else 0
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.delta.dim

    def __len__(self) -> int:
        return self._size

    # -- writes -------------------------------------------------------------------------------
    def add(self, ids, vectors) -> None:
        vectors = as_vectors(vectors, self.dim)
        self.delta.add(ids, vectors)
        with self._lock:
            self._tombstones = np.setdiff1d(self._tombstones, as_id_set(ids))
            self._refresh_hidden()

    def remove(self, ids) -> int:
        ids = as_id_set(ids)
        removed = self.delta.remove(ids)
        in_snapshot = ids[_contains(self.snapshot.ids(), ids)] if self.snapshot is not None else ids[:0]
        with self._lock:
            fresh = np.setdiff1d(in_snapshot, self._tombstones)
            self._tombstones = np.union1d(self._tombstones, in_snapshot)
            self._refresh_hidden()
        return removed + len(fresh)

    def _refresh_hidden(self) -> None:
        # only ids the snapshot holds need hiding: each costs one extra result fetched per search
        held = self.snapshot.ids() if self.snapshot is not None else np.zeros(0, np.int64)
        delta = self.delta.ids()
        self._hidden = np.union1d(self._tombstones, delta[_contains(held, delta)])
        self._size = len(held) - len(self._hidden) + len(self.delta)

    # -- reads --------------------------------------------------------------------------------
    def search(self, query, k: int = 10, *, allow_ids=None) -> Hits:
        ids, scores = self.search_batch(query, k, allow_ids=allow_ids)
        keep = ids[0] >= 0
        return Hits(ids[0][keep], scores[0][keep])

    def search_batch(self, queries, k: int = 10, *, allow_ids=None) -> Hits:
        queries = as_vectors(queries, self.dim, name="queries")
        parts = [self.delta.search_batch(queries, k, allow_ids=allow_ids)]
        if self.snapshot is not None and len(self.snapshot):
            parts.append(self.snapshot.search_batch(queries, k, allow_ids=allow_ids, hidden=self._hidden))
        if len(parts) == 1:
            return parts[0]
        ids = np.hstack([p.ids for p in parts])
        scores = np.hstack([p.scores for p in parts])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return Hits(*_pad(np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1), k))

    def ids(self) -> np.ndarray:
        held = self.snapshot.ids() if self.snapshot is not None else np.zeros(0, np.int64)
        return np.union1d(np.setdiff1d(held, self._hidden, assume_unique=True), self.delta.ids())

    @property
    def tombstones(self) -> int:
        return len(self._tombstones)

    def stats(self) -> dict:
        snap = self.snapshot.stats() if self.snapshot is not None else None
        return {"model_id": self.model_id, "dim": self.dim, "snapshot": snap, "delta": len(self.delta),
                "tombstones": len(self._tombstones),
                "plan": snap["factory"] if snap else None, "count": len(self)}


def _contains(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if not len(sorted_ids):
        return np.zeros(len(ids), bool)
    pos = np.searchsorted(sorted_ids, ids)
    pos[pos >= len(sorted_ids)] = 0
    return sorted_ids[pos] == ids
