"""Sharded jobs: id-range shards with keyset cursors, shared by lanes, resumable, exact progress."""
import io

import pytest

from atelier.core.devices import batch_size_for
from atelier.embeddings import services
from atelier.embeddings.models import PhotoEmbedding
from atelier.embeddings.tasks import embed_photos
from atelier.jobs import shards
from atelier.jobs.models import Job, JobShard
from atelier.library.ingest import do_ingest_files
from atelier.library.models import Photo
from tests.helpers import image_bytes

pytestmark = pytest.mark.django_db
SMALL = "random:atelier-demo-clip"


@pytest.fixture(autouse=True)
def small_model(settings):
    settings.ATELIER_CLIP_MODEL = SMALL
    settings.ATELIER_SHARD_SIZE = 3
    settings.ATELIER_EMBED_BATCH = 2
    services._status.cache_clear()


def upload(collection, owner, n, *, execute=True, capture=None):
    files = [(f"p{i}.png", io.BytesIO(image_bytes("PNG", size=(64, 64), color=(20 * i, 90, 200 - 20 * i)))) for i in range(n)]
    with capture(execute=execute):
        do_ingest_files(collection=collection, user=owner, files=files)
    return Job.objects.get(kind="embed_photos")


def test_embedding_is_split_into_contiguous_keyset_shards_covering_each_photo_once(
        collection, owner, django_capture_on_commit_callbacks):
    job = upload(collection, owner, 8, capture=django_capture_on_commit_callbacks)
    ids = sorted(Photo.objects.values_list("pk", flat=True))
    assert (job.state, job.done, job.total, job.params["lanes"]) == ("succeeded", 8, 8, 3)
    got = list(JobShard.objects.filter(job=job).order_by("lo").values_list("lo", "hi", "done", "total", "finished"))
    assert got == [(0, ids[2], 3, 3, True), (ids[2], ids[5], 3, 3, True), (ids[5], ids[7], 2, 2, True)]
    assert PhotoEmbedding.objects.filter(model_id=SMALL, vector__isnull=False).count() == 8


def test_lanes_claim_different_shards_and_a_redelivered_lane_takes_its_own_back(
        collection, owner, django_capture_on_commit_callbacks):
    job = upload(collection, owner, 8, execute=False, capture=django_capture_on_commit_callbacks)
    spec = embed_photos.spec
    a, b = shards.claim_shard(spec, job.pk, "0").shard, shards.claim_shard(spec, job.pk, "1").shard
    assert (a.lo, b.lo) == (0, a.hi) and a.hi < b.hi, "disjoint ranges, planned one after the other"
    again = shards.claim_shard(spec, job.pk, "0").shard  # lane 0's message redelivered after kill -9
    assert (again.pk, again.attempts) == (a.pk, 1)
    with pytest.raises(shards.LeaseLost):  # the process that held it before cannot write any more
        shards.advance(a, cursor=a.hi, done=3, finished=True)
    spec.work(job, again, deadline=0)  # one batch: its rows and cursor commit together
    again.refresh_from_db()
    first_two = sorted(Photo.objects.values_list("pk", flat=True))[:2]
    assert (again.cursor, again.done, again.finished) == (first_two[1], 2, False)
    assert set(PhotoEmbedding.objects.values_list("photo_id", flat=True)) == set(first_two)


def test_a_shard_whose_worker_keeps_dying_fails_the_job(collection, owner, settings, django_capture_on_commit_callbacks):
    settings.ATELIER_TASK_MAX_RETRIES = 1
    job = upload(collection, owner, 4, execute=False, capture=django_capture_on_commit_callbacks)
    claims = [shards.claim_shard(embed_photos.spec, job.pk, "0") for _ in range(4)]
    assert [c.shard is not None for c in claims] == [True, True, True, False]
    assert "started 3 times without finishing" in claims[-1].error


def test_a_lane_with_nothing_to_claim_waits_for_the_lease_of_the_others(collection, owner, settings, django_capture_on_commit_callbacks):
    settings.ATELIER_SHARD_SIZE = 10
    job = upload(collection, owner, 2, execute=False, capture=django_capture_on_commit_callbacks)
    held = shards.claim_shard(embed_photos.spec, job.pk, "0").shard
    waiting = shards.claim_shard(embed_photos.spec, job.pk, "1")
    assert waiting.shard is None and waiting.wait_until == held.lease_until and not waiting.all_done


def test_batch_size_follows_the_device(settings):
    settings.ATELIER_BATCH_SIZES = {"cpu": 64, "cuda": 128}
    assert (batch_size_for("cpu"), batch_size_for("cuda:1"), batch_size_for("cuda", override=8)) == (64, 128, 8)


def test_the_engine_is_built_on_the_worker_device_with_its_batch(settings):
    from atelier.embeddings.tasks import engine_for

    settings.ATELIER_DEVICE, settings.ATELIER_EMBED_BATCH = "cpu", 0
    settings.ATELIER_BATCH_SIZES = {"cpu": 48, "cuda": 128}
    engine = engine_for(SMALL)
    assert (engine.device.type, engine.batch_size) == ("cpu", 48)
