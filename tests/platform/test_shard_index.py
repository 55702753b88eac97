"""Id-range shards within one collection walk the (collection, id) index, not the whole photo table."""
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
