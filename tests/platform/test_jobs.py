"""The house job runner: chunking, progress from the database, retries capped, cancel, crash guard."""
import pytest

from atelier.jobs import services
from atelier.jobs.dispatch import ThreadWorker
from atelier.jobs.models import Job
from atelier.jobs.runner import Step, job_task

pytestmark = pytest.mark.django_db

CALLS: list[int] = []
FAILURES = {"left": 0}


@job_task(kind="tests.counting", queue="io")
def counting(job, deadline):
    """Does one item per chunk, as a long job cut into chunks would."""
    CALLS.append(job.pk)
    done = len([c for c in CALLS if c == job.pk])
    return Step(done=done, total=job.params["n"], more=done < job.params["n"], message=f"{done} done")


@job_task(kind="tests.flaky", queue="gpu")
def flaky(job, deadline):
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise ValueError("model exploded")
    return Step(done=1, total=1, more=False)


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    FAILURES["left"] = 0


def run(task, job, capture):
    from atelier.jobs.dispatch import enqueue

    with capture(execute=True):
        enqueue(task, job_id=job.pk)
    job.refresh_from_db()
    return job


def test_chunks_run_until_done_and_progress_is_recorded(owner, django_capture_on_commit_callbacks, settings):
    job = services.create_job(owner=owner, kind="count", params={"n": 4})
    job = run(counting, job, django_capture_on_commit_callbacks)
    assert (job.state, job.done, job.total, job.message) == ("succeeded", 4, 4, "4 done")
    assert CALLS == [job.pk] * 4 and job.attempts == 0 and job.finished_at is not None


def test_errors_are_retried_then_succeed(owner, django_capture_on_commit_callbacks, settings, monkeypatch):
    monkeypatch.setattr("atelier.jobs.runner.enqueue", lambda task, job_id, countdown=0: task.run(job_id=job_id))
    FAILURES["left"] = 2
    job = services.create_job(owner=owner, kind="flaky")
    job = run(flaky, job, django_capture_on_commit_callbacks)
    assert job.state == "succeeded"


def test_a_task_that_keeps_failing_ends_as_failed_with_its_error(owner, django_capture_on_commit_callbacks, settings, monkeypatch):
    settings.ATELIER_TASK_MAX_RETRIES = 3
    tries = []
    monkeypatch.setattr("atelier.jobs.runner.enqueue", lambda task, job_id, countdown=0: (tries.append(countdown), task.run(job_id=job_id)))
    FAILURES["left"] = 100
    job = services.create_job(owner=owner, kind="flaky")
    job = run(flaky, job, django_capture_on_commit_callbacks)
    assert job.state == "failed" and job.error == "ValueError: model exploded"
    assert FAILURES["left"] == 100 - 4, "1 try + 3 retries, then stop"
    assert tries == [2, 4, 8], "exponential back-off"


def test_a_task_whose_worker_keeps_dying_is_failed(owner, settings):
    settings.ATELIER_TASK_MAX_RETRIES = 2
    job = services.create_job(owner=owner, kind="count", params={"n": 1})
    Job.objects.filter(pk=job.pk).update(attempts=3, state="running")  # three deliveries never finished
    counting.run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "kept dying" in job.error and CALLS == []


def test_cancelled_job_stops_and_stays_cancelled(owner, make_user, settings):
    job = services.create_job(owner=owner, kind="count", params={"n": 3})
    other = make_user("mallory")
    with pytest.raises(services.JobAccessDenied):
        services.check_cancel_job(job=job, user=other)
    services.check_cancel_job(job=job, user=owner)
    counting.run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == "cancelled" and CALLS == []


def test_finished_job_is_not_run_again(owner, settings):
    job = services.create_job(owner=owner, kind="count", params={"n": 1})
    services.do_finish_job(job_id=job.pk)
    counting.run(job_id=job.pk)
    assert CALLS == []


@pytest.mark.django_db(transaction=True)
def test_thread_mode_runs_jobs_in_process(owner, settings):
    """The embedded default: an in-process worker thread per queue (no broker)."""
    import time

    settings.TASKS_MODE = "thread"
    job = services.create_job(owner=owner, kind="count", params={"n": 3})
    from atelier.jobs.dispatch import enqueue

    enqueue(counting, job_id=job.pk)  # outside a transaction: sent at once
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            break
        time.sleep(0.05)
    assert job.state == "succeeded" and job.done == 3
    assert ThreadWorker.for_queue("io")._thread.name == "atelier-worker-io"


def test_unfinished_jobs_are_resumed_after_a_restart(owner, django_capture_on_commit_callbacks):
    from atelier.jobs.runner import resume_unfinished_jobs

    job = services.create_job(owner=owner, kind="tests.counting", params={"n": 2})
    Job.objects.filter(pk=job.pk).update(state="running", done=1, attempts=1)  # its process died
    with django_capture_on_commit_callbacks(execute=True):
        assert resume_unfinished_jobs() == 1
    job.refresh_from_db()
    assert job.state == "succeeded" and job.done == 2
