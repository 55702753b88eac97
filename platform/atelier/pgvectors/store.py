"""PgVectorStore: the VectorStore interface over PostgreSQL + pgvector (HNSW, iterative scans).

    store = PgVectorStore("clip-b32", dim=512)
    store.add(ids, vectors); store.search(query, 20, allow_ids=visible)

Searches order by cosine distance on the model's partial HNSW index. A permission filter stays
fused with the scan: pgvector 0.8's iterative index scan (``hnsw.iterative_scan = relaxed_order``)
keeps walking the graph until ``k`` rows pass the filter (up to ``hnsw.max_scan_tuples``), so
filtered results are not starved; relaxed order may hand rows back slightly out of distance order,
so the ``k`` rows are sorted here (pgvector's own advice for relaxed scans). ``ef_search`` trades recall for latency (bench/search.py
``--store pgvector`` prints the curve; the default is the smallest value measured to reach
recall@10 0.95 there).

Per query the Python side costs one round trip: the HNSW settings are set once per database
connection (session level, outside any transaction), and an allow-list covering most of the
model's rows (a user who sees most of the library) is applied to an over-fetched unfiltered
result here instead of being sent to the server as an id array on every query.
"""
from __future__ import annotations

import hashlib
import math
import time
import weakref

import numpy as np
import psycopg
from django.db import connection
from psycopg import sql
from pgvector import HalfVector
from pgvector.psycopg import register_vector

from atelier.pgvectors.models import PhotoVector
from ml_core.index import AllowList, Hits
from ml_core.index.filtering import OVERFETCH_FACTOR, OVERFETCH_MIN_FRACTION
from ml_core.index.vectors import as_id_set, as_ids, as_vectors

EF_SEARCH = 100
# HNSW build: pgvector's default m; ef_construction doubled from its default 64, which at 1M clustered
# 512-d vectors caps recall@10 near 0.93 whatever ef_search (bench/search.py --store pgvector).
HNSW_BUILD = {"m": 16, "ef_construction": 128}
# relaxed_order: at 1M with a 10 % filter it measured recall@10 0.965 at p50 4.75 ms against strict_order's
# 0.959 at 5.38 ms (bench/search.py --store pgvector); its k rows are re-sorted in search().
ITERATIVE_SCAN = "relaxed_order"
COUNT_TTL_S = 30.0
_configured: "weakref.WeakKeyDictionary[object, int]" = weakref.WeakKeyDictionary()  # raw connection -> ef_search set


class PgVectorStore:
    """Vectors of one model in the `pgvectors_photovector` table."""

    def __init__(self, model_id: str, dim: int, *, ef_search: int = EF_SEARCH) -> None:
        self.model_id = model_id
        self.dim = dim
        self.ef_search = ef_search
        self._count = (0, -COUNT_TTL_S)

    @property
    def index_name(self) -> str:
        return "pgv_hnsw_" + hashlib.sha1(f"{self.model_id}/{self.dim}".encode()).hexdigest()[:16]

    def ensure_index(self) -> None:
        """The model's partial HNSW index (idempotent; run by migrations/commands, not per search)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {self.index_name} ON {PhotoVector._meta.db_table} "
                f"USING hnsw ((embedding::halfvec({int(self.dim)})) halfvec_cosine_ops) "
                f"WITH (m = {int(HNSW_BUILD['m'])}, ef_construction = {int(HNSW_BUILD['ef_construction'])}) WHERE model_id = %s",
                [self.model_id])

    def _rows(self):
        return PhotoVector.objects.filter(model_id=self.model_id)

    # -- writes ---------------------------------------------------------------------------------
    def add(self, ids, vectors) -> None:
        vectors = as_vectors(vectors, self.dim)
        ids = as_ids(ids, len(vectors))
        rows = [PhotoVector(photo_id=int(i), model_id=self.model_id, embedding=v) for i, v in zip(ids, vectors)]
        PhotoVector.objects.bulk_create(rows, batch_size=1000, update_conflicts=True,
                                        unique_fields=["photo", "model_id"], update_fields=["embedding"])
        self._count = (0, -COUNT_TTL_S)

    def remove(self, ids) -> int:
        ids = as_id_set(ids)
        removed, _ = self._rows().filter(photo_id__in=ids.tolist()).delete()
        self._count = (0, -COUNT_TTL_S)
        return removed

    # -- reads ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        count, at = self._count
        if time.monotonic() - at >= COUNT_TTL_S:
            count = self._rows().count()
            self._count = (count, time.monotonic())
        return count

    def search(self, query, k: int = 10, *, allow_ids=None) -> Hits:
        query = as_vectors(query, self.dim, name="query")[0]
        if k <= 0:
            raise ValueError("k must be positive")
        if allow_ids is None:
            return self._nearest(query, k)
        allowed = AllowList.of(allow_ids)
        if not len(allowed):
            return Hits(np.zeros(0, np.int64), np.zeros(0, np.float32))
        fraction = len(allowed) / max(len(self), 1)
        if fraction >= OVERFETCH_MIN_FRACTION:  # most rows allowed: filter an over-fetched page here
            fetch = math.ceil(k * OVERFETCH_FACTOR / min(fraction, 1.0))
            hits = self._nearest(query, fetch)
            keep = allowed.contains(hits.ids)
            if keep.sum() >= k or len(hits.ids) < fetch:  # enough, or the whole model was returned
                return Hits(hits.ids[keep][:k], hits.scores[keep][:k])
        return self._nearest(query, k, allowed.ids)

    def _nearest(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Hits:
        """The ``k`` nearest rows (among ``allowed``), in one query on the model's HNSW index.

        Sent through Django's own connection as a server-side prepared statement with binary
        parameters (the halfvec and the id array): the ORM's client-side binding would spell out
        the vector (and the ids) as text on every query, several times the search's own cost.
        """
        # The model id and k are literals, not parameters: a prepared statement's generic plan can
        # then prove the partial index's predicate (model_id = ...) and keep using the index.
        statement = sql.SQL("SELECT photo_id, (embedding::halfvec({dim})) <=> %s AS distance FROM {table} "
                            "WHERE model_id = {model}{allowed} ORDER BY distance LIMIT {k}").format(
            dim=sql.Literal(int(self.dim)), table=sql.Identifier(PhotoVector._meta.db_table),
            model=sql.Literal(self.model_id), k=sql.Literal(int(k)),
            allowed=sql.SQL(" AND photo_id = ANY(%s::bigint[])" if allowed is not None else ""))
        params = [HalfVector(query), *([allowed.tolist()] if allowed is not None else [])]
        with self._cursor() as cursor:
            found = cursor.execute(statement, params, prepare=True, binary=True).fetchall()
        found.sort(key=lambda row: row[1])  # relaxed_order scans may return neighbours out of order
        ids = np.array([r[0] for r in found], dtype=np.int64)
        scores = np.array([1.0 - r[1] for r in found], dtype=np.float32)
        return Hits(ids, scores)

    def _cursor(self) -> psycopg.Cursor:
        """A server-side-binding psycopg cursor on Django's connection, HNSW settings applied.

        The settings are set once per connection (session level). A session-level SET made
        inside a transaction is undone if that transaction rolls back, so inside one (an atomic
        block, a test) they are re-applied, transaction-local, before each search.
        """
        connection.ensure_connection()
        raw = connection.connection
        local = connection.in_atomic_block or not connection.get_autocommit()
        if _configured.get(raw) != self.ef_search or local:
            if raw not in _configured:
                register_vector(raw)  # binary halfvec parameters (one catalogue look-up per connection)
            with psycopg.Cursor(raw) as cursor:
                cursor.execute("SELECT set_config('hnsw.ef_search', %s, %s), set_config('hnsw.iterative_scan', %s, %s)",
                               [str(self.ef_search), local, ITERATIVE_SCAN, local])
            _configured[raw] = -1 if local else self.ef_search
        return psycopg.Cursor(raw)

    def ids(self) -> np.ndarray:
        return np.sort(np.fromiter(self._rows().values_list("photo_id", flat=True), dtype=np.int64))

    def stats(self) -> dict:
        return {"store": "pgvector", "model_id": self.model_id, "dim": self.dim, "count": len(self),
                "index": self.index_name, "ef_search": self.ef_search, "plan": f"HNSW halfvec({self.dim}) cosine"}
