"""Vector index for CLIP photo search: faiss over int64 photo ids, no Django.

    from ml_core.index import VectorIndex, IndexPolicy, IndexLoadError
    index = VectorIndex.build(ids, vectors, model_id="clip-vit-b32")
    hits = index.search(query, k=20, allow_ids=visible_ids)
    index.save(path)
    try:
        index = VectorIndex.load(path, model_id="clip-vit-b32", expected_count=n)
    except IndexLoadError:  # missing, corrupt or stale: rebuild from the database
        ...
"""
from .errors import IndexCorrupt, IndexLoadError, IndexMissing, IndexStale
from .factory import IndexPlan, IndexPolicy, choose_plan
from .filtering import AllowList
from .index import Hits, VectorIndex
from .runtime import gpu_available

__all__ = [
    "AllowList", "Hits", "IndexCorrupt", "IndexLoadError", "IndexMissing", "IndexPlan", "IndexPolicy",
    "IndexStale", "VectorIndex", "choose_plan", "gpu_available",
]
