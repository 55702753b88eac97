"""Benchmark: how close does photo embedding get to the model's raw speed?

Writes a few hundred real-size JPEGs (2-4 megapixels, synthetic: gradients, sensor-like noise,
shapes) into a temp folder, then for ViT-B-32 (random weights: speed does not depend on them) and
Atelier's demo model measures

  (a) raw:      the model's forward pass alone, on tensors decoded beforehand;
  (b) pipeline: what ingestion does -- decode (draft mode, EXIF) + preprocess in a worker thread,
                forward pass, and "store" every batch into SQLite as the database would;

and prints images/s for both, the ratio b/a (1.0 = decoding fully hidden behind the model), and
what JPEG draft mode saves on decoding alone and on decoding + the model's transform. Last line:
one JSON object.

On a CPU the ratio is bounded by forward / (forward + decode) in core-seconds: decoding needs CPU
that the forward pass would otherwise use. Numbers from a machine shared with other busy processes
are skewed (the scheduler favours the pipeline, which sleeps while waiting for decodes), so compare
runs on a quiet machine.

    .venv/bin/python bench/embed.py [--quick]

With ``--rows N`` it measures the embedding *job* instead (bench/embed_shards.py): time per batch
at the start, middle and end of an N-photo collection in a real database (DATABASE_URL, else
SQLite), the forward pass replaced by a stand-in that waits ``--forward-ms``, and the speed-up of
two worker processes sharing one job:

    DATABASE_URL=postgres://... .venv/bin/python bench/embed.py --rows 1000000 [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import open_clip
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml_core.clip import available_cpus, create_engine, model_status  # noqa: E402
from ml_core.clip.decode import load_image  # noqa: E402

SIZES = [(2048, 1536), (1920, 1280), (2304, 1728), (1728, 2304), (1800, 1200), (1536, 2048)]


def make_corpus(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` distinct JPEGs of 2.2-4 MP (landscape and portrait), quality 90."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 4, size=(2400, 2400, 3)).astype(np.float32)  # cropped differently per photo
    paths = []
    for i in range(count):
        width, height = SIZES[i % len(SIZES)]
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        a, b, c = rng.uniform(0.2, 1.0, 3)
        pixels = np.stack([a * x / width, b * y / height, c * (x + y) / (width + height)], -1) * 230
        oy, ox = rng.integers(0, 2400 - height + 1), rng.integers(0, 2400 - width + 1)
        pixels += noise[oy:oy + height, ox:ox + width]
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(8):
            x0, y0 = int(rng.integers(0, width - 200)), int(rng.integers(0, height - 200))
            box = [x0, y0, x0 + int(rng.integers(60, width // 2)), y0 + int(rng.integers(60, height // 2))]
            colour = tuple(int(v) for v in rng.integers(0, 255, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
        path = folder / f"photo_{i:04d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def time_raw(engine, tensors, batch_size: int) -> float:
    """(a) seconds of the forward pass alone on pre-decoded input tensors."""
    import torch

    start = time.perf_counter()
    for i in range(0, len(tensors), batch_size):
        engine.encode_pixels(torch.stack(tensors[i:i + batch_size]))
    return time.perf_counter() - start


def time_pipeline(engine, paths, db: sqlite3.Connection, batch_size: int) -> tuple[float, int]:
    """(b) seconds of decode + preprocess + forward + one SQLite transaction per batch."""
    failed = 0
    start = time.perf_counter()
    for batch in engine.iter_image_batches(paths, batch_size=batch_size):
        rows = [(int(i), engine.model_id, v.tobytes()) for i, v in zip(batch.indices, batch.vectors)]
        with db:
            db.executemany("INSERT INTO embedding VALUES (?, ?, ?)", rows)
        failed += len(batch.errors)
    return time.perf_counter() - start, failed


def time_decode(paths, min_size: int | None, transform=None) -> float:
    """images/s of decoding (open, optional draft, EXIF, RGB) and optionally the model's
    transform, in one thread."""
    start = time.perf_counter()
    for path in paths:
        image = load_image(path, min_size=min_size)
        if transform is not None:
            transform(image)
    return len(paths) / (time.perf_counter() - start)


def bench_model(label: str, spec: str, paths, folder: Path, batch_size: int, rounds: int) -> dict:
    """Raw and pipeline runs alternate on slices of 4 batches, and the ratio is the median of the
    paired slice ratios: bursts of load from other users of the machine then hit a few pairs
    instead of skewing the whole result. Each pipeline slice pays its start-up (a quarter batch
    decoded before the model has work), which a long ingestion pays once: ~1 % here."""
    engine = create_engine(spec, batch_size=batch_size)
    tensors = [engine.preprocess_image(p) for p in paths]
    time_raw(engine, tensors[:batch_size], batch_size)  # warm-up: allocator, kernels
    db = sqlite3.connect(folder / f"{label}.sqlite")
    db.execute("CREATE TABLE embedding (photo INTEGER, model_id TEXT, vector BLOB)")
    raw_s = pipe_s = raw_cpu = 0.0
    pair_ratios, failed = [], 0
    step = 4 * batch_size
    for _ in range(rounds):
        for i in range(0, len(paths), step):
            cpu_start = time.process_time()
            raw = time_raw(engine, tensors[i:i + step], batch_size)
            raw_cpu += time.process_time() - cpu_start
            pipe, bad = time_pipeline(engine, paths[i:i + step], db, batch_size)
            raw_s, pipe_s, failed = raw_s + raw, pipe_s + pipe, failed + bad
            pair_ratios.append(raw / pipe)
    stored = db.execute("SELECT COUNT(*) FROM embedding").fetchone()[0]
    db.close()
    assert stored + failed == rounds * len(paths), (stored, failed)
    done = rounds * len(paths)
    return {"label": label, "spec": spec, "model_id": engine.model_id, "raw": done / raw_s,
            "pipeline": done / pipe_s, "ratio": float(np.median(pair_ratios)),
            "ratio_of_totals": raw_s / pipe_s, "failed": failed,
            "input": engine.image_size, "decode_workers": engine.decode_workers,
            "cores_used": raw_cpu / raw_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer photos, one round (< 1 minute)")
    parser.add_argument("--images", type=int, help="number of photos (default 256, quick 32)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, help="passes over the photos (default 3, quick 1)")
    parser.add_argument("--rows", type=int, help="measure the sharded job's database work on this many photos")
    parser.add_argument("--forward-ms", type=float, default=50.0, help="stand-in forward pass per batch (--rows)")
    parser.add_argument("--worker-rows", type=int, help="photos of the two-worker run (default 20000, quick 4000)")
    args = parser.parse_args()
    if args.rows:
        return job_bench(args)
    count = args.images or (32 if args.quick else 256)
    rounds = args.rounds or (1 if args.quick else 3)

    demo_ready = model_status("demo").ready
    demo_spec = "demo" if demo_ready else "random:atelier-demo-clip"
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        paths = make_corpus(folder, count)
        megabytes = sum(p.stat().st_size for p in paths) / len(paths) / 2**20
        megapixels = float(np.mean([np.prod(Image.open(p).size) for p in paths])) / 1e6
        print(f"corpus: {count} JPEGs, mean {megapixels:.1f} MP, {megabytes:.2f} MB "
              f"(written in {time.perf_counter() - start:.0f} s); {available_cpus()} CPUs")

        sample = paths[: min(len(paths), 48)]
        full = time_decode(sample, None)
        draft224, draft64 = time_decode(sample, 224), time_decode(sample, 64)
        vitb32_val = open_clip.image_transform(224, is_train=False)
        full_prep, draft_prep = time_decode(sample, None, vitb32_val), time_decode(sample, 224, vitb32_val)

        results = [bench_model("vitb32", "random:ViT-B-32", paths, folder, args.batch_size, rounds),
                   bench_model("demo", demo_spec, paths, folder, args.batch_size, rounds)]

    import torch

    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} intra-op threads, "
          f"batch {args.batch_size}, device {'cuda' if torch.cuda.is_available() else 'cpu'}")
    if not demo_ready:
        print("demo: weights absent (run `python -m ml_core.train clip`) -> demo config, random init")
    print(f"\n{'model':<8} {'input':>5} {'raw img/s':>10} {'pipeline img/s':>15} {'ratio b/a*':>10} "
          f"{'failed':>7} {'decoders':>9} {'raw cores used':>15}")
    for r in results:
        print(f"{r['label']:<8} {r['input']:>5} {r['raw']:>10.1f} {r['pipeline']:>15.1f} "
              f"{r['ratio']:>10.2f} {r['failed']:>7} {r['decode_workers']:>9} {r['cores_used']:>15.2f}")
    print("* median of paired slice ratios (raw and pipeline alternate on slices of 4 batches)")
    on_cpu = not torch.cuda.is_available()
    vit_busy = on_cpu and results[0]["cores_used"] < 0.85 * torch.get_num_threads()
    if vit_busy:
        print("warning: the raw forward pass got fewer cores than it has threads: the machine is "
              "busy with other work and the ratios are skewed; rerun when it is quiet")
    print(f"\ndecode only (1 thread, {len(sample)} photos): full {full:.1f} img/s, "
          f"draft@224 {draft224:.1f} img/s ({draft224 / full:.2f}x), "
          f"draft@64 {draft64:.1f} img/s ({draft64 / full:.2f}x)")
    print(f"decode + ViT-B-32 transform: full {full_prep:.1f} img/s, draft@224 {draft_prep:.1f} img/s "
          f"({draft_prep / full_prep:.2f}x)")

    vit, demo = results
    summary = {
        "vitb32_raw_ips": round(vit["raw"], 2), "vitb32_pipeline_ips": round(vit["pipeline"], 2),
        "vitb32_ratio": round(vit["ratio"], 3), "vitb32_ratio_of_totals": round(vit["ratio_of_totals"], 3),
        "demo_raw_ips": round(demo["raw"], 2), "demo_pipeline_ips": round(demo["pipeline"], 2),
        "demo_ratio": round(demo["ratio"], 3), "demo_weights": "trained" if demo_ready else "random",
        "draft_decode_speedup": round(draft224 / full, 2), "draft_decode_speedup_64px": round(draft64 / full, 2),
        "draft_decode_preprocess_speedup": round(draft_prep / full_prep, 2),
        "decode_full_ips": round(full, 1), "images": count, "mean_megapixels": round(megapixels, 2),
        "cpus": available_cpus(), "torch_threads": torch.get_num_threads(),
        "decode_workers": vit["decode_workers"], "demo_decode_workers": demo["decode_workers"],
        "batch_size": args.batch_size,
        "vitb32_raw_cores_used": round(vit["cores_used"], 2), "machine_busy": vit_busy,
    }
    print(json.dumps(summary))


def job_bench(args) -> None:
    from bench.embed_shards import run

    rows = min(args.rows, 20_000) if args.quick else args.rows
    batch = 64 if args.batch_size == 16 else args.batch_size  # the job's CPU batch unless given
    r = run(rows, batch=batch, dim=512, forward_ms=args.forward_ms, batches=5 if args.quick else 20,
            worker_rows=args.worker_rows or (4000 if args.quick else 20_000), shard_size=1024)
    print(f"database {r['database']}, {r['rows']} photos, batch {r['batch']}, stand-in forward {r['forward_ms']} ms")
    print(f"{'batch at':<10} {'ms':>8}")
    for where in ("start", "middle", "end"):
        print(f"{where:<10} {r[f'batch_cost_{where}_ms']:>8}")
    print(f"end / start: {r['batch_cost_end_over_start']}, slowest / start: {r['batch_cost_max_over_start']}")
    print(f"{r['two_workers_rows']} photos: 1 worker {r['one_worker_s']} s, 2 workers {r['two_workers_s']} s, "
          f"speed-up {r['two_workers_speedup']} ({r['cpus']} CPUs)")
    print(json.dumps(r))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
