"""Tagging tasks: the sharded scoring job (`gpu` queue, tagging.scoring) and new photos' suggestions (`io`)."""
import logging

from celery import shared_task

from atelier.jobs.shards import sharded_job_task
from atelier.tagging import services
from atelier.tagging.scoring import TagPhotos


tag_photos = sharded_job_task(TagPhotos)


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
