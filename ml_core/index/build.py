"""Building an index that is never silently lossy: re-rank compressed codes, measure, or refuse.

    built = build_checked(ids, vectors, model_id="clip", policy=policy)   # raises RecallNotMet
    built.recall        # recall@10 on held-out queries, re-ranking included

The plan comes from :func:`~.factory.candidate_plans`. For each candidate the number of probed
lists is tuned on one sample of the collection's own vectors (each query's exact top-10 from a
brute-force scan, itself excluded) and the recall is then *measured* on a second, disjoint
sample, so the figure published in the manifest is not the one the tuning was fitted to. The
first candidate whose measured recall reaches ``policy.recall_target`` is kept; when none does,
the build raises :class:`RecallNotMet` instead of publishing an index that quietly misses
(the job fails, ``/healthz`` and ``manage.py index_status`` show the reason).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import faiss
import numpy as np

from .exact import ExactVectors
from .factory import IndexPlan, IndexPolicy, candidate_plans
from .index import VectorIndex
from .tuning import raw_search, recall_of, sample_rows, tune_nprobe
from .vectors import as_ids, as_vectors

log = logging.getLogger(__name__)
K = 10


class RecallNotMet(RuntimeError):
    """No plan within the memory budget reaches the recall target: nothing was published."""


@dataclass
class Built:
    index: VectorIndex
    exact: ExactVectors
    plan: IndexPlan
    recall: float  # recall@10 on held-out queries, as served (re-ranking included)
    seconds: float
    tried: list  # [(plan description, recall)] in the order tried


def reranked_search(index, exact: ExactVectors, refine: int):
    """``search(queries, k, nprobe) -> ids``: ``refine * k`` raw candidates re-scored exactly."""
    raw = raw_search(index)

    def search(queries, k, nprobe):
        return exact.rerank(queries, raw(queries, k * refine, nprobe), k)[1]
    return search


def build_checked(ids, vectors, *, model_id: str, policy: IndexPolicy | None = None,
                  plans: list[IndexPlan] | None = None, queries: int | None = None) -> Built:
    """Build, tune and measure ``plans`` (default: the chooser's) in turn; the first that meets
    the recall target wins. Raises RecallNotMet (with every measured figure) when none does."""
    started = time.perf_counter()
    policy = policy or IndexPolicy()
    dim = np.shape(vectors)[-1]
    vectors = as_vectors(vectors, dim) if len(vectors) else np.empty((0, dim), np.float32)
    ids = as_ids(ids, len(vectors))
    plans = plans or candidate_plans(len(vectors), dim, policy)
    exact = ExactVectors.of(ids, vectors)
    index = VectorIndex.build(ids, vectors, model_id=model_id, policy=policy, plan=replace(plans[0], refine=0),
                              tune=False)
    if plans[0].kind == "flat" or len(vectors) <= K + 1:
        return Built(index, exact, plans[0], 1.0, time.perf_counter() - started, [(plans[0].describe(), 1.0)])
    n_queries = min(queries or policy.tune_queries, len(vectors) // 2)  # two disjoint samples
    tune_rows = sample_rows(len(vectors), n_queries, seed=1)
    check_rows = sample_rows(len(vectors), n_queries, seed=2, exclude=tune_rows)
    tried = []
    for plan in plans:
        search = reranked_search(index._index, exact, plan.refine) if plan.refine else None  # noqa: SLF001 (same package)
        with_threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(policy.build_thread_count)
        try:
            tuned = tune_nprobe(index._index, ids, vectors, target=policy.recall_target, search=search,  # noqa: SLF001
                                sample=tune_rows)
            measured = recall_of(search or raw_search(index._index), ids, vectors, check_rows, tuned.nprobe)  # noqa: SLF001
        finally:
            faiss.omp_set_num_threads(with_threads)
        tried.append((plan.describe(), round(measured, 4)))
        log.info("plan %s: nprobe %d, recall@10 %.3f on held-out queries", plan.describe(), tuned.nprobe, measured)
        if measured >= policy.recall_target:
            index.plan, index.tuned_recall = plan, measured
            return Built(index, exact, plan, measured, time.perf_counter() - started, tried)
    raise RecallNotMet(
        f"no index plan for {len(vectors)} vectors reaches recall@10 {policy.recall_target:.2f} within "
        f"{policy.memory_budget_bytes >> 20} MiB (measured: "
        + ", ".join(f"{p} {r:.3f}" for p, r in tried)
        + "); raise ATELIER_INDEX_MEMORY_MB or use ATELIER_VECTOR_STORE=pgvector")
