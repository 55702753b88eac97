"""The search index of one embedding model in this process: a shared snapshot plus a delta.

Workers build index snapshots (``atelier.search.indexing``; the ``build_search_index`` job on the
``gpu`` queue, or ``manage.py reindex``) and publish them under ``VAR_DIR/index/<model>/``. A web
process never builds one: it maps the current snapshot read-only (every process on the machine
shares the pages) and keeps a small in-memory *delta* of the rows embedded after it.

Freshness without restarts: the snapshot's manifest records the highest PhotoEmbedding id it
includes (the *watermark*); at most every ``ATELIER_SEARCH_REFRESH_S`` seconds a search first adds
the rows above it to the delta (rows created in the last ``LATE_COMMIT_S`` seconds are re-checked
by id, because a transaction may commit a smaller id after a larger one was seen), reads the
tombstones of deleted embeddings above its cursor and hides them, and switches to a newer
snapshot if one was published (a reference swap: no pause). When the delta grows past
``ATELIER_INDEX_DELTA_REBUILD`` rows, or the snapshot is missing, corrupt, stale or outgrown, it
asks for a build (a job; at most one queued per model). Without a snapshot a process serves the
delta alone up to ``ATELIER_INDEX_DELTA_MAX`` rows; above that a search answers 503 with the
reason until the first snapshot is published.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from atelier.embeddings.models import PhotoEmbedding, unpack_vectors
from ml_core.index import IndexLoadError, IndexPolicy, LiveIndex, Snapshot, choose_plan
from ml_core.index import snapshot as snapshots

log = logging.getLogger(__name__)
LATE_COMMIT_S = 30.0  # a row may commit this long after a larger id was seen...
LATE_ID_SPAN = 5000  # ...and its id is at most this far below the watermark
BUILD_REQUEST_EVERY_S = 60.0  # a process asks for a build at most this often


class IndexUnavailable(Exception):
    """No snapshot can serve this model yet (the reason says why; the API answers 503)."""


def index_policy() -> IndexPolicy:
    """The index settings, read once here and passed into ml_core."""
    return IndexPolicy(flat_threshold=settings.ATELIER_INDEX_FLAT_THRESHOLD,
                       recall_target=settings.ATELIER_INDEX_RECALL_TARGET,
                       search_threads=settings.ATELIER_FAISS_THREADS,
                       build_threads=settings.ATELIER_FAISS_BUILD_THREADS).with_budget_mb(settings.ATELIER_INDEX_MEMORY_MB)


def index_root(model_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._") or "model"
    return Path(settings.VAR_DIR) / "index" / safe


def embedding_rows(model_id: str):
    return PhotoEmbedding.objects.filter(model_id=model_id, vector__isnull=False)


def newest_embedding_id(model_id: str) -> int:
    return embedding_rows(model_id).aggregate(m=Max("id"))["m"] or 0


def newest_tombstone_id(model_id: str) -> int:
    from atelier.search.models import Tombstone

    return Tombstone.objects.filter(model_id=model_id).aggregate(m=Max("id"))["m"] or 0


def model_dim(model_id: str) -> int:
    row = PhotoEmbedding.objects.filter(model_id=model_id).exclude(dim=0).values_list("dim", flat=True).first()
    if row:
        return int(row)
    from atelier.embeddings.services import configured_embed_dim

    # No vector stored yet: the configured model's config says the size (no model is loaded for it).
    return configured_embed_dim()


class IndexService:
    """The searchable index of one embedding model, kept fresh from the database. Thread-safe."""

    def __init__(self, model_id: str, *, root: Path | None = None, refresh_s: float | None = None) -> None:
        self.model_id = model_id
        self.root = Path(root) if root else index_root(model_id)
        self.refresh_s = settings.ATELIER_SEARCH_REFRESH_S if refresh_s is None else refresh_s
        self._live: LiveIndex | None = None
        self._snapshot_name: str | None = None  # what CURRENT said when we last looked
        self._watermark = 0  # highest embedding id in the snapshot + delta
        self._tomb_cursor = 0  # highest tombstone id applied
        self._recent: dict[int, float] = {}  # embedding id -> created timestamp, for late commits
        self._lock = threading.RLock()
        self._last_refresh = 0.0
        self._build_requested = -BUILD_REQUEST_EVERY_S
        self.switches = 0  # snapshots opened (tests and status pages read it)
        self.unusable: str | None = None  # why the published snapshot could not be used
        self._unavailable: str | None = None  # the 503 reason while nothing can serve

    # -- public ------------------------------------------------------------------------------
    def get(self) -> LiveIndex:
        """The index, refreshed from the database if due. Raises IndexUnavailable (503)."""
        with self._lock:
            due = time.monotonic() - self._last_refresh >= self.refresh_s
            if self._live is None and not due and self._unavailable:
                raise IndexUnavailable(self._unavailable)  # no recount on every request while waiting
            if self._live is None or due:
                self.refresh()
            return self._live

    def refresh(self) -> int:
        """Switches to a newer snapshot, then adds new rows and hides deleted ones; returns rows added."""
        with self._lock:
            self._last_refresh = time.monotonic()
            name = snapshots.current_name(self.root)
            if self._live is None or name != self._snapshot_name:
                return self._switch(name)
            return self._catch_up(self._live)

    def forget_ids(self, ids) -> None:
        """Hides photos found deleted by a search now (their tombstones say so on the next refresh)."""
        with self._lock:
            if self._live is not None:
                self._live.remove(np.asarray(list(ids), dtype=np.int64))

    def stats(self) -> dict:
        with self._lock:
            live = self._live.stats() if self._live is not None else None
            return {"model_id": self.model_id, "root": str(self.root), "watermark": self._watermark,
                    "unusable": self.unusable, "live": live}

    # -- snapshots -----------------------------------------------------------------------------
    def _switch(self, name: str | None) -> int:
        """Opens the published snapshot (or none) and starts a fresh delta beside it."""
        self._snapshot_name = name
        snapshot = self._open(name) if name else None
        facts = snapshot.manifest.facts if snapshot else {}
        watermark, cursor = int(facts.get("watermark", 0)), int(facts.get("tombstone_mark", 0))
        if snapshot is None:
            waiting = embedding_rows(self.model_id).count()
            if waiting > settings.ATELIER_INDEX_DELTA_MAX:
                self._request_build(f"{waiting} photos and no usable index snapshot")
                self._unavailable = self._waiting_reason(waiting)
                raise IndexUnavailable(self._unavailable)
        self._unavailable = None
        live = LiveIndex(snapshot, model_id=self.model_id, dim=snapshot.manifest.dim if snapshot else model_dim(self.model_id),
                         policy=index_policy())
        self._watermark, self._tomb_cursor, self._recent = watermark, cursor, {}
        since = snapshot.manifest.built_at - LATE_COMMIT_S if snapshot else None
        added = self._catch_up(live, since=since)
        self._live = live  # a reference swap: searches running on the old one finish there
        self.switches += snapshot is not None
        return added

    def _open(self, name: str) -> Snapshot | None:
        try:
            snapshot = Snapshot.open(self.root, name, model_id=self.model_id, policy=index_policy())
            top = newest_embedding_id(self.model_id)
            if int(snapshot.manifest.facts.get("watermark", 0)) > top:  # the database was reset or restored
                raise IndexLoadError(f"snapshot covers embedding {snapshot.manifest.facts['watermark']}, "
                                     f"the database has {top}")
        except IndexLoadError as exc:
            self.unusable = str(exc)
            log.warning("search index snapshot %s/%s unusable (%s): serving the delta, asking for a build",
                        self.root, name, exc)
            self._request_build(f"snapshot unusable: {exc}")
            return None
        self.unusable = None
        return snapshot

    def _waiting_reason(self, waiting: int) -> str:
        return (f"the search index of {waiting} photos is being built by a worker; try again in a minute"
                + (f" ({self.unusable})" if self.unusable else ""))

    # -- incremental updates -------------------------------------------------------------------
    def _catch_up(self, live: LiveIndex, *, since: float | None = None) -> int:
        self._apply_tombstones(live)
        added = self._add_new(live, since=since)
        reason = self._build_reason(live)
        if reason:
            self._request_build(reason)
        return added

    def _apply_tombstones(self, live: LiveIndex) -> None:
        from atelier.search.models import Tombstone

        rows = list(Tombstone.objects.filter(model_id=self.model_id, id__gt=self._tomb_cursor)
                    .order_by("id").values_list("id", "photo_id")[:100_000])
        if rows:
            live.remove(np.array([r[1] for r in rows], dtype=np.int64))
            self._tomb_cursor = rows[-1][0]

    def _add_new(self, live: LiveIndex, *, since: float | None = None) -> int:
        """Adds rows above the watermark, and late commits below it created after `since`."""
        rows_of = embedding_rows(self.model_id)
        now = time.time()
        since = now - LATE_COMMIT_S if since is None else since
        self._recent = {k: t for k, t in self._recent.items() if t >= now - 2 * LATE_COMMIT_S}
        late = rows_of.filter(id__gt=self._watermark - LATE_ID_SPAN, id__lte=self._watermark, created_at__gte=_at(since))
        missing = [i for i in late.values_list("id", flat=True) if i not in self._recent]
        if missing and live.snapshot is not None:  # after a switch: only rows the build did not see
            pairs = list(rows_of.filter(id__in=missing).values_list("id", "photo_id"))
            held = live.snapshot.contains(np.array([p for _, p in pairs], dtype=np.int64))
            self._recent.update({i: now for (i, _), h in zip(pairs, held) if h})
            missing = [i for (i, _), h in zip(pairs, held) if not h]
        new = rows_of.filter(id__gt=self._watermark)
        if missing:
            new = new | rows_of.filter(id__in=missing)
        rows = list(new.values_list("id", "photo_id", "vector", "created_at"))
        if not rows:
            return 0
        ids = np.array([r[1] for r in rows], dtype=np.int64)
        vectors = unpack_vectors(r[2] for r in rows).astype(np.float32)
        live.add(ids, vectors)
        self._watermark = max(self._watermark, max(r[0] for r in rows))
        self._recent.update({r[0]: r[3].timestamp() for r in rows})
        return len(rows)

    def _build_reason(self, live: LiveIndex) -> str | None:
        delta, snapshot = len(live.delta), live.snapshot
        threshold = max(settings.ATELIER_INDEX_DELTA_REBUILD, 0.05 * (len(snapshot) if snapshot else 0))
        if delta >= threshold:
            return f"{delta} photos embedded since the index snapshot"
        if live.tombstones >= threshold:  # each hidden id costs every search one more result
            return f"{live.tombstones} photos deleted since the index snapshot"
        if snapshot is not None and len(snapshot):
            total = len(snapshot) + delta
            policy = index_policy()
            ivf_outgrown = snapshot.manifest.kind == "ivf" and total > policy.retrain_factor * len(snapshot)
            if choose_plan(total, live.dim, policy).kind != snapshot.manifest.kind or ivf_outgrown:
                return f"the index outgrew its plan {snapshot.manifest.factory}"
        return None

    def _request_build(self, reason: str) -> None:
        if time.monotonic() - self._build_requested < BUILD_REQUEST_EVERY_S:
            return
        self._build_requested = time.monotonic()
        from atelier.search.indexing import request_index_build

        try:
            request_index_build(model_id=self.model_id, reason=reason)
        except Exception:  # noqa: BLE001 - serving must not fail because a job could not be queued
            log.exception("could not queue a search index build for %s", self.model_id)


def _at(ts: float):
    return timezone.now() - timedelta(seconds=max(0.0, time.time() - ts))


_services: dict[str, IndexService] = {}
_services_lock = threading.Lock()


def index_service(model_id: str):
    """The process-wide service for `model_id` (IndexService, or PgVectorService with ATELIER_VECTOR_STORE=pgvector)."""
    with _services_lock:
        service = _services.get(model_id)
        if service is None:
            service = _services[model_id] = _make_service(model_id)
        return service


def _make_service(model_id: str):
    if settings.ATELIER_VECTOR_STORE == "pgvector":
        from atelier.pgvectors.service import PgVectorService

        return PgVectorService(model_id)
    return IndexService(model_id)


def reset_index_services() -> None:
    """Forget every in-memory index (tests; a settings change)."""
    with _services_lock:
        _services.clear()
