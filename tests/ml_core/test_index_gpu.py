"""Search on a GPU faiss build (`make setup GPU=1`): the GPU replica answers plain queries, filtered
ones stay exact. Runs wherever faiss sees a GPU; skips elsewhere."""
import numpy as np
import pytest

from ml_core.index import IndexPolicy, VectorIndex, gpu_available
from ml_core.index.synthetic import clustered

pytestmark = pytest.mark.skipif(not gpu_available(), reason="needs a GPU build of faiss and a CUDA GPU")


def test_filtered_and_plain_search_on_the_gpu_replica():
    xb, xq = clustered(5000, 4, dim=64, n_clusters=50, seed=1)
    ids = np.arange(5000, dtype=np.int64) * 3
    index = VectorIndex.build(ids, xb, model_id="m", policy=IndexPolicy(use_gpu=True))
    assert index.info()["gpu"] is True
    for q in xq:
        exact = ids[np.argsort(-(xb @ q))[:10]]
        assert len(set(index.search(q, k=10).ids) & set(exact)) >= 9
        allowed = ids[::7]
        hits = index.search(q, k=10, allow_ids=allowed)
        ranked = allowed[np.argsort(-(xb[::7] @ q))[:10]]
        assert np.isin(hits.ids, allowed).all() and len(set(hits.ids) & set(ranked)) >= 9
