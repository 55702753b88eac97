"""The index build job: a worker on the `gpu` queue builds and publishes a snapshot (never a web request)."""
from atelier.jobs.runner import Step, job_task
from atelier.jobs.services import do_fail_job
from atelier.search.indexing import JOB_KIND, build_and_publish
from ml_core.index import RecallNotMet


@job_task(kind=JOB_KIND, queue="gpu")
def build_search_index(job, deadline: float) -> Step:
    try:
        manifest = build_and_publish(job.params["model_id"])
    except RecallNotMet as exc:  # the same data gives the same figures: retrying cannot help
        do_fail_job(job_id=job.pk, error=f"RecallNotMet: {exc}")
        return Step(done=0, total=0, more=False, message="refused: recall@10 below the target")
    return Step(done=manifest.count, total=manifest.count, more=False,
                message=f"published {manifest.plan.describe()} over {manifest.count} photos, "
                        f"recall@10 {manifest.recall_at_10:.3f}")
