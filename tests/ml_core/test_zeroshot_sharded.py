"""Sharded zero-shot scoring: statistics combine across shards exactly; selection keeps the most
confident `cap` per tag; the same answers as the whole matrix, block by block."""
import numpy as np
import pytest
import torch

from ml_core.zeroshot.sharded import RunningTop, TagStats, select, tag_stats


def unit(rows, dim, seed):
    v = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


VECTORS, TAGS = unit(3000, 32, 0), unit(7, 32, 1)
COS = VECTORS @ TAGS.T


def test_statistics_of_shards_combine_into_the_whole_collections_cutoffs():
    stats = tag_stats(VECTORS[:1000], TAGS, block=300) + tag_stats(VECTORS[1000:], TAGS, block=999)
    assert np.allclose(stats.cutoffs(1.0), COS.mean(0) + COS.std(0), atol=1e-5)
    assert np.allclose(TagStats.from_json(stats.as_json()).total, stats.total)
    assert (TagStats.zeros(3).cutoffs(1.0) == 1.0).all(), "no rows seen: nothing passes"


def test_multi_selection_keeps_the_most_confident_cap_per_tag_above_the_cutoff():
    cut = COS.mean(0) + COS.std(0)
    rows, cols, conf = select(VECTORS, TAGS, mode="multi", cutoffs=cut, cap=40, block=700)
    for j in range(len(TAGS)):
        expected = np.sort(COS[:, j][COS[:, j] >= cut[j]])[::-1][:40]
        assert np.allclose(np.sort(conf[cols == j])[::-1], expected, atol=1e-5)
        assert np.allclose(COS[rows[cols == j], j], conf[cols == j], atol=1e-5)


def test_exclusive_selection_is_the_best_tag_when_probable_enough():
    rows, cols, conf = select(VECTORS, TAGS, mode="exclusive", min_prob=0.5, block=512)
    probs = torch.softmax(torch.from_numpy(COS) * 100, dim=1).numpy()
    expected = np.nonzero(probs.max(1) >= 0.5)[0]
    assert sorted(rows.tolist()) == expected.tolist()
    order = np.argsort(rows)
    assert (cols[order] == probs[expected].argmax(1)).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_scoring_on_the_gpu_agrees_with_the_cpu():
    cut = COS.mean(0) + COS.std(0)
    stats = tag_stats(VECTORS, TAGS, device="cuda")
    assert np.allclose(stats.cutoffs(1.0), tag_stats(VECTORS, TAGS).cutoffs(1.0), atol=2e-3)
    gpu = select(VECTORS, TAGS, mode="multi", cutoffs=cut, cap=40, device="cuda")
    cpu = select(VECTORS, TAGS, mode="multi", cutoffs=cut, cap=40)
    assert len(set(zip(*gpu[:2])) ^ set(zip(*cpu[:2]))) <= 4  # fp16 may swap pairs at the edge


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gram_statistics_and_exclusive_selection_on_the_gpu_agree_with_the_cpu():
    many = unit(40, 32, 5)  # more tags than dimensions: the Gram path
    half = VECTORS.astype(np.float16)  # as stored
    assert np.allclose(tag_stats(half, many, device="cuda").cutoffs(1.0), tag_stats(half, many).cutoffs(1.0), atol=1e-4)
    gpu = select(half, TAGS, mode="exclusive", min_prob=0.5, cap=30, device="cuda")
    cpu = select(half, TAGS, mode="exclusive", min_prob=0.5, cap=30)
    assert len(set(zip(*gpu[:2])) ^ set(zip(*cpu[:2]))) <= 4  # fp16 may swap pairs at the edge
    assert np.bincount(gpu[1], minlength=len(TAGS)).max() <= 30


def test_gram_statistics_equal_the_direct_sums_with_more_tags_than_dimensions():
    many = unit(50, 32, 4)
    cos = VECTORS @ many.T
    stats = tag_stats(VECTORS[:1700], many, block=256) + tag_stats(VECTORS[1700:], many, block=1000)
    assert np.allclose(stats.total, cos.sum(0), atol=1e-3) and np.allclose(stats.squares, (cos ** 2).sum(0), atol=1e-3)
    assert np.allclose(stats.cutoffs(1.0), cos.mean(0) + cos.std(0), atol=1e-5)


def test_running_top_keeps_each_tags_best_cap_whatever_the_order_of_offers():
    rng = np.random.default_rng(3)
    tags, values = rng.integers(0, 6, 5000), rng.random(5000).astype(np.float32)
    tags[:2000] = 0  # one tag far heavier than the others
    top = RunningTop(6, 25)
    for part in np.array_split(rng.permutation(5000), 40):  # merges happen along the way (buffer of 6 × 25)
        top.add(part, tags[part], values[part])
    rows, got_tags, got = top.result()
    for t in range(6):
        expected = np.sort(values[tags == t])[::-1][:25]
        assert np.array_equal(np.sort(got[got_tags == t])[::-1], expected)
        assert np.array_equal(values[rows[got_tags == t]], got[got_tags == t])
    assert np.all(top.floors == np.array([np.sort(values[tags == t])[::-1][24] for t in range(6)], np.float32))
