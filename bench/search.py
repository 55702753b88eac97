"""Search benchmark: Atelier's vector index against exact search and autofaiss.

For each size (100k and 1M by default) it draws clustered, normalised 512-d vectors (a mixture
of a few thousand Gaussian clusters, see ml_core/index/synthetic.py) plus 1,000 queries from
the same mixture but not in the database, then reports for Atelier's index: build time, memory
(RSS growth during the build, and the saved file size), recall@10 against exact search and
p50/p99 latency of single-query ``VectorIndex.search`` calls. autofaiss 2.18 builds its own
index on the same vectors under the same memory budget in a separate virtual environment
(bench/.venvs/autofaiss, created when missing) and is evaluated here with the same queries and
the same thread count. ``http_bench`` is the hook for the platform's HTTP endpoint timings.

    .venv/bin/python bench/search.py            # 100k and 1M (several minutes)
    .venv/bin/python bench/search.py --quick    # 50k, under a minute without autofaiss
    .venv/bin/python bench/search.py --n 200000 --budget-mb 1024
    .venv/bin/python bench/search.py --n 1000000 --processes 4 --store pgvector --plan-for 10000000 100000000

Scale parts (bench/search_scale.py): ``--processes P`` publishes one snapshot and reports the
proportional set size (PSS) of one serving process and of P at once; ``--plan-for N`` builds the
plan chosen for N vectors (lists scaled to the sample) and reports recall@10 without and with
re-ranking; ``--store pgvector`` loads the same vectors into PostgreSQL 18 + pgvector (HNSW over
halfvec) and times single queries with and without a filter keeping 10 % of rows, beside FAISS's
filtered search; ``--searchable-after M`` times commit-to-found in another process over M photos.

Prints a table, then as its last line one JSON object for the largest size run.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402

from ml_core.index import AllowList, IndexPolicy, VectorIndex  # noqa: E402
from ml_core.index.synthetic import ClusteredVectors, ClusterSpec  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
import search_scale  # noqa: E402

AF_VENV = ROOT / "bench" / ".venvs" / "autofaiss"
AF_PACKAGES = ["autofaiss==2.18.0", "numpy<2", "pyarrow<18", "faiss-cpu"]
OUT = ROOT / "bench" / "out"
K = 10


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f[f >= 0], t)) / K for f, t in zip(found, truth)]))


def time_queries(search, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run ``search(q)`` once per query (after a warm-up); returns (ids rows, seconds)."""
    for q in queries[:20]:
        search(q)
    ids = np.full((len(queries), K), -1, dtype=np.int64)
    seconds = np.empty(len(queries))
    for i, q in enumerate(queries):
        start = time.perf_counter()
        found = search(q)
        seconds[i] = time.perf_counter() - start
        ids[i, : len(found)] = found[:K]
    return ids, seconds


def latency_ms(seconds: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(seconds, 50) * 1e3), float(np.percentile(seconds, 99) * 1e3)


# -- Atelier's index -----------------------------------------------------------------------
def bench_ours(xb: np.ndarray, xq: np.ndarray, truth: np.ndarray, budget_mb: int,
               truth_filtered: np.ndarray | None = None) -> dict:
    policy = IndexPolicy(memory_budget_bytes=budget_mb << 20)
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    index = VectorIndex.build(np.arange(len(xb), dtype=np.int64), xb, model_id="bench",
                              policy=policy)
    build_s = time.perf_counter() - start
    memory_mb = rss_mb() - before
    path = OUT / f"atelier_{len(xb)}.idx"
    start = time.perf_counter()
    file_mb = index.save(path) / 2**20
    save_s = time.perf_counter() - start
    path.unlink()
    faiss.omp_set_num_threads(1)  # also what VectorIndex applies per search thread
    found, seconds = time_queries(lambda q: index.search(q, K).ids, xq)
    p50, p99 = latency_ms(seconds)
    allow = AllowList(np.arange(0, len(xb), 10))  # the 10 % a permission filter keeps
    found_f, seconds_f = time_queries(lambda q: index.search(q, K, allow_ids=allow).ids, xq)
    curve = nprobe_curve(index, xq, truth) if index.nprobe else []
    return {"curve": curve, "filtered_p50_ms": latency_ms(seconds_f)[0],
        "filtered_recall_at_10": recall(found_f, truth_filtered) if truth_filtered is not None else None,
        "factory": index.factory, "nprobe": index.nprobe, "build_s": build_s,
        "build_phases_s": index.build_seconds,
        "memory_mb": memory_mb, "index_file_mb": file_mb, "save_s": save_s,
        "tuned_recall": index.tuned_recall, "recall_at_10": recall(found, truth),
        "search_p50_ms": p50, "search_p99_ms": p99,
    }


def nprobe_curve(index: VectorIndex, xq: np.ndarray, truth: np.ndarray) -> list[dict]:
    """Recall and latency at multiples of the tuned nprobe (the speed/recall trade-off)."""
    tuned, points = index.nprobe, []
    for factor in (2, 4, 8, 16):
        index.nprobe = tuned * factor
        found, seconds = time_queries(lambda q: index.search(q, K).ids, xq)
        p50, p99 = latency_ms(seconds)
        points.append({"nprobe": index.nprobe, "recall_at_10": recall(found, truth),
                       "search_p50_ms": p50, "search_p99_ms": p99})
    index.nprobe = tuned
    return points


def best_within(ours: dict, p50_ms: float | None) -> dict | None:
    """Atelier's best recall (tuned point or curve) whose p50 is within ``p50_ms``."""
    if p50_ms is None:
        return None
    tuned = {k: ours[k] for k in ("nprobe", "recall_at_10", "search_p50_ms", "search_p99_ms")}
    fits = [p for p in [tuned, *ours["curve"]] if p["search_p50_ms"] <= p50_ms]
    return max(fits, key=lambda p: p["recall_at_10"]) if fits else None


# -- autofaiss ----------------------------------------------------------------------------
def autofaiss_python() -> Path | None:
    """The autofaiss venv's interpreter, creating the venv when missing; None if impossible."""
    python = AF_VENV / "bin" / "python"
    if python.exists() and _run([str(python), "-c", "import autofaiss"]) == 0:
        return python
    base = shutil.which("python3.11") or shutil.which("python3")
    print(f"creating {AF_VENV} with {base} (one-off, a few minutes)", flush=True)
    if not base or _run([base, "-m", "venv", "--clear", str(AF_VENV)]) != 0:
        return None
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if _run(pip + AF_PACKAGES) != 0 or _run([str(python), "-c", "import autofaiss"]) != 0:
        return None
    return python


def _run(cmd: list[str]) -> int:
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def bench_autofaiss(n: int, xb_dir: Path, xq: np.ndarray, truth: np.ndarray, budget_mb: int,
                    query_ms: float) -> dict:
    python = autofaiss_python()
    if python is None:
        print("autofaiss unavailable: skipped", flush=True)
        return {}
    index_path, summary = OUT / f"autofaiss_{n}.index", OUT / f"autofaiss_{n}.json"
    cmd = [str(python), str(ROOT / "bench" / "_autofaiss_runner.py"), "--embeddings", str(xb_dir),
           "--index", str(index_path), "--summary", str(summary), "--budget", f"{budget_mb}M",
           "--cores", str(os.cpu_count() or 1), "--query-ms", str(query_ms)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print("autofaiss failed:\n" + done.stderr[-2000:], flush=True)
        return {}
    info = json.loads(summary.read_text())
    index = faiss.read_index(str(index_path))
    if info.get("index_param"):
        faiss.ParameterSpace().set_index_parameters(index, info["index_param"])
    faiss.omp_set_num_threads(1)
    found, seconds = time_queries(lambda q: index.search(q[None], K)[1][0], xq)
    p50, p99 = latency_ms(seconds)
    result = {
        "index_key": info.get("index_key"), "index_param": info.get("index_param"),
        "build_s": info["build_s"], "index_file_mb": index_path.stat().st_size / 2**20,
        "recall_at_10": recall(found, truth), "search_p50_ms": p50, "search_p99_ms": p99,
    }
    del index
    index_path.unlink(missing_ok=True)
    return result


# -- HTTP (the platform's part) -----------------------------------------------------------
def http_bench(n: int) -> dict | None:
    """p50/p99 of the platform's search endpoint over ``n`` photos, or None when unavailable.

    Runs ``atelier.search.benchmark`` in a child process (its own Django setup and a throwaway
    database: PostgreSQL when DATABASE_URL points at one, else SQLite): ``n`` photo rows with
    embeddings, the index built by the index service, GET /api/search/ timed through Django's
    test client with the demo model (random:atelier-demo-clip while the demo weights are absent).
    Returns None while the platform or its search app cannot be imported or the run fails.
    """
    return search_scale.run_platform_module("atelier.search.benchmark", ["--n", str(n)], "http bench")


# -- driver -------------------------------------------------------------------------------
def run_size(n: int, n_queries: int, budget_mb: int, with_autofaiss: bool, af_query_ms: float,
             scale: argparse.Namespace) -> dict:
    mixture = ClusteredVectors(ClusterSpec(), seed=0)
    xb = mixture.sample(n, seed=1)
    xq = mixture.sample(n_queries, seed=2)  # same mixture, different draws: not in the database
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    _, truth = faiss.knn(xq, xb, K, metric=faiss.METRIC_INNER_PRODUCT)
    _, rows = faiss.knn(xq, xb[::10], K, metric=faiss.METRIC_INNER_PRODUCT)
    truth_filtered = rows * 10  # exact top-10 among the rows a 10 % filter keeps (ids divisible by 10)
    xb_dir = OUT / f"emb_{n}"
    if with_autofaiss:
        xb_dir.mkdir(parents=True, exist_ok=True)
        np.save(xb_dir / "emb.npy", xb)
    row = {"n": n, "ours": bench_ours(xb, xq, truth, budget_mb, truth_filtered), "scale": {}}
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # builds use every core again (queries were timed on one)
    row["scale"].update(run_scale(xb, xq, truth, truth_filtered, budget_mb, scale))
    del xb
    gc.collect()
    row["autofaiss"] = (bench_autofaiss(n, xb_dir, xq, truth, budget_mb, af_query_ms)
                        if with_autofaiss else {})
    row["matched"] = best_within(row["ours"], row["autofaiss"].get("search_p50_ms"))
    shutil.rmtree(xb_dir, ignore_errors=True)
    row["http"] = http_bench(n) if scale.http else None
    if scale.searchable_after:
        row["scale"].update(search_scale.bench_searchable_after(scale.searchable_after) or {})
    print_row(row)
    return row


def run_scale(xb, xq, truth, truth_filtered, budget_mb: int, scale: argparse.Namespace) -> dict:
    """The optional scale parts on this size's vectors (see bench/search_scale.py)."""
    policy = IndexPolicy(memory_budget_bytes=budget_mb << 20)
    out = {}
    if scale.processes:
        out.update(search_scale.bench_processes(xb, scale.processes, policy))
        print(f"  {scale.processes} processes serving one snapshot ({out['plan']}, {out['snapshot_mb']:.0f} MB of files): "
              f"PSS one {out['pss_one_mb']:.0f} MB (snapshot {out['pss_one_snapshot_mb']:.0f}), each of "
              f"{scale.processes} {out['pss_each_mb']} MB (snapshot {out['pss_each_snapshot_mb']}, private "
              f"{out['pss_each_private_mb']}), "
              f"sum {out['pss_sum_mb']:.0f} MB = {out['pss_sum_over_one']:.2f}x one", flush=True)
    for target in scale.plan_for:  # the first size's figures are the JSON's plan keys, every one is in "plans"
        plan = search_scale.bench_plan_for(target, xb, xq, truth, policy)
        out.setdefault("plans", []).append(plan)
        for key, value in plan.items():
            out.setdefault(key, value)
        print(f"  plan for {target:,}: {plan['plan']} (on {plan['sample_n']:,}: {plan['sample_plan']}): "
              + ", ".join(f"re-rank x{p['refine']} nprobe {p['nprobe']} recall@10 {p['recall_at_10']:.3f}"
                          for p in plan["curve"]), flush=True)
    if scale.store == "pgvector":
        pg = search_scale.bench_pgvector(xb, xq, truth, truth_filtered, curve=tuple(scale.ef_search),
                                         build={"m": scale.hnsw_m, "ef_construction": scale.hnsw_ef_construction})
        out.update(pg)
        print(f"  pgvector HNSW halfvec {pg['pgvector_build']} (ef_search {pg['pgvector_ef_search']}, load {pg['pgvector_load_s']:.0f} s, "
              f"index {pg['pgvector_index_s']:.0f} s): recall@10 {pg['pgvector_recall_at_10']:.3f} p50 "
              f"{pg['pgvector_p50_ms']:.2f} ms p99 {pg['pgvector_p99_ms']:.2f} ms; 10 % filter: recall@10 "
              f"{pg['pgvector_filtered_recall_at_10']:.3f} p50 {pg['pgvector_filtered_p50_ms']:.2f} ms", flush=True)
    return out


def print_row(row: dict) -> None:
    def fmt(v, spec):
        width = int(spec.split(".")[0])
        return format(v, spec) if isinstance(v, (int, float)) else "-".rjust(width)

    print(f"\nn = {row['n']:,}")
    print(f"  {'index':<10}{'factory':<24}{'build s':>9}{'RSS MB':>9}{'file MB':>9}"
          f"{'recall@10':>11}{'p50 ms':>9}{'p99 ms':>9}")
    for name, r in (("atelier", row["ours"]), ("autofaiss", row["autofaiss"])):
        label = r.get("factory") or r.get("index_key") or "(skipped)"
        if r.get("nprobe"):
            label += f" np={r['nprobe']}"
        print(f"  {name:<10}{label:<24}{fmt(r.get('build_s'), '9.1f')}"
              f"{fmt(r.get('memory_mb'), '9.0f')}{fmt(r.get('index_file_mb'), '9.0f')}"
              f"{fmt(r.get('recall_at_10'), '11.3f')}{fmt(r.get('search_p50_ms'), '9.3f')}"
              f"{fmt(r.get('search_p99_ms'), '9.3f')}")
        for p in r.get("curve", []):
            print(f"  {'':<10}{'  nprobe=' + str(p['nprobe']):<24}{'':>27}"
                  f"{p['recall_at_10']:11.3f}{p['search_p50_ms']:9.3f}{p['search_p99_ms']:9.3f}")
    print(f"  atelier build phases (s): {row['ours']['build_phases_s']}")
    ours = row["ours"]
    print(f"  atelier with a permission filter keeping 10 %: recall@10 {ours['filtered_recall_at_10']:.3f}, "
          f"p50 {ours['filtered_p50_ms']:.3f} ms")
    if row["autofaiss"].get("index_param"):
        print(f"  autofaiss search parameters: {row['autofaiss']['index_param']}")
    sys.stdout.flush()


def summary(row: dict) -> dict:
    ours, af, http, scale = row["ours"], row["autofaiss"], row["http"] or {}, row["scale"]
    return {
        "n": row["n"], "factory": ours["factory"], "nprobe": ours["nprobe"],
        "recall_at_10": round(ours["recall_at_10"], 4),
        "search_p50_ms": round(ours["search_p50_ms"], 3),
        "search_p99_ms": round(ours["search_p99_ms"], 3),
        "build_s": round(ours["build_s"], 1), "build_phases_s": ours["build_phases_s"],
        "memory_mb": round(ours["memory_mb"], 1),
        "index_file_mb": round(ours["index_file_mb"], 1),
        "autofaiss_index_key": af.get("index_key"),
        "autofaiss_recall_at_10": _round(af.get("recall_at_10"), 4),
        "autofaiss_p50_ms": _round(af.get("search_p50_ms"), 3),
        "autofaiss_p99_ms": _round(af.get("search_p99_ms"), 3),
        "autofaiss_build_s": _round(af.get("build_s"), 1),
        "recall_at_autofaiss_p50": _round((row["matched"] or {}).get("recall_at_10"), 4),
        "nprobe_at_autofaiss_p50": (row["matched"] or {}).get("nprobe"),
        "http_p50_ms": http.get("http_p50_ms"), "http_p99_ms": http.get("http_p99_ms"),
        "faiss_filtered_p50_ms": _round(ours["filtered_p50_ms"], 3),
        "faiss_filtered_recall_at_10": _round(ours["filtered_recall_at_10"], 4),
        **{key: scale.get(key) for key in SCALE_KEYS},
        "plans": [{key: p.get(key) for key in ("plan_for", "plan", "plan_recall_at_10", "plan_recall_at_10_reranked",
                                               "plan_refine")} for p in scale.get("plans", [])],
    }


SCALE_KEYS = ("pss_one_mb", "pss_sum_mb", "pss_sum_over_one", "plan_for", "plan", "plan_recall_at_10",
              "plan_recall_at_10_reranked", "pgvector_recall_at_10", "pgvector_p50_ms", "pgvector_p99_ms",
              "pgvector_filtered_recall_at_10", "pgvector_filtered_p50_ms", "pgvector_ef_search", "searchable_after_p50_s",
              "searchable_after_max_s")


def _round(v, digits):
    return None if v is None else round(v, digits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, help="one size instead of 100k and 1M")
    parser.add_argument("--quick", action="store_true", help="50k vectors, no autofaiss")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--budget-mb", type=int, default=IndexPolicy().memory_budget_bytes >> 20)
    parser.add_argument("--no-autofaiss", action="store_true")
    parser.add_argument("--autofaiss-query-ms", type=float, default=2.0,
                        help="latency target given to autofaiss (ours: p50 <= 2 ms)")
    parser.add_argument("--processes", type=int, default=0, help="serve one snapshot from this many processes (PSS)")
    parser.add_argument("--plan-for", type=int, nargs="+", default=[],
                        help="measure the plan chosen for this many vectors (several sizes: one after the other)")
    parser.add_argument("--store", choices=["faiss", "pgvector"], default="faiss",
                        help="pgvector: also load the vectors into PostgreSQL + pgvector and compare")
    parser.add_argument("--hnsw-m", type=int, default=search_scale.HNSW_BUILD["m"], help="pgvector HNSW build: m")
    parser.add_argument("--hnsw-ef-construction", type=int, default=search_scale.HNSW_BUILD["ef_construction"],
                        help="pgvector HNSW build: ef_construction")
    parser.add_argument("--ef-search", type=int, nargs="+", default=list(search_scale.EF_SEARCH_CURVE),
                        help="pgvector hnsw.ef_search values measured")
    parser.add_argument("--searchable-after", type=int, help="photos timed from commit to found (default 100; --quick: none)")
    parser.add_argument("--no-http", dest="http", action="store_false", help="skip the HTTP endpoint timings")
    parser.add_argument("--serve-snapshot", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_snapshot:
        search_scale.serve_snapshot(args.serve_snapshot, args.queries)
        return
    if args.searchable_after is None:
        args.searchable_after = 0 if args.quick else 100  # --quick stays under a minute
    sizes = [args.n] if args.n else [50_000] if args.quick else [100_000, 1_000_000]
    with_af = not (args.no_autofaiss or args.quick)
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"faiss {faiss.__version__}, {os.cpu_count()} cores, budget {args.budget_mb} MiB, "
          f"{args.queries} single-thread single queries per index", flush=True)
    rows = [run_size(n, args.queries, args.budget_mb, with_af, args.autofaiss_query_ms, args)
            for n in sizes]
    print(json.dumps(summary(rows[-1])))


if __name__ == "__main__":
    main()
