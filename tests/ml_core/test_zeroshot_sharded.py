"""Sharded zero-shot scoring: statistics combine across shards exactly; selection keeps the most
confident `cap` per tag; the same answers as the whole matrix, block by block."""
import numpy as np
import pytest
import torch

from ml_core.zeroshot.sharded import RunningTop, Scorer, TagStats, TopPairs, rank, select, tag_stats


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


def test_top_pairs_merged_in_any_order_hold_each_tags_best_cap_ties_to_the_smaller_row():
    rng = np.random.default_rng(7)
    rows, tags = rng.permutation(4000), rng.integers(0, 5, 4000)
    values = rng.integers(0, 300, 4000).astype(np.float32) / 300  # many ties
    tags[tags == 4] = 3  # tag 4 gets no offer at all
    tags[np.flatnonzero(tags == 2)[12:]] = 1  # tag 2 gets fewer offers than the cap
    parts = np.array_split(np.arange(4000), 9)
    forward, backward = TopPairs.empty(5, 20), TopPairs.empty(5, 20)
    for part in parts:
        forward = forward.merged(rows[part], tags[part], values[part])
    for part in parts[::-1]:
        backward = backward.merged(rows[part], tags[part], values[part])
    assert np.array_equal(forward.rows, backward.rows) and np.array_equal(forward.values, backward.values)
    for t in (0, 1, 3):
        mine = np.flatnonzero(tags == t)
        best = mine[np.lexsort((rows[mine], -values[mine]))][:20]
        assert forward.rows[t].tolist() == rows[best].tolist() and np.array_equal(forward.values[t], values[best])
        assert forward.thresholds[t] == values[best[-1]]
    assert forward.thresholds[2] == -np.inf and (forward.rows[2] >= 0).sum() == 12 and (forward.rows[4] == -1).all()
    got_rows, got_tags, got_values = forward.pairs()
    assert len(got_rows) == 3 * 20 + 12 and np.array_equal(values[np.argsort(rows)][got_rows], got_values)
    again = TopPairs.from_bytes(forward.to_bytes(), 5, 20)
    assert np.array_equal(again.values, forward.values) and np.array_equal(again.rows, forward.rows)


@pytest.mark.parametrize("mode", ["multi", "exclusive"])
def test_ranking_shards_gives_each_tags_cap_th_confidence_over_the_whole_collection(mode):
    cap = 30
    top = rank(VECTORS[:1100], TAGS, mode=mode, cap=cap, block=256)  # two shards, merged
    top = rank(VECTORS[1100:], TAGS, mode=mode, cap=cap, block=500, top=top, first_row=1100)
    if mode == "multi":
        expected = np.sort(COS, axis=0)[::-1][cap - 1]
    else:
        probs = torch.softmax(torch.from_numpy(COS) * 100, dim=1).numpy()
        best, conf = probs.argmax(1), probs.max(1)
        expected = np.array([np.sort(conf[best == j])[::-1][cap - 1] if (best == j).sum() >= cap else -np.inf
                             for j in range(len(TAGS))])
    assert np.allclose(top.thresholds, expected, atol=1e-6)
    rows, cols, values = top.pairs()  # what the second pass writes: the cap best of each tag
    assert (np.bincount(cols, minlength=len(TAGS))[np.isfinite(expected)] == cap).all()
    if mode == "multi":
        assert np.allclose(COS[rows, cols], values, atol=1e-6)
        assert all(set(rows[cols == j]) == set(np.argsort(-COS[:, j])[:cap]) for j in range(len(TAGS)))


def test_a_decided_pair_is_never_offered_and_the_tag_still_gets_its_cap():
    scorer = Scorer(TAGS)
    j = 3
    best_rows = np.argsort(-COS[:500, j])[:5]
    exclude = (best_rows, np.full(5, j))
    rows, cols, _ = scorer.candidates(VECTORS[:500], mode="multi", floor=np.full(len(TAGS), -np.inf, np.float32),
                                      exclude=exclude, seed_cap=10)
    got = set(rows[cols == j].tolist())
    assert not got & set(best_rows.tolist())
    assert got == set(np.argsort(-COS[:500, j])[5:15].tolist())  # the next ten: the seed skipped the decided ones
    assert (np.bincount(cols, minlength=len(TAGS)) == 10).all()
    probs = torch.softmax(torch.from_numpy(COS[:500]) * 100, dim=1).numpy()
    best = probs.argmax(1)
    rows, _, _ = scorer.candidates(VECTORS[:500], mode="exclusive", floor=np.zeros(len(TAGS), np.float32),
                                   exclude=(np.array([0, 1]), best[:2]))
    assert 0 not in rows and 1 not in rows and len(rows) == 498
