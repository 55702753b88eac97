"""The embedding job's database work at collection scale (`bench/embed.py --rows N`).

A collection of N photos is made in a fresh database (PostgreSQL when DATABASE_URL is set, else a
temporary SQLite file); the model's forward pass is replaced by a stand-in that waits
`--forward-ms` per batch (the work of another device) and returns random vectors, so what is
measured is the job: keyset batch queries, bulk writes and cursor commits.

  batch cost at the start, middle and end of the collection: the photos before each point are
  embedded first, then a few batches are timed there (keyset cursors: the cost must not grow);
  two workers: the same job over a fresh collection by 1 then 2 processes sharing its shards.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


class StandInEngine:
    """What the job needs of a ClipEngine: a batch size, a model id, encode_images."""

    def __init__(self, batch_size: int, dim: int, forward_s: float):
        self.batch_size, self.dim, self.forward_s, self.model_id = batch_size, dim, forward_s, "bench:stand-in"

    def encode_images(self, paths):
        from types import SimpleNamespace

        time.sleep(self.forward_s)
        vectors = np.random.default_rng(len(paths)).standard_normal((len(paths), self.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return SimpleNamespace(vectors=vectors, errors={}, model_id=self.model_id)


def fresh_database() -> tuple[str | None, callable]:
    """A new empty database for the run, and how to drop it."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        folder = tempfile.mkdtemp(prefix="atelier-embed-bench-")
        os.environ["ATELIER_VAR_DIR"] = folder
        return None, lambda: None
    import psycopg

    name = f"atelier_bench_{uuid.uuid4().hex[:8]}"
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    os.environ["DATABASE_URL"] = f"{base}/{name}"
    os.environ.setdefault("ATELIER_VAR_DIR", tempfile.mkdtemp(prefix="atelier-embed-bench-"))

    def drop():
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return name, drop


def setup_django(batch: int, dim: int, forward_s: float):
    import sys

    sys.path[:0] = [str(REPO / "platform"), str(REPO)]
    os.environ.update(DJANGO_SETTINGS_MODULE="atelier.settings", ATELIER_TASKS_MODE="inline",
                      ATELIER_TAG_ON_EMBED="0", SECRET_KEY=os.environ.get("SECRET_KEY", "bench"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from atelier.embeddings import tasks

    engine = StandInEngine(batch, dim, forward_s)
    tasks.engine_for = lambda model_id: engine  # the stand-in forward; everything else is the job's code


def analyze() -> None:
    """Fresh planner statistics after bulk loads (autovacuum would do it within a minute)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def make_collection(name: str, rows: int):
    from django.contrib.auth import get_user_model

    from atelier.library.models import Collection, Photo

    owner, _ = get_user_model().objects.get_or_create(username="bench")
    collection = Collection.objects.create(owner=owner, name=name)
    for start in range(0, rows, 20_000):
        Photo.objects.bulk_create([Photo(collection=collection, sha256=hashlib.sha256(f"{name}-{i}".encode()).hexdigest(), filename=f"{i}.jpg",
                                         format="jpg", width=1, height=1, bytes=1)
                                   for i in range(start, min(rows, start + 20_000))], batch_size=5000)
    analyze()
    return owner, collection


def new_job(owner, collection, *, lanes: int, shard_size: int):
    from django.db.models import Max

    from atelier.jobs.services import create_job
    from atelier.library.models import Photo

    photos = Photo.objects.filter(collection=collection)
    return create_job(owner=owner, kind="embed_photos", total=photos.count(), collection=collection, params={
        "photo_ids": None, "model_id": "bench:stand-in", "max_id": photos.aggregate(m=Max("pk"))["m"],
        "shard_size": shard_size, "lanes": lanes})


def embed_before(collection, upto_id: int, dim: int) -> None:
    """Photos up to `upto_id` get vectors, as if the job had reached that point."""
    from atelier.embeddings.models import PhotoEmbedding
    from atelier.embeddings.services import photos_missing_embeddings

    vector = PhotoEmbedding.pack(np.ones(dim, np.float32) / np.sqrt(dim))
    missing = photos_missing_embeddings("bench:stand-in", collection.photos.filter(pk__lte=upto_id))
    ids = list(missing.values_list("pk", flat=True))
    for start in range(0, len(ids), 10_000):
        PhotoEmbedding.objects.bulk_create([PhotoEmbedding(photo_id=i, model_id="bench:stand-in", dim=dim, vector=vector)
                                            for i in ids[start:start + 10_000]], batch_size=5000)
    analyze()


def batch_costs(owner, collection, *, rows: int, dim: int, batches: int) -> dict[str, float]:
    """Seconds per batch at 0, 50 and 99 % of the collection (one shard from each point)."""
    from atelier.embeddings.tasks import embed_photos
    from atelier.jobs.models import JobShard

    ids = list(collection.photos.order_by("pk").values_list("pk", flat=True))
    job = new_job(owner, collection, lanes=1, shard_size=rows)
    costs = {}
    for label, fraction in (("start", 0.0), ("middle", 0.5), ("end", 0.99)):
        at = int(fraction * (len(ids) - 1))
        if at:
            embed_before(collection, ids[at - 1], dim)
        shard = JobShard.objects.create(job=job, phase=9, lo=ids[at] - 1, hi=ids[-1], cursor=ids[at] - 1,
                                        lane=f"bench:{label}")
        embed_photos.spec.work(job, shard, deadline=0)  # warm: plans and caches
        started = time.perf_counter()
        for _ in range(batches):
            embed_photos.spec.work(job, shard, deadline=0)  # exactly one batch per call
        costs[label] = (time.perf_counter() - started) / batches
    return costs


def lane_loop(job_id: int, lane: str) -> None:
    """What a worker's messages of one lane do (jobs.shards.run_lane, without the broker)."""
    from django.db import connections

    from atelier.embeddings.tasks import embed_photos
    from atelier.jobs import shards
    from atelier.jobs.models import Job

    connections.close_all()  # a forked process opens its own connection
    while True:
        claim = shards.claim_shard(embed_photos.spec, job_id, lane)
        if claim.shard is None:
            if claim.wait_until is None:
                return
            time.sleep(0.05)
            continue
        embed_photos.spec.work(Job.objects.get(pk=job_id), claim.shard, time.monotonic() + 5)
        shards._release(claim.shard)


def run_workers(owner, collection, processes: int, *, shard_size: int) -> float:
    from django.db import connections

    job = new_job(owner, collection, lanes=processes, shard_size=shard_size)
    connections.close_all()
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    workers = [context.Process(target=lane_loop, args=(job.pk, str(i))) for i in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started


def check_each_photo_once(collection) -> None:
    from django.db.models import Sum

    from atelier.embeddings.models import PhotoEmbedding
    from atelier.jobs.models import JobShard

    n = collection.photos.count()
    assert PhotoEmbedding.objects.filter(photo__collection=collection).count() == n
    done = JobShard.objects.filter(job__collection=collection).order_by().values("job").annotate(d=Sum("done"))
    assert all(row["d"] == n for row in done), "a photo embedded twice (or missed)"


def run(rows: int, *, batch: int, dim: int, forward_ms: float, batches: int, worker_rows: int, shard_size: int) -> dict:
    name, drop = fresh_database()
    try:
        setup_django(batch, dim, forward_ms / 1000)
        from django.db import connection

        owner, big = make_collection("big", rows)
        costs = batch_costs(owner, big, rows=rows, dim=dim, batches=batches)
        timings = {}
        for processes in (1, 2):
            _, fresh = make_collection(f"workers{processes}", worker_rows)
            timings[processes] = run_workers(owner, fresh, processes, shard_size=shard_size)
            check_each_photo_once(fresh)
        return {"rows": rows, "batch": batch, "dim": dim, "forward_ms": forward_ms, "database": connection.vendor,
                "batch_cost_start_ms": round(costs["start"] * 1000, 2),
                "batch_cost_middle_ms": round(costs["middle"] * 1000, 2),
                "batch_cost_end_ms": round(costs["end"] * 1000, 2),
                "batch_cost_end_over_start": round(costs["end"] / costs["start"], 3),
                "batch_cost_max_over_start": round(max(costs.values()) / costs["start"], 3),  # the middle too
                "two_workers_rows": worker_rows, "shard_size": shard_size,
                "one_worker_s": round(timings[1], 2), "two_workers_s": round(timings[2], 2),
                "two_workers_speedup": round(timings[1] / timings[2], 3), "cpus": os.cpu_count()}
    finally:
        drop()
