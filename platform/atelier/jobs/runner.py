"""The house task decorator: queue routing, chunking, retries and progress in one place.

A job task is a *step function* `step(job, deadline) -> Step` that does one chunk of work (until
`deadline`, a time.monotonic() value) and reports progress derived from the database, so that
running it again after a crash redoes nothing that was finished. The decorator turns it into a
Celery task that is acknowledged late, re-queued when its worker dies, re-enqueued while work
remains, retried with back-off on errors, and failed for good after ATELIER_TASK_MAX_RETRIES.
"""
import logging
import time
from dataclasses import dataclass

from celery import shared_task
from django.conf import settings

from atelier.jobs import services
from atelier.jobs.dispatch import enqueue

log = logging.getLogger(__name__)


@dataclass
class Step:
    done: int
    total: int
    more: bool
    message: str = ""


TASKS_BY_KIND: dict = {}


def job_task(*, kind: str, queue: str):
    """Registers `step_fn` as the task for jobs of `kind`, on `queue` ("gpu": model work, "io": files)."""

    def decorate(step_fn):
        @shared_task(name=f"atelier.{kind}", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
        def task(job_id: int):
            run_step(step_fn, task, job_id)

        task.queue_name = queue
        task.kind = kind
        TASKS_BY_KIND[kind] = task
        return task

    return decorate


def resume_unfinished_jobs() -> int:
    """Re-enqueues jobs left queued or running by a process that stopped (in-process worker mode:
    there is no broker to redeliver them). Safe: steps redo nothing that was finished."""
    from atelier.jobs.models import Job
    from atelier.pluginhost.manager import job_tasks

    job_tasks()  # imports the plugins' tasks, so their kinds are known here too
    unfinished = Job.objects.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING], kind__in=list(TASKS_BY_KIND))
    count = 0
    for job in unfinished:
        task = TASKS_BY_KIND[job.kind]
        if hasattr(task, "resume"):  # a sharded job: every lane again
            task.resume(job)
        else:
            enqueue(task, job_id=job.pk)
        count += 1
    return count


def run_step(step_fn, task, job_id: int) -> None:
    job = services.claim_job_delivery(job_id)
    if job is None:  # finished or cancelled meanwhile
        return
    max_retries = settings.ATELIER_TASK_MAX_RETRIES
    if job.attempts > max_retries + 1:
        services.do_fail_job(job_id=job_id, error=f"gave up: the task was started {job.attempts - 1} times without finishing (its worker kept dying)")
        return
    try:
        step = step_fn(job, deadline=time.monotonic() + settings.ATELIER_CHUNK_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure is reported on the job
        log.exception("job %s (%s) failed on attempt %s", job_id, task.name, job.attempts)
        if job.attempts > max_retries:
            services.do_fail_job(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        else:
            services.do_set_progress(job_id=job_id, done=job.done, message=f"retrying after error: {exc}")
            enqueue(task, job_id=job_id, countdown=min(60, 2 ** job.attempts))
        return
    if services.is_cancelled(job_id):
        return
    services.do_set_progress(job_id=job_id, done=step.done, total=step.total, message=step.message)
    services.do_chunk_finished(job_id=job_id)
    if step.more:
        enqueue(task, job_id=job_id)
    else:
        services.do_finish_job(job_id=job_id, message=step.message or "done")
