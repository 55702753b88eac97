"""Id-range shards within one collection walk the (collection, id) index, not the whole photo table."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
from django.db import connection

from atelier.embeddings.services import embedding_scope, photos_missing_embeddings
from atelier.library.models import Collection, Photo
from tests.conftest import missing_service

pytestmark = pytest.mark.django_db(transaction=True)  # VACUUM runs outside a transaction


def plan_of(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_a_shard_query_of_one_collection_uses_the_collection_id_index(owner):
    if connection.vendor != "postgresql":
        missing_service("DATABASE_URL does not point at PostgreSQL")
    ours, others = (Collection.objects.create(owner=owner, name=name) for name in ("ours", "others"))
    # photos of many collections interleave in the table: ours is 1 row in 20 of an id range
    Photo.objects.bulk_create([Photo(collection=ours if i % 20 == 0 else others, sha256=f"{i:064d}", filename=f"p{i}.png",
                                     format="png", width=8, height=8, bytes=1) for i in range(30_000)], batch_size=5000)
    with connection.cursor() as cursor:  # as autovacuum leaves a table after a bulk import
        cursor.execute("VACUUM ANALYZE library_photo")
    ids = list(Photo.objects.filter(collection=ours).order_by("pk").values_list("pk", flat=True))
    lo, hi = ids[100], ids[-100]
    # the embedding job's next shard boundary: keyset from the frontier, within the collection
    boundary = (photos_missing_embeddings("some-model", embedding_scope(ours.pk))
                .filter(pk__gt=lo, pk__lte=hi).order_by("pk").values_list("pk", flat=True)[999:1000])
    plan = plan_of(boundary)
    assert "photo_coll_id" in plan, plan
    assert list(boundary) == [ids[1100]]


def rows_read_from(table: str, queryset) -> int:
    """Rows PostgreSQL's executor read from `table`'s scans to answer `queryset` (EXPLAIN ANALYZE)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)

    def walk(node):
        here = node.get("Actual Rows", 0) * node.get("Actual Loops", 1) if node.get("Relation Name") == table else 0
        return here + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan[0]["Plan"])


def test_an_embedding_batch_mid_collection_reads_no_vectors_before_its_cursor(owner):
    if connection.vendor != "postgresql":
        missing_service("DATABASE_URL does not point at PostgreSQL")
    from atelier.embeddings.models import PhotoEmbedding
    from atelier.embeddings.tasks import EmbedPhotos

    ours = Collection.objects.create(owner=owner, name="ours")
    Photo.objects.bulk_create([Photo(collection=ours, sha256=f"{i:064d}", filename=f"p{i}.png", format="png",
                                     width=8, height=8, bytes=1) for i in range(40_000)], batch_size=5000)
    ids = list(Photo.objects.filter(collection=ours).order_by("pk").values_list("pk", flat=True))
    vector = PhotoEmbedding.pack(np.ones(16, np.float32) / 4)
    PhotoEmbedding.objects.bulk_create([PhotoEmbedding(photo_id=i, model_id="m", dim=16, vector=vector)
                                        for i in ids[:20_000]], batch_size=5000)  # the job has reached the middle
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE library_photo, embeddings_photoembedding")
    job = SimpleNamespace(collection_id=ours.pk, params={"model_id": "m"})
    batch = EmbedPhotos().rows_between(job, 0, ids[19_999], ids[-1]).order_by("pk")[:64]
    assert list(batch.values_list("pk", flat=True)) == ids[20_000:20_064]
    # an unbounded anti-join reads the 20,000 vectors before the cursor for every batch
    assert rows_read_from("embeddings_photoembedding", batch) < 64
