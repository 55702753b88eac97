"""One `VectorIndex` per model id per process: a cache of the database's embeddings.

The database (PhotoEmbedding rows) is the truth. The index is loaded from
``VAR_DIR/index/<safe model id>.faiss`` at first use, or rebuilt from the database when that
file is missing, stale or corrupt (with a warning, never served wrong), and saved atomically.

Freshness without restarts, in every process: the service remembers a *watermark*, the largest
PhotoEmbedding id it has indexed, and at most every ``ATELIER_SEARCH_REFRESH_S`` seconds adds the
rows above it. Because a transaction may commit a smaller id after a larger one was seen, rows
created in the last ``LATE_COMMIT_S`` seconds are re-checked by id too. Deleted photos are never
served (results are joined to live, visible Photo rows); their vectors are dropped lazily by a
sweep that compares the index size with the database. A collection that outgrew its IVF lists
(`needs_retrain`) is rebuilt in a background thread while the old index keeps serving.
"""
from __future__ import annotations

import json
import logging
import re
import struct
import threading
import time
from datetime import timedelta
from pathlib import Path

import faiss
import numpy as np
from django.conf import settings
from django.db import close_old_connections
from django.db.models import Max
from django.utils import timezone

from atelier.embeddings.models import PhotoEmbedding
from atelier.embeddings.services import stored_vectors
from ml_core.index import IndexLoadError, IndexPolicy, IndexStale, VectorIndex
from ml_core.index import store

log = logging.getLogger(__name__)
LATE_COMMIT_S = 30.0  # a row may commit this long after a larger id was seen...
LATE_ID_SPAN = 5000  # ...and its id is at most this far below the watermark


class _Index(VectorIndex):
    """A VectorIndex whose file header also records the embedding watermark it covers."""

    watermark = 0
    saved_at = 0.0

    def _header(self) -> dict:
        return {**super()._header(), "watermark": int(self.watermark), "saved_at": time.time()}


def index_path(model_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._") or "model"
    return Path(settings.VAR_DIR) / "index" / f"{safe}.faiss"


def read_header(path: Path) -> dict:
    """The JSON header of an index file (cheap: reads only the start)."""
    with open(path, "rb") as f:
        if f.read(len(store.MAGIC)) != store.MAGIC:
            raise IndexStale(f"{path}: not an Atelier index")
        (length,) = struct.unpack("<I", f.read(4))
        return json.loads(f.read(length))


class IndexService:
    """The searchable index of one embedding model, kept fresh from the database. Thread-safe."""

    def __init__(self, model_id: str, *, path: Path | None = None, refresh_s: float | None = None) -> None:
        self.model_id = model_id
        self.path = Path(path) if path else index_path(model_id)
        self.refresh_s = settings.ATELIER_SEARCH_REFRESH_S if refresh_s is None else refresh_s
        self._index: _Index | None = None
        self._lock = threading.RLock()
        self._last_refresh = 0.0
        self._last_sweep = 0.0
        self._recent: dict[int, float] = {}  # embedding id -> created timestamp, for late commits
        self._rebuilding = False
        self._rebuilt = threading.Event()
        self._rebuilt.set()
        self.rebuilds = 0  # full builds from the database (tests and admin pages read it)

    # -- public ------------------------------------------------------------------------------
    def get(self) -> VectorIndex:
        """The index, loaded or built on first use and refreshed from the database if due."""
        with self._lock:
            if self._index is None:
                self._index = self._load_or_build()
                self._last_refresh = time.monotonic()
            elif time.monotonic() - self._last_refresh >= self.refresh_s:
                self.refresh()
            return self._index

    def refresh(self) -> int:
        """Adds rows embedded since the last look; returns how many were added."""
        with self._lock:
            self._last_refresh = time.monotonic()
            if self._index is None:
                self._index = self._load_or_build()
                return len(self._index)
            added = self._add_new(self._index)
            if time.monotonic() - self._last_sweep >= settings.ATELIER_SEARCH_SWEEP_S:
                self._sweep(self._index)
            if self._index.needs_retrain and not self._rebuilding:
                self._rebuild_in_background()
            return added

    def forget_ids(self, ids) -> None:
        """Drops vectors of deleted photos now (the sweep would do it later)."""
        with self._lock:
            if self._index is not None:
                self._index.remove(np.asarray(list(ids), dtype=np.int64))

    def rebuild(self) -> VectorIndex:
        with self._lock:
            self._index = self._build()
            return self._index

    # -- loading and building ----------------------------------------------------------------
    def _load_or_build(self) -> _Index:
        try:
            index = self._load()
        except IndexLoadError as exc:
            if self.path.exists():
                log.warning("search index %s unusable (%s): rebuilding from the database", self.path, exc)
            else:
                log.info("no search index at %s yet: building it from the database", self.path)
            return self._build()
        self._add_new(index, since=index.saved_at - LATE_COMMIT_S)
        return index

    def _load(self) -> _Index:
        index = _Index.load(self.path, model_id=self.model_id)
        header = read_header(self.path)
        index.watermark = int(header.get("watermark", -1))
        index.saved_at = float(header.get("saved_at", 0))
        if index.watermark < 0:
            raise IndexStale(f"{self.path}: no embedding watermark")
        top = self._max_id()
        if index.watermark > top:  # the database was reset or restored from an older backup
            raise IndexStale(f"{self.path}: covers embedding {index.watermark}, database has {top}")
        return index

    def _build(self) -> _Index:
        # Rows committed after this point are above the watermark and get (re-)added by the
        # next refresh; `add` replaces an id, so reading one twice is harmless.
        watermark = self._max_id()
        ids, vectors = stored_vectors(self.model_id)
        dim = vectors.shape[1] if len(ids) else self._dim()
        index = _Index.build(ids, vectors if len(ids) else np.zeros((0, dim), np.float32),
                             model_id=self.model_id, dim=dim, policy=IndexPolicy.from_env())
        index.watermark = watermark
        now = time.time()
        self._recent = {i: now for i in self._rows().filter(id__gt=watermark - LATE_ID_SPAN, id__lte=watermark)
                        .values_list("id", flat=True)}
        self.rebuilds += 1
        self._save(index)
        return index

    def _save(self, index: _Index) -> None:
        try:
            index.save(self.path)
        except OSError as exc:  # a read-only VAR_DIR costs start-up time, not correctness
            log.warning("could not save search index %s: %s", self.path, exc)

    def wait_for_rebuild(self, timeout: float | None = None) -> bool:
        """Blocks until no background rebuild is running (tests, management commands)."""
        return self._rebuilt.wait(timeout)

    def _rebuild_in_background(self) -> None:
        self._rebuilding = True
        self._rebuilt.clear()

        def work():
            try:
                fresh = self._build()
                with self._lock:
                    self._add_new(fresh)
                    self._index = fresh
            except Exception:  # noqa: BLE001
                log.exception("search index rebuild failed; the old index keeps serving")
            finally:
                self._rebuilding = False
                close_old_connections()
                self._rebuilt.set()

        threading.Thread(target=work, name=f"index-rebuild-{self.model_id}", daemon=True).start()

    # -- incremental updates -----------------------------------------------------------------
    def _rows(self):
        return PhotoEmbedding.objects.filter(model_id=self.model_id, vector__isnull=False)

    def _max_id(self) -> int:
        return self._rows().aggregate(m=Max("id"))["m"] or 0

    def _dim(self) -> int:
        row = PhotoEmbedding.objects.filter(model_id=self.model_id).exclude(dim=0).values_list("dim", flat=True).first()
        if row:
            return int(row)
        from ml_core.clip import get_engine

        return int(get_engine(settings.ATELIER_CLIP_MODEL).embed_dim)

    def _add_new(self, index: _Index, *, since: float | None = None) -> int:
        """Adds rows above the watermark, and late commits below it created after `since`."""
        now = time.time()
        since = now - LATE_COMMIT_S if since is None else since
        self._recent = {k: t for k, t in self._recent.items() if t >= now - 2 * LATE_COMMIT_S}
        late = self._rows().filter(id__gt=index.watermark - LATE_ID_SPAN, id__lte=index.watermark,
                                   created_at__gte=_at(since))
        missing = [i for i in late.values_list("id", flat=True) if i not in self._recent]
        new = self._rows().filter(id__gt=index.watermark)
        if missing:
            new = new | self._rows().filter(id__in=missing)
        rows = list(new.values_list("id", "photo_id", "vector", "created_at"))
        if not rows:
            return 0
        ids = np.array([r[1] for r in rows], dtype=np.int64)
        vectors = np.vstack([np.frombuffer(bytes(r[2]), dtype="<f2") for r in rows]).astype(np.float32)
        index.add(ids, vectors)
        index.watermark = max(index.watermark, max(r[0] for r in rows))
        self._recent.update({r[0]: r[3].timestamp() for r in rows})
        return len(rows)

    def _sweep(self, index: _Index) -> None:
        """Removes vectors whose photo (or embedding) is gone, if the counts say there are some."""
        self._last_sweep = time.monotonic()
        if len(index) <= self._rows().count():
            return
        live = np.fromiter(self._rows().values_list("photo_id", flat=True), dtype=np.int64)
        held = indexed_ids(index)
        if held is None:
            self._index = self._build()
            return
        gone = np.setdiff1d(held, live)
        if len(gone):
            index.remove(gone)
            log.info("dropped %d deleted photos from the %s index", len(gone), self.model_id)


def indexed_ids(index: VectorIndex) -> np.ndarray | None:
    """The ids stored in a faiss index (IDMap or IVF), or None for a layout we do not know."""
    raw = index._index  # noqa: SLF001  (ml_core exposes no id listing; read-only use)
    if hasattr(raw, "id_map"):
        return faiss.vector_to_array(raw.id_map).astype(np.int64)
    try:
        invlists = faiss.extract_index_ivf(raw).invlists
    except RuntimeError:
        return None
    parts = []
    for lst in range(invlists.nlist):
        size = invlists.list_size(lst)
        if size:
            parts.append(faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy())
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _at(ts: float):
    return timezone.now() - timedelta(seconds=max(0.0, time.time() - ts))


_services: dict[str, IndexService] = {}
_services_lock = threading.Lock()


def index_service(model_id: str) -> IndexService:
    """The process-wide service for `model_id`."""
    with _services_lock:
        service = _services.get(model_id)
        if service is None:
            service = _services[model_id] = IndexService(model_id)
        return service


def reset_index_services() -> None:
    """Forget every in-memory index (tests; a settings change)."""
    with _services_lock:
        _services.clear()
