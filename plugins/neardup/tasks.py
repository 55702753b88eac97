"""The near-duplicate scan as a job task (resumable steps: services.scan_step)."""
from atelier.plugin_api import Step, job_task
from plugins.neardup import services
from plugins.neardup.models import NearDupScan


@job_task(kind=services.JOB_KIND, queue="io")
def scan(job, deadline: float) -> Step:
    done, total, more = services.scan_step(NearDupScan.objects.get(job_id=job.pk), deadline=deadline)
    return Step(done=done, total=total, more=more, message=f"compared {done} of {total} photos")
