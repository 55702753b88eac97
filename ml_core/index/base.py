"""The vector-store interface every search engine implements (FAISS snapshots, pgvector).

Callers (search, near-duplicates, benchmarks) use only these operations, never an engine's
internals, so an install can move between engines with ``manage.py vector_store``:

    store.add(ids, vectors)                       # insert or replace
    store.remove(ids) -> int                      # drop; missing ids are ignored
    store.search(query, k, allow_ids=ids) -> Hits # best first, only allowed ids, never starved
    store.ids() -> sorted int64 array             # every id held
    store.stats() -> dict                         # what admin pages and index_status print
    len(store)

Files: :class:`~ml_core.index.index.VectorIndex` has ``save``/``load`` (one self-checking file)
and snapshots are published and mapped by :mod:`ml_core.index.snapshot`; a database-backed store
keeps its vectors in the database and has no files.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class VectorStore(Protocol):
    """What search needs from a store of (photo id, unit vector) pairs of one embedding model."""

    model_id: str

    def __len__(self) -> int: ...

    def add(self, ids, vectors) -> None: ...

    def remove(self, ids) -> int: ...

    def search(self, query, k: int = 10, *, allow_ids=None): ...

    def ids(self) -> np.ndarray: ...

    def stats(self) -> dict: ...
