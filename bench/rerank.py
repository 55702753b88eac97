"""Benchmark: CLIP reranking of generated candidates — throughput, share of a generation, effect.

The generator is the default backend of the generation plugin: Atelier's DALL·E (ml_core/weights/dalle)
with the weights' own sampling settings (`Dalle.sampling`: guidance 2, top-k 16), temperature 1, no top-p,
sampled in batches of 16 (`AtelierDalleBackend.batch_size`, `first=` chunks). Prompts are the canonical
captions of `ml_core.eval.dalle.eval_prompts` (an unseen world), and the accuracy run IS
`generation_eval` (imported, not copied) with the sampler wrapped so that it samples in batches of 16
and times each 64-candidate generation (candidate i is the same image in any chunking).

Measured:
  1. rerank throughput, candidates/s: `ml_core.rerank.score_candidates` (the plugin's exact scoring: 8-bit
     PIL images through the engine's preprocess, batched) on 64 generated 32 px candidates, with the
     demo CLIP and with `random:ViT-B-32` (224 px); one warm-up call (it also caches the prompt's text
     embedding, as a generation does after its first batch), then `--repeats` timed calls, median.
  2. share of a generation at N = 64 with the demo CLIP: rerank / (sample + rerank), sample = mean
     seconds of the 64-candidate generations of the accuracy run, rerank = median of (1). Target <= 10 %.
  3. effect: share of returned top-1 images that the world's oracle judges to match the prompt, per
     category and overall, for N = 1, 4, 16, 64. N = 1 is the mean over ALL 64 candidates of each
     prompt (no reranking; generation_eval's definition, lower variance than candidate 0 alone); N > 1
     is the chance that the demo CLIP's top-1 of N of the 64 is right, averaged exactly over every
     N-subset (`expected_top1`: same expectation as N fresh candidates, less noise than disjoint groups),
     ranked as the plugin ranks (`rank_score`: ml_core.rerank.rank_scores) and, beside it, by raw cosine.

torch runs with `--threads` intra-op threads (default 1: the box has 2 cores and is shared); the
thread count and the load average are printed. Last line: one JSON object.

    .venv/bin/python bench/rerank.py [--quick] [--prompts 16] [--threads 1] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml_core.clip import get_engine  # noqa: E402
from ml_core.dalle import load_dalle  # noqa: E402
from ml_core.eval.dalle import CATEGORY_HEADS, generation_eval  # noqa: E402
from ml_core.rerank import score_candidates  # noqa: E402
from ml_core.synth.oracle import Oracle  # noqa: E402

BACKEND_BATCH = 16   # plugins/generation/backends.py AtelierDalleBackend(batch_size=16)
N_MAX = 64
NS = (1, 4, 16, 64)


class BatchedSampler:
    """The dalle sampler as the default backend drives it: chunks of 16 (`first=`), each call timed.
    Keeps the last call's images and prompt for the throughput measurement."""

    def __init__(self, sampler, batch: int = BACKEND_BATCH):
        self.inner, self.batch = sampler, batch
        self.seconds: list[float] = []
        self.last_images, self.last_prompt = None, None

    def sample(self, prompt, n: int = 4, seed: int = 0, **settings):
        started = time.perf_counter()
        parts = [self.inner.sample(prompt, n=min(self.batch, n - s), seed=seed, first=s, **settings)
                 for s in range(0, n, self.batch)]
        self.seconds.append(time.perf_counter() - started)
        images = torch.cat([p.images for p in parts])
        self.last_images, self.last_prompt = images, prompt
        return type(parts[0])(torch.cat([p.tokens for p in parts]), images, sum((p.seeds for p in parts), []))


class TimedDalle:
    """`generation_eval` takes the loaded model and calls `.sampler()`; hand it the batched sampler."""

    def __init__(self, dalle):
        self.dalle, self.batched = dalle, BatchedSampler(dalle.sampler())

    def sampler(self):
        return self.batched


def rerank_rate(engine, prompt: str, images: torch.Tensor, repeats: int) -> dict:
    score_candidates(engine, prompt, images)  # warm-up (and the prompt's text embedding into the cache)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        score_candidates(engine, prompt, images)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {"candidates": len(images), "median_s": median, "per_s": len(images) / median,
            "min_s": min(times), "max_s": max(times), "repeats": repeats}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="1 prompt in 2 categories, ViT-B-32 on 16 candidates, 3 repeats (under a minute)")
    p.add_argument("--prompts", type=int, default=None, help="prompts per category (default 16; quick 1)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--repeats", type=int, default=None, help="timed rerank calls (default 7; quick 3)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    n_prompts = a.prompts or (1 if a.quick else 16)
    repeats = a.repeats or (3 if a.quick else 7)
    categories = ("single", "relation") if a.quick else tuple(CATEGORY_HEADS)
    t0 = time.perf_counter()
    print(f"torch threads {torch.get_num_threads()}, load average {load()}", flush=True)

    dalle = load_dalle()
    settings = {"top_p": None, **dalle.sampling}   # as the plugin's backend samples a request without settings
    cond = settings["cond_scale"]
    demo = get_engine("demo", threads=a.threads)
    oracle = Oracle.load()
    timed = TimedDalle(dalle)
    print(f"default backend: {dalle.model.num_params() / 1e6:.2f}M-parameter transformer, "
          f"{dalle.vq.cfg.out_size} px, cond_scale {cond}, batches of {BACKEND_BATCH}; "
          f"{n_prompts} prompt(s) x {len(categories)} categories x {N_MAX} candidates", flush=True)

    done = [0]

    def progress():
        done[0] += 1
        s = timed.batched.seconds[-1]
        print(f"  prompt {done[0]}/{n_prompts * len(categories)}: {N_MAX} candidates sampled in {s:.2f} s "
              f"({timed.batched.last_prompt!r})", flush=True)

    acc = generation_eval(timed, oracle, n_per_category=n_prompts, n_max=N_MAX, ns=NS, clip_engine=demo,
                          settings=settings, log=print, progress=progress, categories=categories)
    sample_s = statistics.mean(timed.batched.seconds)
    images, prompt = timed.batched.last_images, timed.batched.last_prompt
    print(f"load average {load()}", flush=True)

    # (1) throughput
    demo_rate = rerank_rate(demo, prompt, images, repeats)
    print(f"demo CLIP: {demo_rate['per_s']:.0f} candidates/s ({demo_rate['candidates']} in "
          f"{demo_rate['median_s'] * 1000:.1f} ms median of {repeats})", flush=True)
    vit = get_engine("random:ViT-B-32", threads=a.threads)
    torch.set_num_threads(a.threads)
    vit_images = images[:16] if a.quick else images
    vit_rate = rerank_rate(vit, prompt, vit_images, repeats)
    print(f"ViT-B-32 (random weights, 224 px): {vit_rate['per_s']:.1f} candidates/s "
          f"({vit_rate['candidates']} in {vit_rate['median_s']:.2f} s median of {repeats})", flush=True)

    # (2) share of a generation at N = 64
    rerank_s = demo_rate["median_s"] * N_MAX / demo_rate["candidates"]
    share = rerank_s / (sample_s + rerank_s)
    vit_rerank_s = N_MAX / vit_rate["per_s"]
    vit_share = vit_rerank_s / (sample_s + vit_rerank_s)

    # (3) effect
    total = sum(acc[c]["prompts"] for c in acc)
    ranked = {c: {"1": acc[c]["1"], **acc[c]["ranked"], "prompts": acc[c]["prompts"]} for c in acc}  # the plugin's
    overall = {str(n): sum(ranked[c][str(n)] * acc[c]["prompts"] for c in acc) / total for n in NS}
    overall_cos = {str(n): sum(acc[c][str(n)] * acc[c]["prompts"] for c in acc) / total for n in NS}

    print()
    print(f"generation of {N_MAX} candidates (default backend): {sample_s:.2f} s mean over "
          f"{len(timed.batched.seconds)} prompts ({N_MAX / sample_s:.1f} candidates/s)")
    print(f"rerank of {N_MAX} with demo CLIP: {rerank_s * 1000:.1f} ms -> share of generation "
          f"{share * 100:.2f} % (target <= 10 %)")
    print(f"(with random ViT-B-32 instead: {vit_rerank_s:.2f} s -> {vit_share * 100:.1f} %)")
    print()
    print("oracle-judged match of the returned top-1 (N=1: mean over all 64 candidates, no reranking; "
          "N>1: demo CLIP top-1 of N, averaged over every N-subset of the 64)")
    for title, table, total_row in (("ranked as the plugin ranks (rank_score)", ranked, overall),
                                    ("ranked by raw cosine", acc, overall_cos)):
        print(title)
        print(f"{'category':>10} {'prompts':>8} " + " ".join(f"{'N=' + str(n):>7}" for n in NS))
        for cat, r in list(table.items()) + [("overall", {**total_row, "prompts": total})]:
            print(f"{cat:>10} {r['prompts']:>8} " + " ".join(f"{r[str(n)]:>7.3f}" for n in NS))
    elapsed = time.perf_counter() - t0
    print(f"torch threads {torch.get_num_threads()}, load average {load()}, {elapsed:.0f} s in all")
    print(json.dumps({
        "rerank_per_s_demo": round(demo_rate["per_s"], 1),
        "rerank_per_s_vitb32": round(vit_rate["per_s"], 2),
        "rerank_share_of_generation": round(share, 4),
        "rerank_share_of_generation_vitb32": round(vit_share, 4),
        "generation_s_n64": round(sample_s, 3), "rerank_s_n64_demo": round(rerank_s, 4),
        "top1_match": {"overall": {k: round(v, 4) for k, v in overall.items()},
                       **{c: {str(n): round(ranked[c][str(n)], 4) for n in NS} for c in acc}},
        "top1_match_cosine": {"overall": {k: round(v, 4) for k, v in overall_cos.items()},
                              **{c: {str(n): round(acc[c][str(n)], 4) for n in NS} for c in acc}},
        "n1": "mean over all candidates", "prompts_per_category": n_prompts, "categories": list(acc),
        "cond_scale": cond, "backend_batch": BACKEND_BATCH, "repeats": repeats,
        "vitb32_candidates": vit_rate["candidates"], "threads": torch.get_num_threads(),
        "loadavg": [round(x, 2) for x in os.getloadavg()], "seconds": round(elapsed, 1), "quick": a.quick,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
