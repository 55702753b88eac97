"""The approximate index reaches the recall target on clustered CLIP-like data."""
import numpy as np

from ml_core.index import IndexPolicy, VectorIndex
from ml_core.index.synthetic import clustered


def test_ivf_recall_at_10_on_clustered_data():
    xb, xq = clustered(60_000, 200, dim=512, seed=7)
    ids = np.arange(len(xb), dtype=np.int64)
    index = VectorIndex.build(ids, xb, model_id="m", policy=IndexPolicy(flat_threshold=10_000))
    assert index.plan.kind == "ivf" and index.tuned_recall >= 0.95
    truth = np.argsort(-(xq @ xb.T), axis=1)[:, :10]
    found = index.search_batch(xq, 10).ids
    recall = np.mean([len(np.intersect1d(f, t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.95, f"recall@10 {recall:.3f} with {index.factory} nprobe={index.nprobe}"
