"""Embedding photos with the configured CLIP model, and reading the stored vectors back."""
import logging
import time
from functools import lru_cache

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef

from atelier.embeddings.models import PhotoEmbedding, unpack_vectors
from atelier.library import storage
from atelier.library.models import Collection, Photo
from atelier.library.signals import photos_embedded

log = logging.getLogger(__name__)


@lru_cache(maxsize=8)
def _status(spec: str, stamp: float):
    from ml_core.clip import ClipError, ModelStatus, model_status

    try:
        return model_status(spec)
    except ClipError as exc:  # a malformed ATELIER_CLIP_MODEL must not break uploads: report it
        return ModelStatus(spec, False, None, str(exc))


def model_status():
    """The configured model's status (ready, model_id, message), re-checked at most every 30 s."""
    return _status(settings.ATELIER_CLIP_MODEL, time.monotonic() // 30)


class ModelChanged(RuntimeError):
    """The configured CLIP model is no longer the one a job or its vectors were made with."""


def worker_engine(*, expected_model_id: str | None = None):
    """The configured CLIP engine on the worker's device, with the device's batch size (one per process).
    With ``expected_model_id``: raises ``ModelChanged`` when the configured model is another one."""
    from ml_core.clip import get_engine

    from atelier.core.devices import batch_size_for, worker_device

    device = worker_device()
    engine = get_engine(settings.ATELIER_CLIP_MODEL, device=device,
                        batch_size=batch_size_for(device, override=settings.ATELIER_EMBED_BATCH))
    if expected_model_id is not None and engine.model_id != expected_model_id:
        raise ModelChanged(f"the configured CLIP model is now {engine.model_id}, not {expected_model_id}")
    return engine


def configured_embed_dim() -> int:
    """The configured model's vector dimension, read from its architecture config.

    No engine is built: a web process that serves an empty index, or a command that sizes a vector
    table, must not load the model for one integer (engines are cached per device and batch size, so
    another ``get_engine`` call here would also be a second copy beside ``worker_engine``'s). The
    architecture config, not the model's profile: every model has one (open_clip's registered
    configs, or ``open_clip_config.json`` beside the weights) and it fixes the size, while a profile
    is optional and says how to use the vectors, not what they are."""
    from ml_core.clip import embed_dim_of

    return embed_dim_of(settings.ATELIER_CLIP_MODEL)


def photos_missing_embeddings(model_id: str, photos=None, *, after: int | None = None, upto: int | None = None):
    """Photos without a `model_id` vector; `after` < id ≤ `upto` when given. The bounds go on both
    sides of the anti-join: without them PostgreSQL's merge anti join reads the vectors' index from
    the collection's first photo, so a batch in the middle of 1M photos read 500,000 index entries."""
    photos = Photo.objects.all() if photos is None else photos
    done = PhotoEmbedding.objects.filter(photo=OuterRef("pk"), model_id=model_id)
    if after is not None:
        photos, done = photos.filter(pk__gt=after), done.filter(photo_id__gt=after)
    if upto is not None:
        photos, done = photos.filter(pk__lte=upto), done.filter(photo_id__lte=upto)
    return photos.filter(~Exists(done))


def embedding_scope(collection_id: int, photo_ids: list[int] | None = None):
    scope = Photo.objects.filter(collection_id=collection_id)
    return scope if photo_ids is None else scope.filter(pk__in=photo_ids)


def start_embedding_job(*, collection: Collection, user, photo_ids: list[int] | None = None,
                        extra_params: dict | None = None) -> int | None:
    """Starts a sharded `gpu` job embedding the collection's photos that lack the current model's
    vectors (those there now: photos added later get their own job)."""
    from atelier.embeddings.tasks import embed_photos
    from atelier.jobs.services import create_job
    from atelier.jobs.shards import lanes_for

    status = model_status()
    if not status.ready:
        log.warning("not embedding photos of %s: CLIP model not ready: %s", collection, status.message)
        return None
    missing = photos_missing_embeddings(status.model_id, embedding_scope(collection.pk, photo_ids))
    total = missing.count()
    if total == 0:
        return None
    max_id = missing.aggregate(m=Max("pk"))["m"]
    params = {"photo_ids": photo_ids, "model_id": status.model_id, "max_id": max_id,
              "shard_size": settings.ATELIER_SHARD_SIZE, "lanes": lanes_for(total, settings.ATELIER_SHARD_SIZE), **(extra_params or {})}
    job = create_job(owner=user, kind="embed_photos", total=total, collection=collection, params=params,
                     message="embedding")
    embed_photos.start(job)
    return job.pk


def start_missing_embeddings() -> list[int]:
    """A job per collection that has photos without the current model's vectors (after a model
    change, or photos that arrived while the model was not ready)."""
    status = model_status()
    if not status.ready:
        return []
    from atelier.jobs.models import Job

    missing = photos_missing_embeddings(status.model_id).values_list("collection_id", flat=True).distinct()
    busy = Job.objects.filter(kind="embed_photos", state__in=[Job.State.QUEUED, Job.State.RUNNING]).values_list("collection_id", flat=True)
    jobs = []
    for collection in Collection.objects.filter(pk__in=list(missing)).exclude(pk__in=list(busy)).select_related("owner"):
        job_id = start_embedding_job(collection=collection, user=collection.owner)
        if job_id:
            jobs.append(job_id)
    return jobs


def encode_batch(photos: list[Photo], engine) -> list[PhotoEmbedding]:
    """One batch through the model (outside any transaction): a row per photo, with its vector or
    the reason it could not be decoded."""
    paths = [storage.original_path(p.sha256, p.format) for p in photos]
    result = engine.encode_images(paths)
    rows = []
    for i, photo in enumerate(photos):
        if i in result.errors:
            rows.append(PhotoEmbedding(photo=photo, model_id=result.model_id, error=result.errors[i][:500]))
        else:
            rows.append(PhotoEmbedding(photo=photo, model_id=result.model_id, dim=result.vectors.shape[1],
                                       vector=PhotoEmbedding.pack(result.vectors[i])))
    return rows


def store_batch(rows: list[PhotoEmbedding]) -> int:
    """Writes encoded rows (call inside the transaction that also moves the job's cursor)."""
    # A redelivered batch may find some rows already written: they are kept, not duplicated.
    PhotoEmbedding.objects.bulk_create(rows, ignore_conflicts=True)
    embedded = [r.photo_id for r in rows if r.vector is not None]
    if embedded:
        model_id = rows[0].model_id
        transaction.on_commit(lambda: photos_embedded.send(sender=PhotoEmbedding, photo_ids=embedded, model_id=model_id))
    return len(rows)


def stored_vectors(model_id: str, photo_ids=None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, float32 matrix) of the stored vectors of `model_id`, for building an index."""
    rows = PhotoEmbedding.objects.filter(model_id=model_id, vector__isnull=False)
    if photo_ids is not None:
        rows = rows.filter(photo_id__in=photo_ids)
    ids, blobs = [], []
    for photo_id, blob in rows.values_list("photo_id", "vector").iterator(chunk_size=5000):
        ids.append(photo_id)
        blobs.append(blob)
    return np.asarray(ids, dtype=np.int64), unpack_vectors(blobs).astype(np.float32)
