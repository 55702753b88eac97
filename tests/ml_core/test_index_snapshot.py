"""Snapshots: checked builds (re-ranking, refusal), atomic publish, read-only mapping, LiveIndex."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ml_core.index import (
    IndexCorrupt, IndexPlan, IndexPolicy, LiveIndex, RecallNotMet, Snapshot, VectorStore, build_checked,
    candidate_plans,
)
from ml_core.index import snapshot as snapshots
from ml_core.index.factory import GiB
from ml_core.index.synthetic import ClusteredVectors, ClusterSpec

DIM = 64


@pytest.fixture(scope="module")
def data():
    mixture = ClusteredVectors(ClusterSpec(dim=DIM, n_clusters=200, n_topics=8, intrinsic_dim=12, n_bases=8), seed=0)
    return np.arange(8000, dtype=np.int64) * 3 + 7, mixture.sample(8000, seed=1), mixture.sample(50, seed=2)


def exact_top(xb, ids, q, k=10, allowed=None):
    scores = xb @ q
    if allowed is not None:
        scores = np.where(np.isin(ids, allowed), scores, -np.inf)
    return ids[np.argsort(-scores)[:k]]


def publish(root, ids, xb, policy, **facts):
    built = build_checked(ids, xb, model_id="m", policy=policy, queries=64)
    return built, snapshots.publish(root, built.index, built.exact, recall=built.recall,
                                    recall_target=policy.recall_target, build_s=built.seconds, facts=facts)


def test_compressed_plans_are_reranked_and_measured_on_held_out_queries(data, tmp_path):
    ids, xb, xq = data
    policy = IndexPolicy(flat_threshold=1000, memory_budget_bytes=1_000_000, tune_queries=64,
                         build_threads=1)  # forces SQ8 codes
    assert candidate_plans(len(xb), DIM, policy)[0].lossy
    built, manifest = publish(tmp_path, ids, xb, policy, watermark=41)
    assert built.plan.refine >= 4 and manifest.recall_at_10 >= 0.95 and manifest.facts == {"watermark": 41}
    snap = Snapshot.open(tmp_path, model_id="m")
    found = snap.search_batch(xq, 10).ids
    truth = np.stack([exact_top(xb, ids, q) for q in xq])
    recall = np.mean([len(np.intersect1d(f, t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.9, f"served recall {recall}"
    assert np.array_equal(snap.ids(), np.sort(ids))


def test_a_plan_that_misses_recall_is_refused(data, tmp_path):
    ids, xb, _ = data
    policy = IndexPolicy(flat_threshold=1000, tune_queries=64, build_threads=1)
    raw_pq = IndexPlan("IVF64,PQ4x4", "ivf", 64)  # 2 bytes a vector, served without re-ranking
    with pytest.raises(RecallNotMet, match="recall@10 0.95"):
        build_checked(ids, xb, model_id="m", policy=policy, plans=[raw_pq], queries=64)
    assert snapshots.current_name(tmp_path) is None, "nothing was published"


def test_publish_is_atomic_and_keeps_the_previous_snapshot(data, tmp_path):
    ids, xb, _ = data
    policy = IndexPolicy(flat_threshold=10**9)
    _, first = publish(tmp_path, ids[:100], xb[:100], policy)
    _, second = publish(tmp_path, ids[:200], xb[:200], policy)
    _, third = publish(tmp_path, ids[:300], xb[:300], policy)
    assert snapshots.current_name(tmp_path) == third.name
    kept = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert kept == [second.name, third.name]
    assert len(Snapshot.open(tmp_path)) == 300 and not list(tmp_path.glob(".*"))


def test_a_corrupt_snapshot_is_refused(data, tmp_path):
    ids, xb, _ = data
    _, manifest = publish(tmp_path, ids[:100], xb[:100], IndexPolicy())
    path = tmp_path / "snapshots" / manifest.name / "vectors.npy"
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(IndexCorrupt, match="checksum"):
        Snapshot.open(tmp_path)


def test_live_index_merges_the_delta_and_hides_tombstones(data, tmp_path):
    ids, xb, xq = data
    _, _ = publish(tmp_path, ids[:5000], xb[:5000], IndexPolicy(flat_threshold=1000, tune_queries=64, build_threads=1))
    live = LiveIndex(Snapshot.open(tmp_path), model_id="m", dim=DIM)
    assert isinstance(live, VectorStore)
    live.add(ids[5000:], xb[5000:])
    q = xq[0]
    top = exact_top(xb, ids, q)
    assert len(np.intersect1d(live.search(q, 10).ids, top)) >= 9
    gone = exact_top(xb[:5000], ids[:5000], q)[:3]  # in the snapshot: removed by tombstones
    assert live.remove(gone) == 3
    hits = live.search(q, 10).ids
    assert not set(gone.tolist()) & set(hits.tolist()) and len(hits) == 10
    allowed = ids[::7]
    assert set(live.search(q, 10, allow_ids=allowed).ids.tolist()) <= set(allowed.tolist())
    moved = [i for i in top if i not in gone][0]  # re-embedded: the delta's new vector wins, the snapshot's copy is hidden
    live.add([moved], -xb[ids == moved])
    assert moved not in live.search(q, 10).ids and live.search(-q, 1).ids[0] == moved
    assert len(live) == len(ids) - 3 and live.stats()["tombstones"] == 3


def test_two_processes_map_one_snapshot_instead_of_copying_it(data, tmp_path):
    ids, xb, _ = data
    policy = IndexPolicy(flat_threshold=1000, tune_queries=64, build_threads=1)
    _, manifest = publish(tmp_path, ids, xb, policy)
    folder = tmp_path / "snapshots" / manifest.name
    script = textwrap.dedent(f"""
        import sys, json
        sys.path.insert(0, {os.getcwd()!r})
        from ml_core.index import Snapshot
        snap = Snapshot.open({str(tmp_path)!r})
        hits = snap.search_batch(snap.exact.vectors[:1].astype("float32"), 1).ids.tolist()
        maps = [line.split()[-1] for line in open("/proc/self/maps") if {str(folder)!r} in line]
        print(json.dumps({{"hits": hits, "maps": sorted(set(maps))}}), flush=True)
        sys.stdin.read()  # stay alive until the parent has looked
    """)
    children = [subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for _ in range(2)]
    try:
        reports = [json.loads(c.stdout.readline()) for c in children]
    finally:
        for c in children:
            c.communicate("")
    for report in reports:
        assert report["hits"] == [[int(np.sort(ids)[0])]]
        assert {os.path.basename(m) for m in report["maps"]} == {"index.faiss", "ids.npy", "vectors.npy"}
