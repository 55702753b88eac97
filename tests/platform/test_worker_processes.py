"""Real Celery worker processes on Redis and PostgreSQL: jobs survive `kill -9` of their worker."""
import io
import time

import pytest

from atelier.jobs.models import Job
from atelier.library import storage
from atelier.library.ingest import do_ingest_files
from atelier.library.models import Collection, Photo
from tests.helpers import image_bytes
from tests.platform.services import workers  # noqa: F401  (fixture)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

SLOW = {"ATELIER_THUMBNAIL_DELAY_S": "0.4", "ATELIER_CHUNK_SECONDS": "1.5", "ATELIER_VISIBILITY_TIMEOUT": "3"}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def upload(owner, n: int):
    collection = Collection.objects.create(owner=owner, name="Big import")
    files = [(f"p{i}.png", io.BytesIO(image_bytes("PNG", size=(120, 90), color=(i * 9, 80, 160)))) for i in range(n)]
    report = do_ingest_files(collection=collection, user=owner, files=files)
    return Job.objects.get(pk=report.job)


def test_worker_runs_a_job_to_completion(workers, owner):
    workers()
    job = upload(owner, 4)
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 60, "job to finish")
    job.refresh_from_db()
    assert (job.state, job.done, job.total) == ("succeeded", 4, 4)
    assert Photo.objects.filter(thumbs_ready=True).count() == 4


def test_kill_9_mid_job_then_restart_finishes_with_nothing_lost_or_redone(workers, owner):
    first = workers(**SLOW)
    job = upload(owner, 12)
    wait_for(lambda: Job.objects.get(pk=job.pk).done >= 3, 90, "some progress")
    first.kill9()
    killed_at = time.time()
    job.refresh_from_db()
    assert job.state == "running" and job.done < 12, "killed in the middle"
    done_before = {p.pk: p.sha256 for p in Photo.objects.filter(thumbs_ready=True)}
    mtimes = {pk: storage.thumbnail_path(sha, "grid").stat().st_mtime for pk, sha in done_before.items()}
    time.sleep(3.5)  # past the visibility timeout: Redis hands the unacknowledged chunk out again
    workers(**SLOW)
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 120, "job to finish after restart")
    job.refresh_from_db()
    assert (job.state, job.done, job.total, job.error) == ("succeeded", 12, 12, "")
    assert Photo.objects.count() == 12 and Photo.objects.filter(thumbs_ready=True).count() == 12
    for pk, sha in done_before.items():  # nothing done twice: finished thumbnails were not rewritten
        assert storage.thumbnail_path(sha, "grid").stat().st_mtime == mtimes[pk] < killed_at


def test_a_failing_task_ends_as_failed_job_not_a_loop(workers, owner, settings):
    workers(ATELIER_TASK_MAX_RETRIES="1")
    job = upload(owner, 2)
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, 60, "first job")
    # A job whose parameters make the step crash every time (photo_ids is not a list).
    from atelier.jobs.dispatch import enqueue
    from atelier.jobs.services import create_job
    from atelier.library.tasks import process_photos

    broken = create_job(owner=owner, kind="process_photos", params={"photo_ids": 5})
    enqueue(process_photos, job_id=broken.pk)
    wait_for(lambda: Job.objects.get(pk=broken.pk).is_finished, 60, "broken job to fail")
    broken.refresh_from_db()
    assert broken.state == "failed" and "TypeError" in broken.error


def test_generation_plugin_job_runs_in_a_worker_process_in_chunks(workers, owner):
    """The plugin's task is found by a real Celery worker (autodiscovered app) on the gpu queue."""
    from plugins.generation import services as generation
    from plugins.generation.models import Generation

    workers(ATELIER_CHUNK_SECONDS="0", ATELIER_PLUGIN_GENERATION_BATCH_SIZE="4")   # one batch per delivery
    request = generation.parse_request({"prompt": "two blue squares", "candidates": 8, "keep": 3, "seed": 4})
    started = generation.start_generation(user=owner, request=request)
    wait_for(lambda: Job.objects.get(pk=started.job_id).is_finished, 120, "generation to finish")
    found = Generation.objects.get(pk=started.pk)
    assert (found.job.state, found.job.done, found.ranked) == ("succeeded", 8, True)
    assert sorted(found.candidate_set.values_list("index", flat=True)) == list(range(8))
    assert list(found.candidate_set.exclude(rank=None).order_by("rank").values_list("rank_score", flat=True)) == \
        sorted(found.candidate_set.values_list("rank_score", flat=True), reverse=True)[:3]   # ranked by rank_score
