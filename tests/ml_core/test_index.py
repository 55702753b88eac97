"""VectorIndex correctness against numpy brute force: build, add, remove, search, validation."""
import numpy as np
import pytest

from ml_core.index import IndexPolicy, VectorIndex

DIM = 32


def unit(rng, n, dim=DIM):
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(ids, vectors, query, k):
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[order], scores[order]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return np.arange(1000, dtype=np.int64) * 7 + 3, unit(rng, 1000), unit(rng, 5)


def test_flat_search_matches_brute_force(data):
    ids, xb, xq = data
    index = VectorIndex.build(ids, xb, model_id="m")
    assert index.factory == "IDMap2,Flat" and len(index) == 1000 and index.dim == DIM
    for q in xq:
        hits = index.search(q, k=10)
        want_ids, want_scores = brute(ids, xb, q, 10)
        np.testing.assert_array_equal(hits.ids, want_ids)
        np.testing.assert_allclose(hits.scores, want_scores, rtol=1e-5, atol=1e-6)


def test_vectors_are_normalised_so_scores_are_cosine(data):
    ids, xb, xq = data
    index = VectorIndex.build(ids, xb * 5.0, model_id="m")
    hits = index.search(xq[0] * 0.1, k=3)
    np.testing.assert_allclose(hits.scores, brute(ids, xb, xq[0], 3)[1], rtol=1e-5)
    assert hits.scores.max() <= 1.0 + 1e-6


def test_callers_arrays_are_not_modified(data):
    ids, xb, _ = data
    raw = xb * 3.0
    VectorIndex.build(ids, raw, model_id="m")
    np.testing.assert_allclose(np.linalg.norm(raw, axis=1), 3.0, rtol=1e-5)


def test_add_inserts_and_replaces(data):
    ids, xb, xq = data
    index = VectorIndex.build(ids[:500], xb[:500], model_id="m")
    index.add(ids[500:], xb[500:])
    assert len(index) == 1000
    np.testing.assert_array_equal(index.search(xq[0], 10).ids, brute(ids, xb, xq[0], 10)[0])
    index.add([ids[0]], xq[1])  # re-embedded photo: same id, new vector
    assert len(index) == 1000
    assert index.search(xq[1], 1).ids[0] == ids[0]


def test_remove_drops_ids(data):
    ids, xb, xq = data
    index = VectorIndex.build(ids, xb, model_id="m")
    top = index.search(xq[0], 10).ids
    assert index.remove(np.concatenate([top[:5], [10**12]])) == 5  # unknown ids are ignored
    assert len(index) == 995
    keep = ~np.isin(ids, top[:5])
    np.testing.assert_array_equal(index.search(xq[0], 10).ids, brute(ids[keep], xb[keep], xq[0], 10)[0])
    assert index.remove([]) == 0


def test_ivf_add_remove_and_exact_probe_match_brute_force():
    rng = np.random.default_rng(1)
    ids, xb, xq = np.arange(6000, dtype=np.int64) + 100, unit(rng, 6000), unit(rng, 3)
    index = VectorIndex.build(ids[:5000], xb[:5000], model_id="m",
                              policy=IndexPolicy(flat_threshold=1000, tune_queries=64))
    assert index.plan.kind == "ivf" and index.nprobe >= 1
    index.add(ids[5000:], xb[5000:])
    index.remove(ids[:100])
    index.nprobe = index.plan.nlist  # probing every list is exact
    for q in xq:
        np.testing.assert_array_equal(index.search(q, 10).ids, brute(ids[100:], xb[100:], q, 10)[0])


def test_empty_index_and_k_larger_than_count():
    index = VectorIndex.build([], np.empty((0, DIM), np.float32), model_id="m")
    q = unit(np.random.default_rng(2), 1)[0]
    assert len(index.search(q, 5).ids) == 0
    index.add([1, 2], unit(np.random.default_rng(3), 2))
    hits = index.search(q, 5)
    assert sorted(hits.ids.tolist()) == [1, 2]
    batch = index.search_batch(np.stack([q, q]), 5)
    assert batch.ids.shape == (2, 5) and (batch.ids[:, 2:] == -1).all()


@pytest.mark.parametrize("bad, message", [
    (np.ones((1, DIM + 1)), "dimension"),
    (np.full((1, DIM), np.nan), "NaN"),
    (np.zeros((1, DIM)), "zeros"),
    (np.ones((1, 2, DIM)), "1-D or 2-D"),
])
def test_bad_vectors_raise_value_error(data, bad, message):
    ids, xb, _ = data
    index = VectorIndex.build(ids, xb, model_id="m")
    with pytest.raises(ValueError, match=message):
        index.search(bad, 3)
    with pytest.raises(ValueError, match=message):
        index.add([5], bad)


@pytest.mark.parametrize("bad_ids, message", [
    ([1, 1], "unique"), ([-1, 2], "non-negative"), ([1], "got 1 ids"), ([1.5, 2.5], "integers"),
])
def test_bad_ids_raise_value_error(bad_ids, message):
    with pytest.raises(ValueError, match=message):
        VectorIndex.build(bad_ids, unit(np.random.default_rng(4), 2), model_id="m")


def test_k_must_be_positive(data):
    ids, xb, xq = data
    with pytest.raises(ValueError, match="k must be positive"):
        VectorIndex.build(ids, xb, model_id="m").search(xq[0], 0)


def test_gpu_requested_without_gpu_falls_back_to_cpu(data, monkeypatch):
    from ml_core.index import runtime

    ids, xb, xq = data
    monkeypatch.setattr(runtime, "gpu_available", lambda: False)
    index = VectorIndex.build(ids, xb, model_id="m", policy=IndexPolicy(use_gpu=True))
    assert index.info()["gpu"] is False
    np.testing.assert_array_equal(index.search(xq[0], 5).ids, brute(ids, xb, xq[0], 5)[0])


def test_info_summarises_the_index(data):
    ids, xb, _ = data
    info = VectorIndex.build(ids, xb, model_id="m").info()
    assert info["count"] == 1000 and info["model_id"] == "m" and info["needs_retrain"] is False


def test_large_finite_vectors_are_accepted_and_empty_adds_are_noops(data):
    ids, xb, xq = data
    index = VectorIndex.build(ids, xb, model_id="m")
    hits = index.search(xq[0] * np.float32(1e30), 3)
    np.testing.assert_array_equal(hits.ids, brute(ids, xb, xq[0], 3)[0])
    index.add(np.empty(0, np.int64), np.empty((0, DIM), np.float32))
    assert len(index) == 1000
