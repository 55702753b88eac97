"""The index build job: a worker on the `gpu` queue builds and publishes a snapshot (never a web request)."""
from atelier.jobs.runner import Step, job_task
from atelier.search.indexing import JOB_KIND, build_and_publish


@job_task(kind=JOB_KIND, queue="gpu")
def build_search_index(job, deadline: float) -> Step:
    manifest = build_and_publish(job.params["model_id"])
    return Step(done=manifest.count, total=manifest.count, more=False,
                message=f"published {manifest.plan.describe()} over {manifest.count} photos, "
                        f"recall@10 {manifest.recall_at_10:.3f}")
