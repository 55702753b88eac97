"""HTTP latency of GET /api/search/ over a large collection (used by bench/search.py's http_bench).

    PYTHONPATH=platform:. .venv/bin/python -m atelier.search.benchmark --n 1000000

Creates a throwaway database (PostgreSQL when DATABASE_URL points at one, else a temporary SQLite
file), fills it with one collection of ``n`` photo rows (no image files) and their embeddings
(clustered synthetic unit vectors of the model's dimension, written with COPY on PostgreSQL),
builds the index through the index service, then times the endpoint through Django's test client
(full middleware, session auth, permissions, serialization). Text embeddings of the queries are
warmed once first (the engine's LRU cache serves repeated queries, as in use); the cost of a
first-time query encoding is reported separately. Prints a table, then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid

import numpy as np

QUERIES = ["red circle", "a blue square", "circle -red", "red + circle", "green triangle on a grey background",
           "two yellow stars", "orange star", "a small pink heart", "orange:2 + hexagon", "purple cross at the top",
           "a pink diamond", "teal hexagon", "cyan diamond left of a red square", "three circles", "crimson cross near a square",
           "large green star", "blue cross -red", "a heart above a circle", "tiny blue dots", "five squares"]
# Every query uses words the demo model knows (its profile's known_words): a query naming none of them
# answers "no good match" before searching, which would time a shortcut instead of a search.


def _pick_model() -> str:
    from ml_core.clip import model_status

    return "demo" if model_status("demo").ready else "random:atelier-demo-clip"


def _throwaway_database() -> tuple[str, callable]:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        name = f"atelier_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        new_url = url.rsplit("/", 1)[0] + "/" + name

        def drop():
            from django.db import connections

            connections.close_all()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return new_url, drop
    folder = tempfile.mkdtemp(prefix="atelier-bench-")
    return f"sqlite:///{folder}/bench.sqlite3", lambda: None


def _vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((256, dim)).astype(np.float32)
    out = np.empty((n, dim), np.float16)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        v = centres[rng.integers(0, 256, stop - start)] + 0.6 * rng.standard_normal((stop - start, dim)).astype(np.float32)
        out[start:stop] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _fill(n: int, model_id: str, dim: int):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from atelier.embeddings.models import PhotoEmbedding
    from atelier.library.models import Collection, Photo

    user = get_user_model().objects.create_user("bench", password="bench")
    collection = Collection.objects.create(owner=user, name="million")
    vectors = _vectors(n, dim)
    old = timezone.now() - timezone.timedelta(hours=1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT nextval(pg_get_serial_sequence('library_photo', 'id'))")
            first = cur.fetchone()[0]
            with cur.copy("COPY library_photo (id, collection_id, sha256, filename, title, caption, format, width, height, "
                          "bytes, created_at, thumbs_ready, process_error) FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row((first + i, collection.pk, f"{i:064x}", f"img_{i}.jpg", f"photo {i}", "", "jpg",
                                    640, 480, 1000, old, False, ""))
            with cur.copy("COPY embeddings_photoembedding (photo_id, model_id, dim, vector, error, created_at) FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row((first + i, model_id, dim, vectors[i].astype("<f2").tobytes(), "", old))
            cur.execute("SELECT setval(pg_get_serial_sequence('library_photo', 'id'), %s)", [first + n])
            cur.execute("ANALYZE library_photo; ANALYZE embeddings_photoembedding")
    else:
        for start in range(0, n, 20_000):
            stop = min(n, start + 20_000)
            photos = Photo.objects.bulk_create([
                Photo(collection=collection, sha256=f"{i:064x}", filename=f"img_{i}.jpg", title=f"photo {i}", format="jpg",
                      width=640, height=480, bytes=1000) for i in range(start, stop)])
            PhotoEmbedding.objects.bulk_create([
                PhotoEmbedding(photo=p, model_id=model_id, dim=dim, vector=vectors[i].astype("<f2").tobytes())
                for i, p in zip(range(start, stop), photos)])
        PhotoEmbedding.objects.update(created_at=old)
    return user


def setup_throwaway() -> tuple[str, str, callable]:
    """A throwaway database and VAR_DIR in this process's environment (children inherit them), Django set up."""
    spec = _pick_model()
    db_url, drop = _throwaway_database()
    # The library is random vectors, not photos: the model's calibrated relevance cutoff would answer
    # "no good match" to every query, so it is switched off (every request returns a full page).
    os.environ.update({"DATABASE_URL": db_url, "ATELIER_CLIP_MODEL": spec, "DJANGO_SETTINGS_MODULE": "atelier.settings",
                       "ATELIER_VAR_DIR": tempfile.mkdtemp(prefix="atelier-bench-var-"), "LOG_LEVEL": "WARNING",
                       "ATELIER_SEARCH_MIN_SCORE": "-1"})
    os.environ.setdefault("SECRET_KEY", "bench")
    import django

    django.setup()
    return spec, db_url, drop


def run(n: int, requests: int) -> dict:
    spec, db_url, drop = setup_throwaway()
    try:
        return _measure(n, requests, spec, db_url)
    finally:
        drop()


def _measure(n: int, requests: int, spec: str, db_url: str) -> dict:
    from django.core.management import call_command
    from django.test import Client

    from atelier.embeddings.services import model_status, worker_engine
    from atelier.search.index_service import index_service
    from atelier.search.indexing import build_and_publish

    call_command("migrate", verbosity=0)
    engine = worker_engine()  # setup_throwaway configured `spec`; the same engine the search view encodes with
    model_id = model_status().model_id
    t0 = time.perf_counter()
    user = _fill(n, model_id, engine.embed_dim)
    fill_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    manifest = build_and_publish(model_id)  # what the worker's job does
    index_service(model_id).get()
    build_s = time.perf_counter() - t0
    index = manifest  # factory and nprobe of the served snapshot
    t0 = time.perf_counter()
    engine.encode_texts(["an uncached query about a violet moon"], use_cache=False)
    encode_ms = (time.perf_counter() - t0) * 1000
    client = Client()
    client.force_login(user)
    for q in QUERIES:  # warm: text cache, allow-list cache, connection
        assert client.get("/api/search/", {"q": q, "limit": 20}).status_code == 200
    times, slowest = [], []
    for i in range(requests):
        t = time.perf_counter()
        response = client.get("/api/search/", {"q": QUERIES[i % len(QUERIES)], "limit": 20})
        times.append((time.perf_counter() - t) * 1000)
        slowest = sorted(slowest + [(times[-1], QUERIES[i % len(QUERIES)])], reverse=True)[:5]
        assert response.status_code == 200 and len(response.json()["results"]) == 20, (QUERIES[i % len(QUERIES)], response.json())
    p50, p99 = np.percentile(times, [50, 99])
    result = {"n": n, "model": spec, "database": db_url.split(":")[0], "index": index.factory, "nprobe": index.nprobe,
              "fill_s": round(fill_s, 1), "index_build_s": round(build_s, 1), "uncached_text_encode_ms": round(encode_ms, 2),
              "requests": requests, "http_p50_ms": round(float(p50), 2), "http_p99_ms": round(float(p99), 2),
              "http_mean_ms": round(float(np.mean(times)), 2)}
    print(f"HTTP GET /api/search/ over {n:,} photos ({result['database']}, model {spec}, {index.factory} nprobe {index.nprobe})")
    print(f"  fill {fill_s:.1f} s, index build {build_s:.1f} s, uncached text encode {encode_ms:.1f} ms")
    print(f"  {requests} requests: p50 {p50:.2f} ms, p99 {p99:.2f} ms, mean {np.mean(times):.2f} ms")
    print("  slowest: " + ", ".join(f"{ms:.0f} ms {q!r}" for ms, q in slowest))
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.n, args.requests)))


if __name__ == "__main__":
    main()
