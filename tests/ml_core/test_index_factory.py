"""Index choice by size and memory budget, and when a rebuild is due."""
import numpy as np
import pytest

from ml_core.index import IndexPolicy, VectorIndex, choose_plan
from ml_core.index.factory import GiB, nlist_for

MiB = 1 << 20


def test_small_collections_are_exact():
    plan = choose_plan(19_999, 512)
    assert plan.factory == "IDMap2,Flat" and not plan.needs_training


@pytest.mark.parametrize("n, budget, factory", [
    (100_000, 4 * GiB, "IVF1024,Flat"),
    (1_000_000, 4 * GiB, "IVF4096,Flat"),  # ~2.1 GB of float32 fits
    (1_000_000, 1 * GiB, "IVF4096,SQ8"),  # 4x smaller codes
    (1_000_000, 256 * MiB, "IVF4096,PQ128"),
    (1_000_000, 64 * MiB, "IVF4096,PQ32"),
    (20_000_000, 64 * GiB, "IVF16384_HNSW32,Flat"),  # graph quantizer for many lists
])
def test_ivf_codes_follow_the_memory_budget(n, budget, factory):
    plan = choose_plan(n, 512, IndexPolicy(memory_budget_bytes=budget))
    assert plan.factory == factory
    assert plan.estimated_bytes <= budget


def test_nlist_is_about_four_sqrt_n():
    assert nlist_for(1_000_000) == 4096 and nlist_for(100_000) == 1024 and nlist_for(10) == 64


def test_impossible_budget_is_a_clear_error():
    with pytest.raises(ValueError, match="ATELIER_INDEX_MEMORY_MB"):
        choose_plan(10_000_000, 512, IndexPolicy(memory_budget_bytes=10 * MiB))


def test_the_policy_comes_from_the_caller_not_the_environment(monkeypatch):
    monkeypatch.setenv("ATELIER_INDEX_FLAT_THRESHOLD", "5000")
    assert IndexPolicy().flat_threshold == 20_000, "ml_core reads no environment variables"
    policy = IndexPolicy(flat_threshold=5000).with_budget_mb(512)
    assert policy.flat_threshold == 5000 and policy.memory_budget_bytes == 512 * MiB
    from pathlib import Path

    import ml_core.index

    sources = "".join(p.read_text() for p in Path(ml_core.index.__file__).parent.glob("*.py"))
    assert "os.environ" not in sources and "getenv" not in sources


def _unit(n, seed, dim=16):
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_flat_needs_retrain_once_past_threshold():
    index = VectorIndex.build(np.arange(90), _unit(90, 0), model_id="m",
                              policy=IndexPolicy(flat_threshold=100))
    assert not index.needs_retrain
    index.add(np.arange(90, 100), _unit(10, 1))
    assert index.needs_retrain


def test_ivf_needs_retrain_after_doubling():
    policy = IndexPolicy(flat_threshold=500, tune_queries=32)
    index = VectorIndex.build(np.arange(3000), _unit(3000, 2), model_id="m", policy=policy)
    assert index.plan.kind == "ivf" and not index.needs_retrain
    index.add(np.arange(3000, 6000), _unit(3000, 3))
    assert not index.needs_retrain  # exactly 2x: still fine
    index.add([6000], _unit(1, 4))
    assert index.needs_retrain
