"""Filtered search (allow-lists) must not starve: k allowed results whenever k allowed exist."""
import numpy as np
import pytest

from ml_core.index import AllowList, IndexPolicy, VectorIndex
from ml_core.index.synthetic import clustered

N, DIM = 8000, 64


@pytest.fixture(scope="module")
def data():
    xb, xq = clustered(N, 4, dim=DIM, n_clusters=200, seed=3)
    return np.arange(N, dtype=np.int64) * 2 + 1, xb, xq


@pytest.fixture(scope="module", params=["flat", "ivf"])
def index(request, data):
    ids, xb, _ = data
    threshold = 10**9 if request.param == "flat" else 1000
    built = VectorIndex.build(ids, xb, model_id="m",
                              policy=IndexPolicy(flat_threshold=threshold, tune_queries=64))
    assert built.plan.kind == request.param
    return built


def exact_allowed(ids, xb, q, allowed, k):
    mask = np.isin(ids, allowed)
    scores = xb[mask] @ q
    return ids[mask][np.argsort(-scores)[:k]]


def test_small_allow_list_far_from_the_query_still_fills_k(index, data):
    ids, xb, xq = data
    for q in xq:
        ranked = ids[np.argsort(-(xb @ q))]
        allowed = np.random.default_rng(0).choice(ranked[1000:], 40, replace=False)
        hits = index.search(q, k=20, allow_ids=allowed)
        assert len(hits.ids) == 20  # the nearest thousand are all forbidden
        assert np.isin(hits.ids, allowed).all()
        np.testing.assert_array_equal(hits.ids, exact_allowed(ids, xb, q, allowed, 20))


def test_allow_list_smaller_than_k_returns_all_of_it(index, data):
    ids, _, xq = data
    allowed = ids[[5, 500, 5000]]
    hits = index.search(xq[0], k=20, allow_ids=set(allowed.tolist()) | {10**9})
    assert sorted(hits.ids.tolist()) == sorted(allowed.tolist())


def test_large_allow_list_uses_overfetch_and_stays_correct(index, data):
    ids, xb, xq = data
    allowed = ids[np.random.default_rng(1).random(N) < 0.8]
    index.nprobe = index.plan.nlist  # exact probing so the comparison is exact too
    try:
        for q in xq:
            hits = index.search(q, k=20, allow_ids=allowed)
            np.testing.assert_array_equal(hits.ids, exact_allowed(ids, xb, q, allowed, 20))
    finally:
        index.nprobe = 1 if index.plan.kind == "ivf" else 0


def test_empty_allow_list_returns_nothing(index, data):
    assert len(index.search(data[2][0], k=5, allow_ids=[]).ids) == 0


def test_batch_search_with_allow_list(index, data):
    ids, _, xq = data
    allowed = ids[::97]
    batch = index.search_batch(xq, k=10, allow_ids=allowed)
    assert batch.ids.shape == (len(xq), 10) and np.isin(batch.ids, allowed).all()


def test_prepared_allow_list_is_reusable(index, data):
    ids, xb, xq = data
    allowed = AllowList(np.concatenate([ids[::50], ids[::50]]))  # duplicates are fine
    assert len(allowed) == len(ids[::50])
    for q in xq:  # 2% allowed: IVF probes ~50x more lists, near-exact but not guaranteed
        hits = index.search(q, k=10, allow_ids=allowed)
        assert len(hits.ids) == 10 and np.isin(hits.ids, allowed.ids).all()
        assert len(np.intersect1d(hits.ids, exact_allowed(ids, xb, q, ids[::50], 10))) >= 9


def test_allow_list_membership():
    allowed = AllowList([9, 3, 5])
    np.testing.assert_array_equal(allowed.contains(np.array([[3, 4], [9, 10]])), [[True, False], [True, False]])
    assert not AllowList([]).contains(np.array([1])).any()
