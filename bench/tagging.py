"""Benchmark: zero-shot tagging of stored embeddings — N unit 512-d vectors against T tags, top-5 kept.

Scores with ``ml_core.zeroshot.score(..., top_k=5)`` (chunked matrix product + top-k per chunk) and
reports wall time and the peak memory allocated on top of the embeddings themselves (tracemalloc:
numpy and torch CPU buffers; the embeddings are made before tracing starts). Targets on 2 cores:
1,000,000 × 1,000 in ≤ 15 s and ≤ 1 GiB extra. Also 100,000 × 100. Last line: one JSON object
(the largest run).

    .venv/bin/python bench/tagging.py [--quick] [--chunk 8192]
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k × 100 and 200k × 1000 only")
    parser.add_argument("--chunk", type=int, default=8192)
    args = parser.parse_args(argv)
    import torch

    sizes = [(100_000, 100), (200_000, 1000)] if args.quick else [(100_000, 100), (1_000_000, 1000)]
    results = [run(n, t, args.chunk) for n, t in sizes]
    print(f"{'photos':>10} {'tags':>6} {'seconds':>8} {'photos/s':>10} {'peak extra MB':>14}  (torch threads {torch.get_num_threads()})")
    for r in results:
        print(f"{r['n']:>10} {r['tags']:>6} {r['seconds']:>8} {r['photos_per_s']:>10} {r['peak_extra_mb']:>14}")
    print(json.dumps(results[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
