"""Sharded embedding on real Celery worker processes (Redis, PostgreSQL): two workers share one job
without doing a photo twice, and a job survives `kill -9` of its worker with nothing redone."""
import re
import time

import pytest
from django.db.models import Sum

from atelier.embeddings.models import PhotoEmbedding
from atelier.jobs.models import Job, JobShard
from tests.platform.services import workers  # noqa: F401  (fixture)
from tests.platform.test_worker_processes import upload, wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

SHARDED = {"ATELIER_SHARD_SIZE": "4", "ATELIER_EMBED_BATCH": "2", "ATELIER_EMBED_DELAY_S": "0.3",
           "ATELIER_CHUNK_SECONDS": "1", "ATELIER_VISIBILITY_TIMEOUT": "3", "ATELIER_JOB_LANES": "2"}


@pytest.fixture(autouse=True)
def shard_settings(settings):
    settings.ATELIER_SHARD_SIZE, settings.ATELIER_JOB_LANES = 4, 2


def shards_worked_by(worker, job_id: int) -> set[str]:
    return set(re.findall(rf"job {job_id} lane \d+: shard \((\d+, \d+)\]", worker.log.read_text(errors="replace")))


def assert_each_photo_embedded_once(job, n):
    job.refresh_from_db()
    assert (job.state, job.done, job.total, job.error) == ("succeeded", n, n, "")
    assert PhotoEmbedding.objects.filter(vector__isnull=False).count() == n
    # `done` counts every photo a lane embedded and committed: a photo done twice would show here.
    assert JobShard.objects.filter(job=job).aggregate(d=Sum("done"))["d"] == n
    assert all(s.finished and s.done == s.total for s in JobShard.objects.filter(job=job))


def test_two_workers_share_one_embedding_job_without_doing_a_photo_twice(workers, owner):
    a, b = workers(**SHARDED), workers(**SHARDED)
    upload(owner, 16)
    job = Job.objects.get(kind="embed_photos")
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 120, "embedding to finish")
    assert_each_photo_embedded_once(job, 16)
    by_a, by_b = shards_worked_by(a, job.pk), shards_worked_by(b, job.pk)
    assert by_a and by_b, "both workers embedded part of the collection"


def test_kill_9_mid_embedding_resumes_each_shard_from_its_cursor(workers, owner):
    first = workers(**SHARDED)
    upload(owner, 16)
    job = Job.objects.get(kind="embed_photos")
    wait_for(lambda: Job.objects.get(pk=job.pk).done >= 4, 90, "some progress")
    first.kill9()
    killed_at = time.time()
    job.refresh_from_db()
    assert job.state == "running" and job.done < 16, "killed in the middle"
    before = dict(PhotoEmbedding.objects.values_list("photo_id", "created_at"))
    committed = JobShard.objects.filter(job=job).aggregate(d=Sum("done"))["d"]
    assert len(before) == committed, "each shard's progress commits with its rows: exact at any moment"
    time.sleep(3.5)  # past the visibility timeout: Redis hands the unacknowledged messages out again
    workers(**SHARDED)
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 120, "embedding to finish after restart")
    assert_each_photo_embedded_once(job, 16)
    for photo_id, created in before.items():  # nothing done twice: rows written before the kill stay
        assert PhotoEmbedding.objects.get(photo_id=photo_id).created_at == created
        assert created.timestamp() < killed_at
