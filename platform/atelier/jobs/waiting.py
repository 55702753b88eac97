"""Waiting for a job from a command line, with a progress bar that follows the Job row."""
import time

from django.conf import settings
from tqdm import tqdm

from atelier.jobs.models import Job


def wait_for_job(job_id: int, *, label: str, timeout: float = 24 * 3600, poll: float = 0.3) -> Job:
    if settings.TASKS_MODE == "celery":
        poll = max(poll, 0.5)
    deadline = time.monotonic() + timeout
    job = Job.objects.get(pk=job_id)
    with tqdm(total=job.total or None, desc=label, unit="item") as bar:
        while True:
            job.refresh_from_db()
            bar.total = job.total or bar.total
            bar.n = job.done
            bar.refresh()
            if job.is_finished or time.monotonic() > deadline:
                return job
            time.sleep(poll)
