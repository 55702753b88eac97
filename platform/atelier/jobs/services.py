"""Writes to Job rows. Every state change is followed by a websocket hint after commit."""
from django.db import transaction
from django.utils import timezone

from atelier.jobs.events import send_job_event_on_commit
from atelier.jobs.models import Job
from atelier.jobs.signals import job_finished


class JobAccessDenied(Exception):
    pass


def create_job(*, owner, kind: str, total: int = 0, params: dict | None = None, collection=None, message: str = "") -> Job:
    job = Job.objects.create(owner=owner, kind=kind, total=total, params=params or {}, collection=collection, message=message)
    send_job_event_on_commit(job)
    return job


def _finished_on_commit(job: Job) -> None:
    """Tells listeners (e.g. a plugin's queue) that the job reached a final state."""
    event = {"job_id": job.pk, "kind": job.kind, "state": job.state, "owner_id": job.owner_id}
    transaction.on_commit(lambda: job_finished.send(sender=Job, **event))


def _update(job_id: int, detail: dict | None = None, **fields) -> Job:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        for name, value in fields.items():
            setattr(job, name, value)
        job.save()
        send_job_event_on_commit(job, detail=detail)
    return job


def _deliver(job_id: int, *, count: bool) -> Job | None:
    """Marks a queued job running (and counts this delivery when `count`). None when it is gone or finished."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return None
        if not count and job.state != Job.State.QUEUED:
            return job
        job.attempts += 1 if count else 0
        if job.state == Job.State.QUEUED:
            job.state = Job.State.RUNNING
            job.started_at = timezone.now()
        job.save()
        send_job_event_on_commit(job)
    return job


def claim_job_delivery(job_id: int) -> Job | None:
    """Marks the job running and counts this delivery. None when it is already finished."""
    return _deliver(job_id, count=True)


def do_start_job(*, job_id: int) -> bool:
    """Marks a queued job running (sharded jobs count crashes per shard, not per delivery).
    False when the job is gone or finished."""
    return _deliver(job_id, count=False) is not None


def do_set_progress(*, job_id: int, done: int, total: int | None = None, message: str | None = None,
                    detail: dict | None = None) -> Job:
    """`detail` rides on this one websocket hint and is not stored: what the step just made (e.g. a
    generation's newly scored candidates), so an open page shows it without asking the API again."""
    fields = {"done": done}
    if total is not None:
        fields["total"] = total
    if message is not None:
        fields["message"] = message[:500]
    return _update(job_id, detail=detail, **fields)


def do_chunk_finished(*, job_id: int) -> Job:
    """A chunk ended cleanly: the crash counter starts again for the next one."""
    return _update(job_id, attempts=0)


def do_finish_job(*, job_id: int, message: str | None = None) -> Job:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return job
        job.state = Job.State.SUCCEEDED
        job.finished_at = timezone.now()
        if message is not None:
            job.message = message[:500]
        job.save()
        send_job_event_on_commit(job)
        _finished_on_commit(job)
    return job


def do_fail_job(*, job_id: int, error: str) -> Job:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return job
        job.state = Job.State.FAILED
        job.error = error
        job.finished_at = timezone.now()
        job.save()
        send_job_event_on_commit(job)
        _finished_on_commit(job)
    return job


def check_cancel_job(*, job: Job, user) -> Job:
    """Cancels a job the user owns (staff may cancel any). Finished jobs stay as they are."""
    if not (user.is_staff or job.owner_id == user.pk):
        raise JobAccessDenied("only the job's owner or staff may cancel it")
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if not job.is_finished:
            job.state = Job.State.CANCELLED
            job.finished_at = timezone.now()
            job.message = "cancelled"
            job.save()
            send_job_event_on_commit(job)
            _finished_on_commit(job)
    return job


def is_cancelled(job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, state=Job.State.CANCELLED).exists()
