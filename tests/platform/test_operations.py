"""What operators run: /livez and /readyz beside /healthz, Prometheus metrics, `reembed`,
`thumbnails --missing`, backup then restore into an empty database, the `atelier` command."""
import io
import json

import pytest
from django.core.management import call_command

from atelier.embeddings import services as embedding_services
from atelier.embeddings.models import PhotoEmbedding
from atelier.jobs.models import Job
from atelier.library import storage
from atelier.library.ingest import do_ingest_files
from atelier.library.models import Photo
from tests.helpers import image_bytes

SMALL = "random:atelier-demo-clip"


@pytest.fixture(autouse=True)
def small_model(settings):
    settings.ATELIER_CLIP_MODEL = SMALL
    embedding_services._status.cache_clear()


def upload(collection, owner, capture, n=3):
    files = [(f"p{i}.png", io.BytesIO(image_bytes("PNG", size=(80, 60), color=(50 * i, 90, 120)))) for i in range(n)]
    with capture(execute=True):
        do_ingest_files(collection=collection, user=owner, files=files)
    return list(Photo.objects.filter(collection=collection).order_by("pk"))


@pytest.mark.django_db
def test_livez_answers_while_the_broker_is_down_and_readyz_does_not(client, settings):
    settings.TASKS_MODE, settings.REDIS_URL = "celery", "redis://127.0.0.1:1/0"
    assert client.get("/livez").json() == {"ok": True}
    res = client.get("/readyz")
    assert res.status_code == 503 and res.json()["broker"]["ok"] is False
    settings.TASKS_MODE = "thread"
    res = client.get("/readyz")
    assert res.status_code == 200 and res.json()["clip_model"]["model_id"] == SMALL


@pytest.mark.django_db
def test_readyz_is_503_while_the_model_is_not_ready(client, settings):
    settings.TASKS_MODE, settings.ATELIER_CLIP_MODEL = "thread", "no-such-arch"
    embedding_services._status.cache_clear()
    res = client.get("/readyz")
    assert res.status_code == 503 and res.json()["clip_model"]["ok"] is False


@pytest.mark.django_db
def test_metrics_need_the_token_and_report_latency_jobs_and_queues(client, settings, owner):
    settings.TASKS_MODE, settings.ATELIER_METRICS_TOKEN = "thread", "s3cret"
    Job.objects.create(owner=owner, kind="embed_photos", state="failed")
    client.get("/livez")
    assert client.get("/metrics").status_code == 403
    res = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    text = res.content.decode()
    assert res.status_code == 200
    assert 'atelier_http_request_seconds_count{method="GET",status="200"}' in text
    assert 'atelier_jobs{kind="embed_photos",state="failed"} 1.0' in text
    assert "# TYPE atelier_queue_depth gauge" in text and "atelier_job_duration_seconds" in text


@pytest.mark.django_db
def test_reembed_after_a_model_change_embeds_every_photo_with_the_new_model(collection, owner, settings,
                                                                           django_capture_on_commit_callbacks):
    upload(collection, owner, django_capture_on_commit_callbacks)
    settings.ATELIER_CLIP_MODEL = "random:ViT-B-32"
    embedding_services._status.cache_clear()
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("reembed", stdout=out)
    assert "1 embedding job(s) for random:ViT-B-32" in out.getvalue()
    assert PhotoEmbedding.objects.filter(model_id="random:ViT-B-32", dim=512).count() == 3


@pytest.mark.django_db
def test_thumbnails_missing_remakes_only_the_missing_files(collection, owner, django_capture_on_commit_callbacks):
    photos = upload(collection, owner, django_capture_on_commit_callbacks)
    lost = storage.thumbnail_path(photos[0].sha256, "grid")
    kept = storage.thumbnail_path(photos[1].sha256, "grid")
    lost.unlink()
    before = kept.stat().st_mtime_ns
    out = io.StringIO()
    call_command("thumbnails", "--missing", stdout=out, verbosity=0)
    assert lost.is_file() and kept.stat().st_mtime_ns == before
    assert "thumbnails made for 1 photo(s), 0 failed" in out.getvalue()


def snapshot():
    from plugins.generation.models import Candidate, Generation
    from atelier.tagging.models import PhotoTag

    return {"photos": sorted(Photo.objects.values_list("pk", "sha256", "filename", "collection__name")),
            "tags": sorted(PhotoTag.objects.values_list("photo_id", "tag__name", "state", "confidence")),
            "generations": sorted(Generation.objects.values_list("pk", "prompt", "seed")),
            "candidates": sorted((c.generation_id, c.index, bytes(c.png)) for c in Candidate.objects.all()),
            "vectors": sorted((e.photo_id, bytes(e.vector)) for e in PhotoEmbedding.objects.all())}


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_into_an_empty_database_gives_the_same_library(collection, owner, tmp_path, settings,
                                                                          django_capture_on_commit_callbacks):
    from plugins.generation.models import Candidate, Generation
    from atelier.tagging import services as tagging

    photos = upload(collection, owner, django_capture_on_commit_callbacks)
    vocab = tagging.do_create_vocabulary(user=owner, collection=collection, name="v", tags=["red"])
    tagging.do_add_photo_tag(user=owner, photo=photos[0], tag=vocab.tags.get())
    job = Job.objects.create(owner=owner, kind="generate", state="succeeded")
    generation = Generation.objects.create(job=job, owner=owner, prompt="a red square", backend="atelier-dalle",
                                           candidates=1, keep=1, seed=7)
    Candidate.objects.create(generation=generation, index=0, seed=1, png=b"\x89PNG fake", width=1, height=1, score=0.3)
    before = snapshot()
    call_command("backup", str(tmp_path / "backup"), verbosity=0)
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["counts"]["photos"] == 3 and manifest["originals"]["files"] == 3

    call_command("flush", interactive=False, verbosity=0)  # an empty database...
    settings.MEDIA_ROOT = tmp_path / "new-media"          # ...and an empty media folder
    call_command("restore", str(tmp_path / "backup"), verbosity=0)
    assert snapshot() == before
    restored = Photo.objects.get(pk=photos[0].pk)
    assert storage.original_path(restored.sha256, restored.format).read_bytes() == \
        (tmp_path / "media" / storage.original_path(restored.sha256, restored.format).relative_to(settings.MEDIA_ROOT)).read_bytes()


@pytest.mark.django_db
def test_restore_refuses_a_database_that_is_not_empty(tmp_path, owner):
    from django.core.management.base import CommandError

    call_command("backup", str(tmp_path / "b"), verbosity=0)
    with pytest.raises(CommandError, match="needs an empty database"):
        call_command("restore", str(tmp_path / "b"), verbosity=0)
    (tmp_path / "b" / "database.json.gz").write_bytes(b"damaged")
    with pytest.raises(CommandError, match="does not match its SHA-256"):
        call_command("restore", str(tmp_path / "b"), verbosity=0)


def test_the_atelier_command_knows_its_subcommands(capsys):
    from atelier.cli import COMMANDS, main

    assert main(["no-such"]) == 2 and "unknown command 'no-such'" in capsys.readouterr().err
    assert set(COMMANDS) | {"web", "worker"} == {"demo", "web", "worker", "migrate", "import", "reembed", "reindex",
                                                 "thumbnails", "backup", "restore", "check"}
