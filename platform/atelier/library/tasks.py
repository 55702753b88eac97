"""Library jobs: processing newly ingested photos (thumbnails on the io queue)."""
import logging
import time

from atelier.jobs.runner import Step, job_task
from atelier.library.models import Photo
from atelier.library.thumbnails import make_thumbnails

log = logging.getLogger(__name__)


@job_task(kind="process_photos", queue="io")
def process_photos(job, deadline: float) -> Step:
    """Makes thumbnails for the job's photos that lack them, until the chunk's deadline."""
    photo_ids = job.params.get("photo_ids", [])
    pending = Photo.objects.filter(pk__in=photo_ids, thumbs_ready=False, process_error="").order_by("pk")
    for photo in pending.iterator():
        if time.monotonic() > deadline:
            break
        try:
            make_thumbnails(photo)
            Photo.objects.filter(pk=photo.pk).update(thumbs_ready=True)
        except Exception as exc:  # noqa: BLE001 - a photo that fails is marked, the job goes on
            log.warning("thumbnail of photo %s failed: %s", photo.pk, exc)
            Photo.objects.filter(pk=photo.pk).update(process_error=f"thumbnail failed: {exc}"[:500])
    existing = Photo.objects.filter(pk__in=photo_ids)
    remaining = existing.filter(thumbs_ready=False, process_error="").count()
    total = existing.count()
    done = total - remaining
    return Step(done=done, total=total, more=remaining > 0, message=f"thumbnails {done}/{total}")
