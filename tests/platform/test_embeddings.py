"""The embedding pipeline: photos in → CLIP vectors stored with their model id, idempotent, resumable."""
import io

import numpy as np
import pytest

from atelier.embeddings import services
from atelier.embeddings.models import PhotoEmbedding
from atelier.jobs.models import Job
from atelier.library import storage
from atelier.library.ingest import do_ingest_files
from tests.helpers import image_bytes

pytestmark = pytest.mark.django_db
SMALL = "random:atelier-demo-clip"  # the demo architecture with seeded random weights


@pytest.fixture(autouse=True)
def small_model(settings):
    settings.ATELIER_CLIP_MODEL = SMALL
    services._status.cache_clear()


def upload(collection, owner, capture, n=3):
    files = [(f"p{i}.png", io.BytesIO(image_bytes("PNG", size=(96, 96), color=(40 * i, 100, 200 - 30 * i)))) for i in range(n)]
    with capture(execute=True):
        return do_ingest_files(collection=collection, user=owner, files=files)


def test_new_photos_are_embedded_on_the_gpu_queue_and_stored(collection, owner, django_capture_on_commit_callbacks):
    report = upload(collection, owner, django_capture_on_commit_callbacks)
    job = Job.objects.get(kind="embed_photos")
    assert (job.state, job.done, job.total) == ("succeeded", 3, 3)
    rows = PhotoEmbedding.objects.filter(model_id=SMALL)
    assert rows.count() == 3 and all(r.error == "" and r.dim == 128 for r in rows)
    ids, vectors = services.stored_vectors(SMALL)
    assert sorted(ids.tolist()) == sorted(c["id"] for c in report.created)
    assert vectors.shape == (3, 128) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-2)
    assert not np.allclose(vectors[0], vectors[1]), "different photos, different vectors"


def test_stored_vector_matches_a_direct_encoding(collection, owner, django_capture_on_commit_callbacks):
    from ml_core.clip import get_engine

    report = upload(collection, owner, django_capture_on_commit_callbacks, n=1)
    photo_id = report.created[0]["id"]
    stored = PhotoEmbedding.objects.get(photo_id=photo_id).as_array()
    from atelier.library.models import Photo

    photo = Photo.objects.get(pk=photo_id)
    direct = get_engine(SMALL).encode_images([storage.original_path(photo.sha256, photo.format)]).vectors[0]
    assert np.dot(stored, direct) > 0.999  # float16 storage keeps the direction


def test_rerun_embeds_only_what_is_missing(collection, owner, django_capture_on_commit_callbacks):
    upload(collection, owner, django_capture_on_commit_callbacks)
    assert services.start_embedding_job(collection=collection, user=owner) is None
    PhotoEmbedding.objects.filter(photo__filename="p1.png").delete()  # e.g. a batch lost mid-way
    with django_capture_on_commit_callbacks(execute=True):
        job_id = services.start_embedding_job(collection=collection, user=owner)
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.total, job.done) == ("succeeded", 1, 1)
    assert PhotoEmbedding.objects.count() == 3


def test_a_photo_that_fails_to_decode_is_marked_and_the_job_goes_on(collection, owner, django_capture_on_commit_callbacks, settings):
    settings.ATELIER_CLIP_MODEL = "no-such-arch"  # not ready: holds embedding back while we damage a file
    services._status.cache_clear()
    report = upload(collection, owner, django_capture_on_commit_callbacks)
    from atelier.library.models import Photo

    broken = Photo.objects.get(pk=report.created[0]["id"])
    storage.original_path(broken.sha256, broken.format).write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    settings.ATELIER_CLIP_MODEL = SMALL
    services._status.cache_clear()
    with django_capture_on_commit_callbacks(execute=True):
        job_id = services.start_embedding_job(collection=collection, user=owner)
    assert Job.objects.get(pk=job_id).state == "succeeded"
    row = PhotoEmbedding.objects.get(photo=broken)
    assert row.vector is None and row.error
    assert PhotoEmbedding.objects.filter(vector__isnull=False).count() == 2


def test_a_model_change_is_detected_and_triggers_re_embedding(collection, owner, django_capture_on_commit_callbacks, settings):
    upload(collection, owner, django_capture_on_commit_callbacks, n=2)
    settings.ATELIER_CLIP_MODEL = "random:ViT-B-32"
    services._status.cache_clear()
    with django_capture_on_commit_callbacks(execute=True):
        jobs = services.start_missing_embeddings()
    assert len(jobs) == 1
    assert PhotoEmbedding.objects.filter(model_id="random:ViT-B-32", dim=512).count() == 2
    assert PhotoEmbedding.objects.filter(model_id=SMALL).count() == 2, "the old space is kept apart, not mixed"


def test_the_model_is_loaded_once_per_process(collection, owner, django_capture_on_commit_callbacks, monkeypatch):
    from ml_core.clip import factory

    created = []
    real = factory.create_engine
    monkeypatch.setattr(factory, "create_engine", lambda *a, **k: created.append(1) or real(*a, **k))
    factory.clear_engines()
    upload(collection, owner, django_capture_on_commit_callbacks, n=1)
    upload(collection, owner, django_capture_on_commit_callbacks, n=2)
    assert len(created) == 1 and Job.objects.filter(kind="embed_photos", state="succeeded").count() == 2


def test_a_model_that_is_not_ready_starts_no_job_and_says_why(collection, owner, django_capture_on_commit_callbacks, settings, tmp_path):
    settings.ATELIER_CLIP_MODEL = f"file:{tmp_path}/missing.pt?arch=atelier-demo-clip"
    services._status.cache_clear()
    upload(collection, owner, django_capture_on_commit_callbacks, n=1)
    assert not Job.objects.filter(kind="embed_photos").exists()
    status = services.model_status()
    assert not status.ready and "missing.pt" in status.message


def test_a_malformed_model_setting_is_reported_not_raised(settings):
    settings.ATELIER_CLIP_MODEL = "no-such-arch"
    services._status.cache_clear()
    status = services.model_status()
    assert not status.ready and "unknown CLIP architecture 'no-such-arch'" in status.message
