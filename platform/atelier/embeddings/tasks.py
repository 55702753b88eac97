"""The embedding job: photos → CLIP vectors, on the `gpu` queue, one batch at a time."""
import time

from django.conf import settings

from atelier.embeddings.services import ModelChanged, configured_engine, embed_batch, photos_missing_embeddings
from atelier.jobs.runner import Step, job_task
from atelier.library.models import Photo


def engine_for(model_id_expected: str):
    """The process-wide engine (loaded once per worker process, not per task)."""
    try:
        return configured_engine(expected_model_id=model_id_expected)
    except ModelChanged as exc:
        raise ModelChanged(f"{exc}: this job's photos will be embedded by a new job") from None


@job_task(kind="embed_photos", queue="gpu")
def embed_photos(job, deadline: float) -> Step:
    model_id = job.params["model_id"]
    scope = Photo.objects.filter(collection_id=job.collection_id)
    if job.params.get("photo_ids") is not None:
        scope = scope.filter(pk__in=job.params["photo_ids"])
    engine = engine_for(model_id)
    batch_size = settings.ATELIER_EMBED_BATCH
    while time.monotonic() < deadline:
        batch = list(photos_missing_embeddings(model_id, scope).order_by("pk")[:batch_size])
        if not batch:
            break
        embed_batch(batch, engine)
    remaining = photos_missing_embeddings(model_id, scope).count()
    total = max(job.total, remaining)
    done = total - remaining
    return Step(done=done, total=total, more=remaining > 0, message=f"embedded {done}/{total}")
