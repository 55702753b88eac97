"""A small LRU cache of text embeddings.

Search boxes send the same few queries again and again ("dog", "beach at sunset"), and zero-shot
tagging re-encodes the same vocabulary prompts; a text forward pass costs tens of milliseconds on
a CPU, a dictionary lookup nothing. Keys include the ``model_id`` so switching models can never
return a vector from the wrong embedding space.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

DEFAULT_MAX_ENTRIES = 4096


class TextEmbeddingCache:
    """Thread-safe LRU mapping (model_id, text) -> read-only float32 vector."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, model_id: str, text: str) -> np.ndarray | None:
        """The cached vector (marked most recently used), or ``None``."""
        key = (model_id, text)
        with self._lock:
            vector = self._items.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, model_id: str, text: str, vector: np.ndarray) -> None:
        """Store a copy of ``vector`` (read-only, so no caller can corrupt the cache)."""
        stored = np.array(vector, dtype=np.float32, copy=True)
        stored.setflags(write=False)
        with self._lock:
            self._items[(model_id, text)] = stored
            self._items.move_to_end((model_id, text))
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


text_cache = TextEmbeddingCache()
"""The process-wide cache every engine uses unless given its own."""
