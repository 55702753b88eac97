"""Vector stores for CLIP photo search: faiss over int64 photo ids, no Django.

    from ml_core.index import VectorIndex, IndexPolicy, IndexLoadError
    index = VectorIndex.build(ids, vectors, model_id="clip-vit-b32")
    hits = index.search(query, k=20, allow_ids=visible_ids)
    index.save(path)
    try:
        index = VectorIndex.load(path, model_id="clip-vit-b32", expected_count=n)
    except IndexLoadError:  # missing, corrupt or stale: rebuild from the database
        ...

Served indexes are snapshots built by a worker and mapped by every process
(:mod:`.snapshot`, :func:`build_checked`, :class:`LiveIndex`); every store implements
:class:`VectorStore` (:mod:`.base`).
"""
from .base import VectorStore
from .build import Built, RecallNotMet, build_checked
from .errors import IndexCorrupt, IndexLoadError, IndexMissing, IndexStale
from .factory import IndexPlan, IndexPolicy, candidate_plans, choose_plan, sample_plan
from .filtering import AllowList
from .index import Hits, VectorIndex
from .live import LiveIndex
from .runtime import gpu_available
from .snapshot import Manifest, Snapshot

__all__ = [
    "AllowList", "Built", "Hits", "IndexCorrupt", "IndexLoadError", "IndexMissing", "IndexPlan", "IndexPolicy",
    "IndexStale", "LiveIndex", "Manifest", "RecallNotMet", "Snapshot", "VectorIndex", "VectorStore",
    "build_checked", "candidate_plans", "choose_plan", "gpu_available", "sample_plan",
]
