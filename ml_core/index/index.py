"""VectorIndex: the faiss index behind photo search, keyed by int64 photo ids.

Vectors are L2-normalised on the way in so inner product is cosine similarity. The index
type follows the collection size and memory budget (:mod:`.factory`); IVF indexes are tuned
at build time to a recall target (:mod:`.tuning`) and report :attr:`needs_retrain` once the
collection has outgrown what they were trained on. Searches run concurrently; add/remove take
a write lock (:mod:`.rwlock`). Files are atomic and self-checking (:mod:`.store`).
"""
from __future__ import annotations

import logging
import time
from typing import NamedTuple

import faiss
import numpy as np

from . import runtime, store
from .factory import IndexPlan, IndexPolicy, choose_plan
from .filtering import AllowList, search_filtered
from .rwlock import RWLock
from .tuning import tune_nprobe
from .vectors import as_id_set, as_ids, as_vectors

log = logging.getLogger(__name__)
_ADD_CHUNK = 65536


class Hits(NamedTuple):
    """Search results, best first: ``ids`` (int64) and ``scores`` (cosine, float32)."""

    ids: np.ndarray
    scores: np.ndarray


class VectorIndex:
    """A searchable set of (photo id, embedding) pairs for one embedding model."""

    def __init__(self, index, *, model_id: str, plan: IndexPlan, trained_count: int = 0,
                 tuned_recall: float | None = None, policy: IndexPolicy | None = None) -> None:
        self._index = index
        self.model_id = model_id
        self.plan = plan
        self.trained_count = trained_count
        self.tuned_recall = tuned_recall
        self.policy = policy or IndexPolicy()
        self.search_threads = self.policy.search_threads
        self.meta: dict = {}  # caller's own facts saved in the header (e.g. the rows it covers)
        self.build_seconds: dict[str, float] = {}  # per phase, set by build()
        self._lock = RWLock()
        self._gpu = self._make_gpu_replica()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def build(cls, ids, vectors, *, model_id: str, dim: int | None = None,
              policy: IndexPolicy | None = None, plan: IndexPlan | None = None,
              tune: bool = True) -> "VectorIndex":
        """Choose (or take ``plan``), train, fill and tune an index for all of ``vectors``.

        ``tune=False`` leaves nprobe at 1 for a caller that tunes with re-ranking itself
        (:mod:`.build`).
        """
        policy = policy or IndexPolicy()
        dim = dim or np.shape(vectors)[-1]
        vectors = as_vectors(vectors, dim) if len(vectors) else np.empty((0, dim), np.float32)
        ids = as_ids(ids, len(vectors))
        plan = plan or choose_plan(len(vectors), dim, policy)
        clock = _Phases()
        with runtime.threads(policy.build_thread_count):
            index = faiss.index_factory(dim, plan.factory, faiss.METRIC_INNER_PRODUCT)
            if plan.needs_training:
                _train(index, vectors, plan, policy)
            clock.mark("train")
            for start in range(0, len(vectors), _ADD_CHUNK):
                stop = start + _ADD_CHUNK
                index.add_with_ids(vectors[start:stop], ids[start:stop])
            clock.mark("add")
            recall = None
            if plan.kind == "ivf" and tune:
                tuned = tune_nprobe(index, ids, vectors, target=policy.recall_target,
                                    n_queries=policy.tune_queries)
                recall = tuned.recall
                if not tuned.met:
                    log.warning("index %s reaches recall %.3f < target %.2f even probing all lists",
                                plan.factory, tuned.recall, policy.recall_target)
            clock.mark("tune")
        log.info("built %s over %d vectors: %s", plan.factory, len(vectors), clock)
        built = cls(index, model_id=model_id, plan=plan, trained_count=len(vectors),
                    tuned_recall=recall, policy=policy)
        built.build_seconds = clock.seconds
        return built

    @classmethod
    def empty(cls, dim: int, *, model_id: str, policy: IndexPolicy | None = None) -> "VectorIndex":
        """An exact, growable index (a snapshot's delta; small collections): no training, no build."""
        plan = IndexPlan("IDMap2,Flat", "flat")
        return cls(faiss.index_factory(dim, plan.factory, faiss.METRIC_INNER_PRODUCT), model_id=model_id,
                   plan=plan, policy=policy)

    @classmethod
    def load(cls, path, *, model_id: str | None = None, dim: int | None = None,
             expected_count: int | None = None, policy: IndexPolicy | None = None) -> "VectorIndex":
        """Load a saved index; raises IndexMissing / IndexCorrupt / IndexStale (rebuild then)."""
        index, header = store.load(path, model_id=model_id, dim=dim, count=expected_count)
        plan = IndexPlan(header["factory"], header["kind"], header.get("nlist", 0),
                         header.get("estimated_bytes", 0))
        if plan.kind == "ivf":
            faiss.extract_index_ivf(index).nprobe = int(header["nprobe"])
        loaded = cls(index, model_id=header["model_id"], plan=plan,
                     trained_count=header.get("trained_count", 0),
                     tuned_recall=header.get("tuned_recall"), policy=policy)
        loaded.meta = dict(header.get("meta") or {})
        return loaded

    def save(self, path) -> int:
        """Write atomically to ``path`` (see :mod:`.store`); returns the file size."""
        with self._lock.read():
            return store.save(path, self._index, self._header())

    def write_faiss(self, path) -> None:
        """The bare faiss file (no Atelier header): what a snapshot maps read-only (:mod:`.snapshot`)."""
        with self._lock.read():
            faiss.write_index(self._index, str(path))

    def _header(self) -> dict:
        return {
            "model_id": self.model_id, "dim": self.dim, "count": int(self._index.ntotal),
            "factory": self.plan.factory, "kind": self.plan.kind, "nlist": self.plan.nlist,
            "estimated_bytes": self.plan.estimated_bytes, "nprobe": self.nprobe,
            "trained_count": self.trained_count, "tuned_recall": self.tuned_recall,
            "faiss_version": faiss.__version__, "metric": "inner_product", "meta": self.meta,
        }

    # -- properties ---------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def factory(self) -> str:
        return self.plan.factory

    @property
    def nprobe(self) -> int:
        """Inverted lists visited per query (0 for Flat); tuned at build time, saved with the file."""
        return int(faiss.extract_index_ivf(self._index).nprobe) if self.plan.kind == "ivf" else 0

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        """Trade recall for speed by hand (benchmarks, operators); ignored for Flat."""
        if self.plan.kind != "ivf":
            return
        with self._lock.write():
            faiss.extract_index_ivf(self._index).nprobe = max(1, min(int(value), self.plan.nlist))
            self._gpu = self._make_gpu_replica()

    @property
    def needs_retrain(self) -> bool:
        """True when a rebuild would choose another index or the IVF lists no longer fit the size.

        IVF centroids describe the data they were trained on; once the collection is
        ``retrain_factor`` times larger (or smaller) lists are unbalanced and recall or latency
        drifts. A Flat index that crossed the threshold should become IVF for latency.
        """
        n = len(self)
        if choose_plan(n, self.dim, self.policy).kind != self.plan.kind:
            return True
        if self.plan.kind != "ivf" or not self.trained_count:
            return False
        factor = self.policy.retrain_factor
        return n > factor * self.trained_count or n * factor < self.trained_count

    def stats(self) -> dict:
        """A summary for admin pages, logs and ``manage.py index_status``."""
        return {**self._header(), "needs_retrain": self.needs_retrain, "gpu": self._gpu is not None}

    info = stats  # older name

    def ids(self) -> np.ndarray:
        """Every id held, sorted (int64)."""
        with self._lock.read():
            return np.sort(stored_ids(self._index))

    # -- writes -------------------------------------------------------------------------
    def add(self, ids, vectors) -> None:
        """Insert vectors under ``ids``; an id already present is replaced (re-embedded photo)."""
        vectors = as_vectors(vectors, self.dim)
        ids = as_ids(ids, len(vectors))
        if not len(ids):
            return
        with self._lock.write():
            self._index.remove_ids(faiss.IDSelectorBatch(ids))
            self._index.add_with_ids(vectors, ids)
            self._gpu = self._make_gpu_replica()

    def remove(self, ids) -> int:
        """Remove ``ids`` (missing ones are ignored); returns how many were removed."""
        ids = as_id_set(ids)
        if not len(ids):
            return 0
        with self._lock.write():
            removed = int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))
            self._gpu = self._make_gpu_replica()
        return removed

    # -- reads --------------------------------------------------------------------------
    def search(self, query, k: int = 10, *, allow_ids=None) -> Hits:
        """Top-``k`` hits for one query vector; with ``allow_ids`` only those ids are returned.

        ``allow_ids`` is any array/set of ids or a prepared :class:`AllowList` (reuse one for
        many queries). Returns ``k`` hits unless fewer eligible vectors exist.
        """
        ids, scores = self.search_batch(query, k, allow_ids=allow_ids)
        keep = ids[0] >= 0
        return Hits(ids[0][keep], scores[0][keep])

    def search_batch(self, queries, k: int = 10, *, allow_ids=None) -> Hits:
        """Top-``k`` hits per row of ``queries`` as 2-D arrays padded with id -1, score -inf."""
        queries = as_vectors(queries, self.dim, name="queries")
        if k <= 0:
            raise ValueError("k must be positive")
        allowed = None if allow_ids is None else AllowList.of(allow_ids)
        with self._lock.read():
            runtime.apply_threads(self.search_threads)
            n = len(self)
            if n == 0 or (allowed is not None and not len(allowed)):
                scores, ids = _empty(len(queries), k)
            elif allowed is None:
                scores, ids = (self._gpu or self._index).search(queries, min(k, n))
            else:  # selectors run on the CPU master: GPU indexes do not support them
                scores, ids = search_filtered(self._index, queries, min(k, n), allowed,
                                              ntotal=n, nlist=self.plan.nlist, nprobe=self.nprobe)
        return Hits(*_pad(ids, scores, k))

    def range_search(self, queries, min_score: float) -> list[np.ndarray]:
        """Per query row, the ids whose cosine is at least ``min_score`` (exact for Flat)."""
        queries = as_vectors(queries, self.dim, name="queries")
        with self._lock.read():
            runtime.apply_threads(self.search_threads)
            if not len(self):
                return [np.zeros(0, np.int64) for _ in queries]
            lims, _, ids = self._index.range_search(queries, float(min_score))
        return [ids[lims[i]:lims[i + 1]].astype(np.int64) for i in range(len(queries))]

    def _make_gpu_replica(self):
        use = self.policy.use_gpu
        if use is False or (use is None and not runtime.gpu_available()):
            return None
        return runtime.to_gpu(self._index)


def stored_ids(index) -> np.ndarray:
    """The ids inside a faiss IDMap or IVF index (unsorted)."""
    if hasattr(index, "id_map"):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    invlists = faiss.extract_index_ivf(index).invlists
    parts = [faiss.rev_swig_ptr(invlists.get_ids(lst), invlists.list_size(lst)).copy()
             for lst in range(invlists.nlist) if invlists.list_size(lst)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _train(index, vectors: np.ndarray, plan: IndexPlan, policy: IndexPolicy) -> None:
    """k-means on a random sample: ``train_per_list`` points per list is plenty."""
    size = min(len(vectors), plan.nlist * policy.train_per_list)
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), size=size, replace=False))
    ivf = faiss.extract_index_ivf(index)
    ivf.cp.niter = 10  # faiss's default, pinned: 25 rounds cost 2.5x for no measurable recall
    index.train(vectors[rows])


class _Phases:
    """Seconds spent per build phase, for logs and the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._last, 3)
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())


def _empty(nq: int, k: int):
    return np.full((nq, k), -np.inf, np.float32), np.full((nq, k), -1, np.int64)


def _pad(ids: np.ndarray, scores: np.ndarray, k: int):
    if ids.shape[1] == k:
        return ids, scores
    out_s, out_i = _empty(len(ids), k)
    out_i[:, : ids.shape[1]] = ids
    out_s[:, : ids.shape[1]] = scores
    return out_i, out_s
