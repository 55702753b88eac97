"""Sharded jobs: any number of workers share one job, over id-range shards with keyset cursors.

A sharded job runs in *lanes* (job_id, lane): each lane is one chain of Celery messages, and every
message works for one chunk (ATELIER_CHUNK_SECONDS) on shards it claims. Shards are planned lazily,
one at a time, from a frontier id: the next boundary is found with a keyset query (`pk > frontier
ORDER BY pk OFFSET size-1 LIMIT 1`), so planning costs one shard's index entries, never a scan of
what came before. A shard's cursor is committed in the same transaction as the work it stands for
(`advance`), so after kill -9 the lane's redelivered message takes its shard back and goes on from
the last commit: nothing finished is redone, and two lanes never hold one shard.

A job type is a `ShardedJob` subclass: `items(job, phase)` (the rows to shard over), `work(job,
shard, deadline)`, and optionally more phases with `phase_done` between them (tagging: ranking,
then writing).
"""
from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, Sum
from django.utils import timezone

from atelier.jobs import services
from atelier.jobs.dispatch import enqueue
from atelier.jobs.models import Job, JobShard
from atelier.jobs.runner import TASKS_BY_KIND

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another lane took the shard over (this one was presumed dead): its work is rolled back."""


class ShardedJob:
    """What a sharded job does. Subclasses set kind, queue, and implement items() and work()."""

    kind: str = ""
    queue: str = "gpu"
    phases: int = 1

    def phase_count(self, job: Job) -> int:
        return self.phases

    def progress(self, job: Job) -> int:
        """`done` of the job (default: rows finished over all shards)."""
        return shard_progress(job)

    def items(self, job: Job, phase: int):
        """The queryset of rows to work on (sharded by pk, up to job.params['max_id'])."""
        raise NotImplementedError

    def rows_between(self, job: Job, phase: int, after: int, upto: int):
        """The items with after < pk ≤ upto. A job whose items anti-join another table narrows that
        table to the same range too (see EmbedPhotos), so a query's cost follows the range, not
        its position in the table."""
        return self.items(job, phase).filter(pk__gt=after, pk__lte=upto)

    def shard_size(self, job: Job, phase: int) -> int:
        return job.params.get("shard_size") or settings.ATELIER_SHARD_SIZE

    def work(self, job: Job, shard: JobShard, deadline: float) -> None:
        """Works on `shard` until it is finished or `deadline`, calling `advance` in each write."""
        raise NotImplementedError

    def phase_done(self, job: Job, phase: int) -> None:
        """Runs once, under the job's lock, when every shard of `phase` is finished."""

    def message(self, job: Job, done: int, total: int) -> str:
        return f"{done}/{total}"


@dataclass
class Claim:
    shard: JobShard | None = None
    wait_until: object = None  # a datetime: other lanes hold every open shard until then
    all_done: bool = False
    error: str = ""


# -- writes on shards -----------------------------------------------------------------------------
def advance(shard: JobShard, *, cursor: int, done: int = 0, finished: bool = False, data: dict | None = None) -> None:
    """Moves the shard's cursor; call inside the transaction that writes the work up to `cursor`."""
    fields = {"cursor": cursor, "done": F("done") + done, "finished": finished}
    if data is not None:
        fields["data"] = data
    if not JobShard.objects.filter(pk=shard.pk, lane=shard.lane).update(**fields):
        raise LeaseLost(f"shard {shard.pk} was taken over by another lane")
    shard.cursor, shard.done, shard.finished = cursor, shard.done + done, finished
    if data is not None:
        shard.data = data


def _lease_seconds() -> float:
    # Long enough for a chunk and its writes; only matters when a lane's message is lost for good.
    return max(60.0, 3 * settings.ATELIER_CHUNK_SECONDS)


def _take(shard: JobShard, lane: str, *, crashed: bool) -> JobShard:
    # "lane:token": a redelivered message of the lane finds its shard by the prefix, and a stale
    # process of the same lane (its message redelivered while it still ran) loses its writes.
    shard.lane = f"{lane}:{uuid.uuid4().hex[:12]}"
    shard.lease_until = timezone.now() + timedelta(seconds=_lease_seconds())
    if crashed:
        shard.attempts += 1
    shard.save(update_fields=["lane", "lease_until", "attempts"])
    return shard


def _plan_next(spec: ShardedJob, job: Job, phase: int) -> JobShard | None:
    """The next shard after the frontier, or None when the whole range is planned."""
    frontier = job.params.get("frontier", 0)
    max_id = job.params.get("max_id", 0)
    if frontier >= max_id:
        return None
    size = spec.shard_size(job, phase)
    rows = spec.rows_between(job, phase, frontier, max_id).order_by("pk").values_list("pk", flat=True)
    boundary = list(rows[size - 1:size])
    hi = boundary[0] if boundary else max_id
    total = size if boundary else rows.count()
    job.params["frontier"] = hi
    Job.objects.filter(pk=job.pk).update(params=job.params)
    return JobShard.objects.create(job=job, phase=phase, lo=frontier, hi=hi, cursor=frontier, total=total)


def claim_shard(spec: ShardedJob, job_id: int, lane: str) -> Claim:
    """Under the job's row lock: this lane's own shard back (after a crash), else an open or expired
    shard, else a newly planned one; moves to the next phase when one is complete."""
    max_tries = settings.ATELIER_TASK_MAX_RETRIES + 1
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return Claim(all_done=True)
        while True:
            phase = job.params.get("phase", 0)
            if phase >= spec.phase_count(job):
                return Claim(all_done=True)
            open_shards = JobShard.objects.filter(job=job, phase=phase, finished=False)
            now = timezone.now()
            shard = (open_shards.filter(lane__startswith=f"{lane}:", lease_until__isnull=False).first()
                     or open_shards.filter(lease_until__lt=now).first())
            if shard is not None:
                if shard.attempts + 1 > max_tries:
                    return Claim(error=f"gave up: shard ({shard.lo}, {shard.hi}] was started {shard.attempts + 1} "
                                       "times without finishing (its worker kept dying)")
                return Claim(shard=_take(shard, lane, crashed=True))
            shard = open_shards.filter(lease_until__isnull=True).first() or _plan_next(spec, job, phase)
            if shard is not None:
                return Claim(shard=_take(shard, lane, crashed=False))
            if open_shards.exists():
                return Claim(wait_until=open_shards.aggregate(t=Min("lease_until"))["t"])
            spec.phase_done(job, phase)
            job.params.update(phase=phase + 1, frontier=0)
            Job.objects.filter(pk=job.pk).update(params=job.params)


def _release(shard: JobShard, *, failed: bool = False) -> None:
    fields = {"lane": "", "lease_until": None, "attempts": F("attempts") + 1 if failed else 0}
    JobShard.objects.filter(pk=shard.pk, lane=shard.lane).update(**fields)


# -- progress and the task --------------------------------------------------------------------------
def shard_progress(job: Job) -> int:
    return JobShard.objects.filter(job=job).aggregate(d=Sum("done"))["d"] or 0


def _report(spec: ShardedJob, job_id: int) -> Job:
    job = Job.objects.get(pk=job_id)
    done = min(job.total, spec.progress(job))
    return services.do_set_progress(job_id=job_id, done=done, message=spec.message(job, done, job.total))


def run_lane(spec: ShardedJob, task, job_id: int, lane: str) -> None:
    """One message of one lane: claim shards and work until the chunk's deadline, then hand on."""
    if not services.do_start_job(job_id=job_id):
        return
    deadline = time.monotonic() + settings.ATELIER_CHUNK_SECONDS
    while True:
        claim = claim_shard(spec, job_id, lane)
        if claim.shard is None:
            break
        log.info("job %s lane %s: shard (%s, %s] from %s", job_id, lane, claim.shard.lo, claim.shard.hi, claim.shard.cursor)
        try:
            spec.work(Job.objects.get(pk=job_id), claim.shard, deadline)
        except LeaseLost:
            log.warning("job %s lane %s lost its shard to another lane", job_id, lane)
            return
        except Exception as exc:  # noqa: BLE001 - any failure is reported on the job
            log.exception("job %s (%s) lane %s failed on shard %s", job_id, task.name, lane, claim.shard.pk)
            _retry_or_fail(task, job_id, lane, claim.shard, exc)
            return
        _release(claim.shard)
        if time.monotonic() >= deadline:
            claim = Claim()  # more may remain: the next message looks
            break
    _hand_on(spec, task, job_id, lane, claim)


def _retry_or_fail(task, job_id: int, lane: str, shard: JobShard, exc: Exception) -> None:
    _release(shard, failed=True)
    tries = shard.attempts + 1
    if tries > settings.ATELIER_TASK_MAX_RETRIES:
        services.do_fail_job(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
        return
    services.do_set_progress(job_id=job_id, done=Job.objects.get(pk=job_id).done, message=f"retrying after error: {exc}")
    enqueue(task, job_id=job_id, lane=lane, countdown=min(60, 2 ** tries))


def _hand_on(spec: ShardedJob, task, job_id: int, lane: str, claim: Claim) -> None:
    if services.is_cancelled(job_id):
        return
    if claim.error:
        services.do_fail_job(job_id=job_id, error=claim.error)
        return
    job = _report(spec, job_id)
    if claim.all_done:
        services.do_set_progress(job_id=job_id, done=job.total)
        services.do_finish_job(job_id=job_id, message=spec.message(job, job.total, job.total))
    elif claim.wait_until is not None:  # the other lanes hold the rest: look again when their lease ends
        wait = (claim.wait_until - timezone.now()).total_seconds()
        enqueue(task, job_id=job_id, lane=lane, countdown=max(1.0, wait + 0.5))
    else:
        enqueue(task, job_id=job_id, lane=lane)


def lanes_for(total: int, shard_size: int) -> int:
    """How many workers may share a job: one per shard, at most ATELIER_JOB_LANES."""
    return max(1, min(settings.ATELIER_JOB_LANES, math.ceil(total / max(1, shard_size))))


def start_lanes(task, job: Job) -> None:
    """Enqueues every lane of a new sharded job (after the transaction commits)."""
    for lane in range(job.params.get("lanes", 1)):
        enqueue(task, job_id=job.pk, lane=str(lane))


def resume_lanes(task, job: Job) -> None:
    """After a restart of the in-process worker: the leases it held died with it."""
    JobShard.objects.filter(job=job, finished=False).update(lane="", lease_until=None)
    start_lanes(task, job)


def sharded_job_task(spec_class: type[ShardedJob]):
    """Registers a ShardedJob as the Celery task for jobs of its kind: task(job_id, lane)."""
    spec = spec_class()

    @shared_task(name=f"atelier.{spec.kind}", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def task(job_id: int, lane: str = "0"):
        run_lane(spec, task, job_id, str(lane))

    task.queue_name = spec.queue
    task.kind = spec.kind
    task.spec = spec
    task.start = lambda job: start_lanes(task, job)
    task.resume = lambda job: resume_lanes(task, job)
    TASKS_BY_KIND[spec.kind] = task
    return task
