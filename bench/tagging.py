"""Benchmark: zero-shot tagging of stored embeddings — N unit 512-d vectors against T tags.

Two parts. (1) In memory: top-5 per photo with ``ml_core.zeroshot.score``, 100,000 × 100 and
1,000,000 × 1,000 (quick: 200,000 × 1,000). (2) Sharded, as the tagging job runs at any size
(``ml_core.zeroshot.sharded``): N float16 vectors memory-mapped from a file, one ranking pass in
blocks (each tag's statistics and its ``--cap`` best pairs, merged at every step's end as the job
merges into its ranking), then the pairs held at or above their cutoff are what the job writes;
reports seconds, the peak extra memory (anonymous RSS, so the mapped file does not count), the
GFLOP/s reached against a plain matrix product of one block measured before and after the run (the higher), the longest
step (blocks until ``--chunk-seconds``, as a job step) and the suggestions written. ``--n``/``--tags`` run only part
(2) at that size, e.g. ``--n 10000000 --tags 1000``.

Scores with ``ml_core.zeroshot.score(..., top_k=5)`` (chunked matrix product + top-k per chunk) and
reports wall time and the peak memory allocated on top of the embeddings themselves (tracemalloc:
numpy and torch CPU buffers; the embeddings are made before tracing starts). Targets on 2 cores:
1,000,000 × 1,000 in ≤ 15 s and ≤ 1 GiB extra. Also 100,000 × 100. Last line: one JSON object
(the largest run).

    .venv/bin/python bench/tagging.py [--quick] [--chunk 8192] [--n N --tags T]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ml_core.zeroshot import score  # noqa: E402

D = 512


def unit_rows(n: int, seed: int) -> np.ndarray:
    out = np.empty((n, D), dtype=np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), D), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + len(block)] = block
    return out


def run(n: int, tags: int, chunk: int) -> dict:
    vectors, tag_matrix = unit_rows(n, 0), unit_rows(tags, 1)
    tracemalloc.start()
    started = time.perf_counter()
    top = score(vectors, tag_matrix, mode="multi", top_k=5, chunk=chunk)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # spot check: a few rows against the exact product
    rows = np.random.default_rng(2).choice(n, 20, replace=False)
    exact = np.argsort(-(vectors[rows] @ tag_matrix.T), axis=1)[:, :5]
    assert (exact == top.indices[rows]).all(), "top-5 differs from the exact product"
    return {"n": n, "tags": tags, "seconds": round(seconds, 2), "peak_extra_mb": round(peak / 2**20, 1),
            "embeddings_mb": round(vectors.nbytes / 2**20, 1), "photos_per_s": round(n / seconds)}


def anon_rss() -> int:
    """Anonymous resident memory of this process (bytes): heap, numpy and torch buffers, not the
    pages of a memory-mapped file."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def mapped_vectors(folder: str, n: int, seed: int = 0) -> np.ndarray:
    """N unit vectors as float16 in a memory-mapped file (the database's storage type)."""
    out = np.lib.format.open_memmap(os.path.join(folder, "vectors.npy"), mode="w+", dtype=np.float16, shape=(n, D))
    rng = np.random.default_rng(seed)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), D), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + len(block)] = block
    out.flush()
    return np.load(os.path.join(folder, "vectors.npy"), mmap_mode="r")


def gemm_peak_gflops(block: int, tags: int, seconds: float = 2.0) -> float:
    """GFLOP/s of the bare product [block, D] @ [D, tags] in float32 on this machine, now."""
    import torch

    x, w = torch.randn(block, D), torch.randn(D, tags)
    out = x @ w
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.mm(x, w, out=out)
        done += 1
    return 2 * block * D * tags * done / (time.perf_counter() - started) / 1e9


def run_sharded(vectors: np.ndarray, tags: int, *, block: int, cap: int, chunk_seconds: float) -> dict:
    """The tagging job's two passes over `vectors`, block by block, steps cut at `chunk_seconds`.
    As the job: the ranking pass sums each tag's statistics and offers each block's pairs to a
    step's RunningTop (floors from the ranking so far), merged into the ranking (TopPairs) at the
    step's end; the writing pass writes the pairs held at or above their tag's cutoff."""
    import threading

    import torch

    from ml_core.zeroshot.sharded import RunningTop, StatsAccumulator, TagStats, TopPairs

    base, peak, sampling = anon_rss(), [0], True  # before anything of this run is allocated
    n, tag_matrix = len(vectors), unit_rows(tags, 1)
    peak_gflops = gemm_peak_gflops(block, tags)

    def sample() -> None:  # transient buffers live inside a block: look every 5 ms
        while sampling:
            peak[0] = max(peak[0], anon_rss() - base)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    steps, step_started, block_started = [], time.perf_counter(), [time.perf_counter()]

    def tick() -> bool:
        """As the job: a step ends when one more block of the last one's length would pass the chunk."""
        nonlocal step_started
        now = time.perf_counter()
        ended = now + (now - block_started[0]) - step_started >= chunk_seconds
        if ended:
            steps.append(now - step_started)
            step_started = now
        block_started[0] = now
        return ended

    started = time.perf_counter()
    stats, sums = TagStats.zeros(tags), StatsAccumulator(tag_matrix)
    scorer, ranking = sums.scorer, TopPairs.empty(tags, cap)
    offers = RunningTop(tags, cap)
    for lo in range(0, n, block):
        rows = scorer.rows(vectors[lo:lo + block])  # converted once, for the sums and the scores
        sums.add(rows)
        found, cols, values = scorer.candidates(rows, mode="multi", floor=offers.floors, seed_cap=cap)
        offers.add(found + lo, cols, values)
        if tick() or lo + block >= n:  # the step's end: statistics stored, best pairs merged into the ranking
            stats, sums = stats + sums.stats(), StatsAccumulator(tag_matrix)
            scorer = sums.scorer
            ranking = ranking.merged(*offers.held())
            offers = RunningTop(tags, cap, floors=ranking.thresholds)
    rank_seconds = time.perf_counter() - started
    cutoffs = stats.cutoffs(1.0).astype(np.float32)
    _, cols, values = ranking.pairs()
    written = int((values >= cutoffs[cols]).sum())  # the writing pass: what the ranking holds above the cutoffs
    seconds = time.perf_counter() - started
    sampling = False
    sampler.join()
    peak = peak[0]
    steps.append(time.perf_counter() - step_started)
    # the peak again after the run: the higher of the two (a busy start would flatter the fraction)
    peak_gflops = max(peak_gflops, gemm_peak_gflops(block, tags))
    stats_flop = 2 * n * D * min(D, tags)  # the Gram matrix (or the scores, with fewer tags than dimensions)
    flop = stats_flop + 2 * n * D * tags  # the products done: statistics, then the [n, tags] scores once
    gflops = flop / seconds / 1e9
    return {"n": n, "tags": tags, "seconds": round(seconds, 2), "peak_extra_mb": round(peak / 2**20, 1),
            "embeddings_mb": round(vectors.nbytes / 2**20, 1), "photos_per_s": round(n / seconds),
            "rank_seconds": round(rank_seconds, 2), "gflop": round(flop / 1e9), "gflops": round(gflops, 1),
            "gemm_peak_gflops": round(peak_gflops, 1), "gflops_fraction": round(gflops / peak_gflops, 3),
            "max_step_s": round(max(steps), 2), "chunk_seconds": chunk_seconds, "block": block, "cap": cap,
            "suggestions_written": written, "cap_times_tags": cap * tags, "torch_threads": torch.get_num_threads()}


def sharded(n: int, tags: int, args) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="atelier-tagging-", dir=args.tmp) as folder:
        vectors = mapped_vectors(folder, n)
        result = run_sharded(vectors, tags, block=args.block, cap=args.cap, chunk_seconds=args.chunk_seconds)
        del vectors
    print(f"\nsharded (memory-mapped float16, blocks of {result['block']}, cap {result['cap']} per tag):")
    print(f"{'photos':>10} {'tags':>6} {'seconds':>8} {'peak extra MB':>14} {'GFLOP/s':>8} {'GEMM peak':>10} "
          f"{'max step s':>11} {'chunk s':>8} {'written':>10} {'cap × tags':>11}")
    r = result
    print(f"{r['n']:>10} {r['tags']:>6} {r['seconds']:>8} {r['peak_extra_mb']:>14} {r['gflops']:>8} "
          f"{r['gemm_peak_gflops']:>10} {r['max_step_s']:>11} {r['chunk_seconds']:>8} {r['suggestions_written']:>10} "
          f"{r['cap_times_tags']:>11}")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k × 100 and 200k × 1000 only")
    parser.add_argument("--chunk", type=int, default=8192)
    parser.add_argument("--n", type=int, help="sharded run only, with this many photos")
    parser.add_argument("--tags", type=int, default=1000, help="tags of the sharded run")
    parser.add_argument("--block", type=int, default=8192, help="rows scored at once (ATELIER_TAG_BLOCK)")
    parser.add_argument("--cap", type=int, default=1000, help="suggestions kept per tag")
    parser.add_argument("--chunk-seconds", type=float, default=20.0, help="a job step's length (ATELIER_CHUNK_SECONDS)")
    parser.add_argument("--tmp", default=None, help="folder for the memory-mapped vectors")
    args = parser.parse_args(argv)
    import torch

    if args.n:
        print(json.dumps(sharded(args.n, args.tags, args)))
        return 0
    sizes = [(100_000, 100), (200_000, 1000)] if args.quick else [(100_000, 100), (1_000_000, 1000)]
    results = [run(n, t, args.chunk) for n, t in sizes]
    print(f"{'photos':>10} {'tags':>6} {'seconds':>8} {'photos/s':>10} {'peak extra MB':>14}  (torch threads {torch.get_num_threads()})")
    for r in results:
        print(f"{r['n']:>10} {r['tags']:>6} {r['seconds']:>8} {r['photos_per_s']:>10} {r['peak_extra_mb']:>14}")
    large = sharded(100_000 if args.quick else 1_000_000, 1000, args)
    print(json.dumps({**results[-1], "sharded": large}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
