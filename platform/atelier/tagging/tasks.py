"""The tagging job: score a collection's stale vocabularies on the `gpu` queue, one at a time."""
import time

from atelier.jobs.runner import Step, job_task
from atelier.library.models import Collection
from atelier.tagging import services


@job_task(kind="tag_photos", queue="gpu")
def tag_photos(job, deadline: float) -> Step:
    model_id = job.params["model_id"]
    collection = Collection.objects.get(pk=job.collection_id)
    written = job.params.get("written", 0)
    while time.monotonic() < deadline:
        stale = services.stale_vocabularies(collection, model_id)
        if not stale:
            break
        written += services.score_vocabulary(vocabulary=stale[0], collection=collection, model_id=model_id)
    remaining = len(services.stale_vocabularies(collection, model_id))
    total = max(job.total, remaining)
    return Step(done=total - remaining, total=total, more=remaining > 0,
                message=f"scored {total - remaining}/{total} vocabularies, {written} suggestions")
