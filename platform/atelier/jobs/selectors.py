"""Reads of Job rows, always scoped to what the user may see."""
from atelier.jobs.models import Job


def jobs_visible_to(user):
    if not user.is_authenticated:
        return Job.objects.none()
    if user.is_staff:
        return Job.objects.all()
    return Job.objects.filter(owner=user)


def access_job(*, user, job_id: int) -> Job | None:
    return jobs_visible_to(user).filter(pk=job_id).first()


def recent_jobs_for(user, limit: int = 30) -> list[Job]:
    return list(Job.objects.filter(owner=user).order_by("-created_at", "-id")[:limit]) if user.is_authenticated else []
