"""Choosing the faiss index type from the collection size and a memory budget.

Follows the faiss wiki's "Guidelines to choose an index" and autofaiss, adjusted by
measurements on 2 CPU cores (see bench/search.py):

* Below ``flat_threshold`` vectors an exact ``Flat`` scan is fast enough (about 1.2 ms for one
  query over 20k x 512 on one core) and needs no training, so small libraries get exact results.
* Above it, an inverted file (``IVF{nlist}``) with ``nlist`` about 4*sqrt(n) (wiki: 4..16 sqrt(n))
  rounded to a power of two; from 2**14 lists the coarse quantizer becomes an HNSW graph so
  assigning a query to lists stays cheap. The codes are picked by the memory budget:
  ``Flat`` (exact distances inside the probed lists) if it fits, else ``SQ8`` (4x smaller,
  nearly lossless on unit vectors), else ``PQ`` with as many bytes per vector as fit.

HNSW as the main index was measured and rejected: at 200k clustered vectors it took 5x longer
to build than IVF-Flat, its recall plateaued near 0.96 however large efSearch, it cannot
remove vectors (photos get deleted), and restrictive id filters make its graph walk starve.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

GiB = 1 << 30


@dataclass(frozen=True)
class IndexPolicy:
    """Knobs of the index choice and of faiss's threads.

    ml_core reads no environment: the platform builds this from its settings
    (``atelier.search.index_service.index_policy``), scripts pass their own values.
    """

    flat_threshold: int = 20_000
    memory_budget_bytes: int = 4 * GiB
    recall_target: float = 0.95  # recall@10 against exact search, checked at build time
    retrain_factor: float = 2.0  # rebuild once the collection outgrows its training size by this
    train_per_list: int = 50  # k-means points per IVF list (faiss warns below 39)
    tune_queries: int = 256  # sample size for nprobe tuning against exact search
    use_gpu: bool | None = None  # None: use a GPU when faiss has one
    search_threads: int = 1  # OpenMP threads per search: concurrent requests already use the cores
    build_threads: int = 0  # OpenMP threads for training and bulk adds; 0: every core
    refine_factors: tuple[int, ...] = (4, 16, 64)  # candidates per result re-ranked exactly, tried in turn

    def with_budget_mb(self, megabytes: int) -> "IndexPolicy":
        return replace(self, memory_budget_bytes=int(megabytes) << 20)

    @property
    def build_thread_count(self) -> int:
        return max(1, self.build_threads or os.cpu_count() or 1)


@dataclass(frozen=True)
class IndexPlan:
    """What to build: a faiss factory string plus what the wrapper needs to know about it."""

    factory: str
    kind: str  # "flat" | "ivf"
    nlist: int = 0
    estimated_bytes: int = 0
    refine: int = 0  # re-rank this many candidates per result with the exact vectors; 0: exact codes

    @property
    def needs_training(self) -> bool:
        return self.kind == "ivf"

    @property
    def codes(self) -> str:
        return self.factory.rsplit(",", 1)[-1]

    @property
    def lossy(self) -> bool:
        """Compressed codes (SQ/PQ): their distances are approximate and need re-ranking."""
        return self.codes not in ("Flat",)

    def describe(self) -> str:
        return f"{self.factory} re-ranking x{self.refine}" if self.refine else self.factory


def nlist_for(n: int) -> int:
    """About 4*sqrt(n) lists as a power of two, between 64 and 65536."""
    target = 4.0 * math.sqrt(max(n, 1))
    return int(min(65536, max(64, 2 ** round(math.log2(target)))))


def bytes_per_vector(codes: str, dim: int) -> int:
    """Memory per stored vector: code bytes plus the 8-byte id kept in each inverted list."""
    if codes == "Flat":
        return 4 * dim + 8
    if codes == "SQ8":
        return dim + 8
    if codes.startswith("PQ"):
        return int(codes[2:].split("x")[0]) + 8
    raise ValueError(f"unknown codes {codes!r}")


def _quantizer(nlist: int) -> str:
    return f"IVF{nlist}_HNSW32" if nlist >= 16384 else f"IVF{nlist}"


def _ivf_bytes(n: int, dim: int, nlist: int, codes: str) -> int:
    quantizer = nlist * 4 * dim * (2 if nlist >= 16384 else 1)
    return int(n * bytes_per_vector(codes, dim) * 1.05 + quantizer)  # 5%: list slack


def _pq_codes(dim: int) -> list[str]:
    """PQ sizes from large to small; m must divide dim."""
    return [f"PQ{m}" for m in (dim // 2, dim // 4, dim // 8, dim // 16, 16, 8) if m and dim % m == 0]


def choose_plan(n: int, dim: int, policy: IndexPolicy = IndexPolicy()) -> IndexPlan:
    """Pick the index for ``n`` vectors of ``dim`` floats under ``policy`` (see module doc)."""
    if n < policy.flat_threshold:
        return IndexPlan("IDMap2,Flat", "flat", 0, int(n * (4 * dim + 48)))
    nlist = min(nlist_for(n), max(1, n // 39))
    for codes in ["Flat", "SQ8", *_pq_codes(dim)]:
        size = _ivf_bytes(n, dim, nlist, codes)
        if size <= policy.memory_budget_bytes:
            return IndexPlan(f"{_quantizer(nlist)},{codes}", "ivf", nlist, size)
    raise ValueError(
        f"{n} vectors of dimension {dim} do not fit a {policy.memory_budget_bytes >> 20} MiB "
        "index budget even with the smallest PQ codes; raise ATELIER_INDEX_MEMORY_MB"
    )


def candidate_plans(n: int, dim: int, policy: IndexPolicy = IndexPolicy()) -> list[IndexPlan]:
    """The chosen plan and its larger variants, in the order a build tries them.

    Exact codes (Flat, IVF-Flat) need no re-ranking. Compressed codes are never served raw: each
    variant re-ranks ``refine`` candidates per result with the stored fp16 vectors (kept on
    disk beside the snapshot, read through the page cache), and a larger factor is tried when a
    smaller one misses the recall target.
    """
    plan = choose_plan(n, dim, policy)
    if plan.kind == "flat" or not plan.lossy:
        return [plan]
    return [replace(plan, refine=f) for f in policy.refine_factors]


def sample_plan(plan: IndexPlan, n: int) -> IndexPlan:
    """``plan``'s codes at a sample size ``n`` (lists scaled down so each keeps its share of rows).

    Lets a machine measure the recall of the plan chosen for 100M vectors on a sample it holds.
    """
    if plan.kind != "ivf":
        return plan
    nlist = min(nlist_for(n), max(1, n // 39))
    return replace(plan, factory=f"{_quantizer(nlist)},{plan.codes}", nlist=nlist)
