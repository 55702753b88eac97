"""Time from an embedding's commit to the photo being found by a search in another process.

    PYTHONPATH=platform:. .venv/bin/python -m atelier.search.freshness_bench --photos 100

A throwaway database (as atelier.search.benchmark) with a small library and a published index
snapshot; a child process plays a web process (the index service, refreshing every
ATELIER_SEARCH_REFRESH_S) and searches for each new photo until it is the top hit. The parent
commits one photo with its embedding at a time and reports p50 and max seconds from commit to
found. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

SERVE_TIMEOUT_S = 60.0  # a child gives up (answers -1) after this long


def vector(seed: int, dim: int) -> np.ndarray:
    v = np.random.default_rng(10_000 + seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def serve() -> None:
    """The child: answers each "photo_id seed" line with the time.time() it was first found."""
    import django

    django.setup()
    from atelier.embeddings.services import model_status
    from atelier.search.index_service import index_service

    service = index_service(model_status().model_id)
    dim = service.get().dim
    print("ready", flush=True)
    for line in sys.stdin:  # "photo_id seed": wait until found; "gone photo_id seed": until no longer found
        *gone, photo_id, seed = line.split()
        query, deadline = vector(int(seed), dim), time.monotonic() + SERVE_TIMEOUT_S
        while (int(photo_id) in service.get().search(query, 1).ids) == bool(gone):
            if time.monotonic() > deadline:
                print(-1, flush=True)
                break
            time.sleep(0.002)
        else:
            print(time.time(), flush=True)


def run(photos: int, library: int) -> dict:
    from atelier.search.benchmark import setup_throwaway

    _spec, _db_url, drop = setup_throwaway()
    try:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return _measure(photos, library)
    finally:
        drop()


def _measure(photos: int, library: int) -> dict:
    from django.db import transaction

    from atelier.embeddings.models import PhotoEmbedding
    from atelier.embeddings.services import configured_embed_dim, model_status
    from atelier.library.models import Collection, Photo
    from atelier.search.benchmark import _fill
    from atelier.search.indexing import build_and_publish

    dim = configured_embed_dim()  # of the model setup_throwaway configured
    model_id = model_status().model_id
    _fill(library, model_id, dim)
    build_and_publish(model_id)
    collection = Collection.objects.get(name="million")
    child = subprocess.Popen([sys.executable, "-m", "atelier.search.freshness_bench", "--serve"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        waits = []
        for i in range(photos):
            with transaction.atomic():
                photo = Photo.objects.create(collection=collection, sha256=f"{10**9 + i:064x}", filename=f"new_{i}.jpg",
                                             format="jpg", width=1, height=1, bytes=1)
                PhotoEmbedding.objects.create(photo=photo, model_id=model_id, dim=dim,
                                              vector=PhotoEmbedding.pack(vector(i, dim)))
            committed = time.time()
            child.stdin.write(f"{photo.pk} {i}\n")
            child.stdin.flush()
            waits.append(float(child.stdout.readline()) - committed)
            time.sleep(np.random.default_rng(i).uniform(0, 0.2))  # photos arrive at random moments
    finally:
        child.stdin.close()
        child.wait(30)
    p50, worst = float(np.percentile(waits, 50)), float(max(waits))
    print(f"searchable after commit, {photos} photos, another process: p50 {p50:.3f} s, max {worst:.3f} s")
    return {"photos": photos, "searchable_after_p50_s": round(p50, 3), "searchable_after_max_s": round(worst, 3)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--library", type=int, default=2000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return
    print(json.dumps(run(args.photos, args.library)))


if __name__ == "__main__":
    main()
