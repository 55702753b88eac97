"""Benchmark: the library timeline and search over one collection of 100,000 photos, SQLite and PostgreSQL.

For each database it makes a throwaway one (a temporary SQLite file; a new PostgreSQL database
beside DATABASE_URL's), seeds one collection of ``n`` photo rows (no image files: the pages read
rows only; half have an EXIF date, the added dates spread over ten years, one photo in ten has an
accepted tag) with one embedding each (clustered random unit vectors of the CLIP model's size,
indexed by the search index build the worker runs), then times requests through Django's test
client (full middleware, session auth, permissions, templates) and reports p50/p99 server time of:

- the first timeline page   GET /api/photos/?collection=C&limit=400
- a page near the end        the same with the keyset cursor of the photo 400 from the end
- the month index            GET /api/photos/months/?collection=C
- a filtered search page     GET /search/?q=red+circle&collection=C&tag=sunset (the results page as a
                             browser gets it: a CLIP text query within the tag chip and collection
                             filters, its first 20 hits rendered, the tag chips counted)

The vectors are random, not photos: the model's relevance cutoff would answer "no good match" to
every query, so it is switched off (ATELIER_SEARCH_MIN_SCORE=-1) and every search renders 20 hits.

Goal on a 2-core machine: every p50 <= 150 ms, the deep page within 1.5x of the first.

    .venv/bin/python bench/library.py            # 100,000 rows, 60 requests each, both databases
    .venv/bin/python bench/library.py --quick    # 100,000 rows, 10 requests each (under a minute)
    .venv/bin/python bench/library.py --database sqlite --n 20000

PostgreSQL runs when DATABASE_URL points at one (the role may create databases), else is skipped.
Prints a table, then as its last line one JSON object (the PostgreSQL run when there is one).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PAGE = 400  # the page size the timeline asks for (frontend/static/atelier/timeline.js)
TAG = "sunset"
QUERY = "red circle"
SEARCH_HITS = 20  # the results page's first page


def seed(n: int):
    """One collection of n photo rows, newest first every 50 minutes back from 2026-06-01 (ids ascending
    with age so the id order and the date order disagree, as after an import)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from atelier.library.models import Collection, Photo
    from atelier.tagging.models import PhotoTag, Tag, Vocabulary

    user = get_user_model().objects.create_user("bench", password="bench")
    collection = Collection.objects.create(owner=user, name="hundred thousand")
    newest = datetime(2026, 6, 1, tzinfo=timezone.utc)

    def row(i):
        added = newest - timedelta(minutes=50 * i)
        taken = added - timedelta(days=3) if i % 2 else None
        return (collection.pk, f"{i:064x}", f"IMG_{i:06d}.jpg", f"Photo {i}" if i % 3 else "", "", "jpg", 640, 480,
                1000, taken, added, True, "")

    insert_rows("library_photo", "collection_id, sha256, filename, title, caption, format, width, height, bytes, "
                "taken_at, created_at, thumbs_ready, process_error", (row(i) for i in range(n)))
    _seed_embeddings(collection)
    tag = Tag.objects.create(vocabulary=Vocabulary.objects.create(collection=collection, name="scenes"), name=TAG)
    ids = Photo.objects.filter(collection=collection).values_list("id", flat=True)[::10]
    PhotoTag.objects.bulk_create([PhotoTag(photo_id=pk, tag=tag, state="accepted") for pk in ids], batch_size=5000)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return user, collection


def _seed_embeddings(collection) -> None:
    """One stored vector per photo for the configured CLIP model, as the embed job leaves them."""
    from atelier.embeddings.services import model_status
    from atelier.library.models import Photo
    from atelier.search.benchmark import _vectors
    from ml_core.clip import get_engine

    model_id, dim = model_status().model_id, get_engine(os.environ["ATELIER_CLIP_MODEL"]).embed_dim
    ids = list(Photo.objects.filter(collection=collection).order_by("id").values_list("id", flat=True))
    vectors, now = _vectors(len(ids), dim).astype("<f2"), datetime.now(timezone.utc)
    insert_rows("embeddings_photoembedding", "photo_id, model_id, dim, vector, error, created_at",
                ((pk, model_id, dim, v.tobytes(), "", now) for pk, v in zip(ids, vectors)))


def insert_rows(table: str, columns: str, rows, chunk: int = 20_000) -> None:
    """Many rows fast: COPY on PostgreSQL, plain executemany on SQLite (building ORM objects for
    bulk_create took most of the seeding time)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:   # one commit (SQLite's autocommit syncs every row)
        if connection.vendor == "postgresql":
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(columns.split(',')))})"
        as_stored = connection.ops.adapt_datetimefield_value   # how Django writes datetimes to SQLite
        batch = []
        for row in rows:
            batch.append(tuple(as_stored(v) if isinstance(v, datetime) else v for v in row))
            if len(batch) == chunk:
                cur.executemany(sql, batch)
                batch = []
        if batch:
            cur.executemany(sql, batch)


def build_index() -> str:
    """What the worker's build_search_index job does, then the web side maps the snapshot."""
    from atelier.embeddings.services import model_status
    from atelier.search.index_service import index_service
    from atelier.search.indexing import build_and_publish

    model_id = model_status().model_id
    manifest = build_and_publish(model_id)
    index_service(model_id).get()
    return manifest.plan.describe()


def timed(client, requests: int, url: str, params: dict) -> list[float]:
    assert client.get(url, params).status_code == 200  # warm
    times = []
    for _ in range(requests):
        t = time.perf_counter()
        response = client.get(url, params)
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, response.content[:300]
    return times


def measure(n: int, requests: int) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from atelier.library import timeline
    from atelier.library.models import Photo

    call_command("migrate", verbosity=0)
    t0 = time.perf_counter()
    user, collection = seed(n)
    seed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = build_index()
    index_s = time.perf_counter() - t0
    client = Client()
    client.force_login(user)
    near_end = timeline.ordered(Photo.objects.filter(collection=collection), "taken")[n - PAGE - 1]
    base = {"collection": collection.pk, "limit": PAGE}
    cases = {
        "timeline_first": ("/api/photos/", base),
        "timeline_deep": ("/api/photos/", {**base, "cursor": timeline.cursor_after(near_end, "taken")}),
        "month_index": ("/api/photos/months/", {"collection": collection.pk}),
        "search_page": ("/search/", {"q": QUERY, "collection": collection.pk, "tag": TAG}),
    }
    deep = client.get("/api/photos/", cases["timeline_deep"][1]).json()
    assert len(deep["results"]) == PAGE and deep["next_cursor"] is None, "the deep page is not the last one"
    found = client.get("/search/", cases["search_page"][1]).content.decode()
    assert found.count('data-photo="') == SEARCH_HITS, "the search page does not show a full page of hits"
    result = {"n": n, "database": connection.vendor, "seed_s": round(seed_s, 1), "index_build_s": round(index_s, 1),
              "index": index, "requests": requests}
    for name, (url, params) in cases.items():
        p50, p99 = np.percentile(timed(client, requests, url, params), [50, 99])
        result[f"{name}_p50_ms"], result[f"{name}_p99_ms"] = round(float(p50), 1), round(float(p99), 1)
    return result


def run_one(database: str, n: int, requests: int) -> dict:
    """In this process: point Django at a throwaway database of that kind, measure, drop it."""
    if database == "sqlite":
        os.environ.pop("DATABASE_URL", None)
    sys.path[:0] = [str(REPO / "platform"), str(REPO)]
    from atelier.search.benchmark import _pick_model, _throwaway_database

    db_url, drop = _throwaway_database()
    os.environ.update({"DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "atelier.settings", "LOG_LEVEL": "WARNING",
                       "ATELIER_VAR_DIR": tempfile.mkdtemp(prefix="atelier-bench-var-"), "ATELIER_TAG_ON_EMBED": "0",
                       "ATELIER_CLIP_MODEL": _pick_model(), "ATELIER_SEARCH_MIN_SCORE": "-1"})
    os.environ.setdefault("SECRET_KEY", "bench")
    import django

    django.setup()
    try:
        return measure(n, requests)
    finally:
        drop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 requests per case instead of 60")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child run: print its JSON only
    args = parser.parse_args(argv)
    requests = args.requests or (10 if args.quick else 60)
    if args.one:
        print(json.dumps(run_one(args.database, args.n, requests)))
        return 0
    databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    if "postgres" in databases and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("PostgreSQL skipped: DATABASE_URL does not point at PostgreSQL")
        databases.remove("postgres")
    results = []
    for database in databases:  # one process each: Django's settings are read once
        out = subprocess.run([sys.executable, __file__, "--one", "--database", database, "--n", str(args.n),
                              "--requests", str(requests)], capture_output=True, text=True, check=False)
        if out.returncode:
            print(out.stdout, out.stderr, sep="\n")
            return out.returncode
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"Timeline and search over one collection, server time in ms (Django test client, {requests} requests each, "
          f"timeline page {PAGE}, search page {SEARCH_HITS} hits of {QUERY!r} tagged {TAG!r})")
    print(f"{'database':<11}{'photos':>9}{'seed s':>8}{'index s':>9}  {'first p50/p99':>14}{'deep p50/p99':>14}"
          f"{'months p50/p99':>16}{'search p50/p99':>16}")
    for r in results:
        cells = [f"{r[k + '_p50_ms']:.1f}/{r[k + '_p99_ms']:.1f}" for k in ("timeline_first", "timeline_deep", "month_index", "search_page")]
        print(f"{r['database']:<11}{r['n']:>9,}{r['seed_s']:>8}{r['index_build_s']:>9}  {cells[0]:>14}{cells[1]:>14}{cells[2]:>16}{cells[3]:>16}")
    print(f"index: {results[-1]['index']}")
    print(json.dumps(results[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
