"""The tagging job: score a collection's stale vocabularies on the `gpu` queue, one at a time."""
import logging
import time

from celery import shared_task

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


log = logging.getLogger(__name__)


@shared_task(name="atelier.tag_embedded_photos", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def tag_embedded_photos(photo_ids: list[int], model_id: str) -> None:
    """Suggestions for one freshly embedded batch, on the `io` queue (not the GPU worker's time)."""
    try:
        if services.current_model_id() != model_id:
            return
        services.tag_new_photos(photo_ids=list(photo_ids), model_id=model_id)
    except Exception:  # noqa: BLE001 - a lost batch is caught up by the next tagging job
        log.exception("tagging %d new photos failed", len(photo_ids))


tag_embedded_photos.queue_name = "io"
