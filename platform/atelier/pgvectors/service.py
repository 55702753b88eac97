"""Keeping the pgvector table in step with PhotoEmbedding (the truth), per model.

Each refresh copies the embedding rows above the model's `SyncState.watermark` (in batches, the
state row locked with SKIP LOCKED so concurrent processes do not copy the same rows twice) and
re-copies rows created in the last 30 s below it (late commits). Deleting a photo deletes its
vectors in the same transaction (cascade); deleting an embedding alone is handled by a signal.
``manage.py vector_store --to pgvector`` copies an existing install in one go.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from atelier.embeddings.models import unpack_vectors
from atelier.pgvectors.models import SyncState
from atelier.pgvectors.store import PgVectorStore

BATCH = 5000
LATE_COMMIT_S = 30.0


def sync_rows(model_id: str, store: PgVectorStore, *, limit: int | None = BATCH) -> int:
    """Copy PhotoEmbedding rows above the watermark into the store; returns how many were copied."""
    from atelier.search.index_service import embedding_rows

    with transaction.atomic():
        SyncState.objects.get_or_create(model_id=model_id)
        state = SyncState.objects.select_for_update(skip_locked=True).filter(model_id=model_id).first()
        if state is None:  # another process is copying right now
            return 0
        rows = embedding_rows(model_id).filter(id__gt=state.watermark).order_by("id")
        late = embedding_rows(model_id).filter(id__lte=state.watermark, created_at__gte=timezone.now() - timedelta(seconds=LATE_COMMIT_S))
        copied = 0
        for batch in (late, rows[:limit] if limit else rows):
            got = list(batch.values_list("id", "photo_id", "vector"))
            if got:
                store.add(np.array([r[1] for r in got], dtype=np.int64),
                          unpack_vectors(r[2] for r in got).astype(np.float32))
                copied += len(got)
                state.watermark = max(state.watermark, max(r[0] for r in got))
        state.save(update_fields=["watermark"])
        return copied


class PgVectorService:
    """The pgvector counterpart of IndexService: `get()` the store (synced if due)."""

    def __init__(self, model_id: str, *, refresh_s: float | None = None) -> None:
        from atelier.search.index_service import model_dim

        self.model_id = model_id
        self.refresh_s = settings.ATELIER_SEARCH_REFRESH_S if refresh_s is None else refresh_s
        self.store = PgVectorStore(model_id, model_dim(model_id), ef_search=settings.ATELIER_PGVECTOR_EF_SEARCH)
        self.store.ensure_index()  # IF NOT EXISTS: a catalogue look-up once per process
        self._lock = threading.Lock()
        self._last = -float("inf")

    def get(self) -> PgVectorStore:
        with self._lock:
            if time.monotonic() - self._last >= self.refresh_s:
                self._last = time.monotonic()
                sync_rows(self.model_id, self.store)
        return self.store

    def refresh(self) -> int:
        return sync_rows(self.model_id, self.store)

    def forget_ids(self, ids) -> None:
        """Nothing to do: a deleted photo's vectors left with it."""

    def stats(self) -> dict:
        return self.store.stats()
