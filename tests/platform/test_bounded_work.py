"""Issue 18, finding 5: one request never does unbounded work. Every API list has a maximum page
size; near-duplicate grouping runs as a job with a bounded threshold, its result stored and shown."""
import io

import pytest

from atelier.jobs.models import Job
from tests.helpers import api_for, image_bytes

MAX_PAGE = 500


@pytest.mark.parametrize("url", ["/api/photos/", "/api/collections/", "/api/jobs/", "/api/generations/",
                                 "/api/collections/{c}/suggestions/", "/api/vocabularies/", "/api/collections/{c}/members/"])
def test_every_list_refuses_a_page_above_its_cap(api, collection, url):
    response = api.get(url.format(c=collection.pk) + "?limit=100000")
    assert response.status_code == 400, response.content[:200]
    assert "limit" in response.json()["fields"]


def test_photo_list_pages_up_to_the_cap(api, collection, settings):
    settings.ATELIER_API_MAX_PAGE = 3
    from atelier.library.ingest import do_ingest_files

    files = [(f"p{i}.png", io.BytesIO(image_bytes("PNG", color=(i * 40, 10, 10)))) for i in range(4)]
    do_ingest_files(collection=collection, user=collection.owner, files=files)
    assert api.get("/api/photos/?limit=4").status_code == 400
    page = api.get("/api/photos/?limit=3").json()
    assert page["count"] == 4 and len(page["results"]) == 3 and page["next"]
    assert len(api.get("/api/photos/").json()["results"]) == 3  # the default never exceeds the cap
    assert len(api.get(f"/api/photos/?limit=3&cursor={page['next_cursor']}").json()["results"]) == 1


# -- near-duplicates --------------------------------------------------------------------------------
@pytest.fixture
def embedded(collection, owner, settings, django_capture_on_commit_callbacks):
    """Four photos with stored vectors (the random-weight test model): two identical copies."""
    from atelier.embeddings import services as embedding_services
    from atelier.library.ingest import do_ingest_files

    settings.ATELIER_CLIP_MODEL = "random:atelier-demo-clip"
    embedding_services._status.cache_clear()
    files = [("red.png", image_bytes("PNG", size=(96, 96), color=(200, 30, 30))),
             ("red-again.bmp", image_bytes("BMP", size=(96, 96), color=(200, 30, 30))),  # same pixels
             ("blue.png", image_bytes("PNG", size=(96, 96), color=(20, 30, 220))),
             ("green.jpg", image_bytes("JPEG", size=(96, 96), color=(20, 200, 30)))]
    with django_capture_on_commit_callbacks(execute=True):
        report = do_ingest_files(collection=collection, user=owner, files=[(n, io.BytesIO(d)) for n, d in files])
    return {c["filename"]: c["id"] for c in report.created}


@pytest.mark.parametrize("threshold", ["-1", "0.5", "1.5", "nan", "abc"])
def test_neardup_refuses_a_threshold_outside_the_sane_range(client, owner, collection, threshold):
    client.force_login(owner)
    response = client.post(f"/plugins/neardup/collections/{collection.pk}/", {"threshold": threshold})
    assert response.status_code == 400
    assert b'id="neardup-error"' in response.content and b"threshold" in response.content
    assert client.get(f"/plugins/neardup/collections/{collection.pk}/?threshold={threshold}").status_code == 400
    assert not Job.objects.filter(kind="neardup").exists()


def test_neardup_runs_as_a_job_and_the_page_shows_progress_then_the_stored_result(
        client, owner, collection, embedded, django_capture_on_commit_callbacks, make_user):
    from plugins.neardup import services

    url = f"/plugins/neardup/collections/{collection.pk}/"
    client.force_login(owner)
    assert b'id="no-scan"' in client.get(url).content
    response = client.post(url, {"threshold": "0.9999"})  # not run: the job stays queued
    assert response.status_code == 302
    job = Job.objects.get(kind="neardup")
    assert job.state == "queued" and job.collection_id == collection.pk
    page = client.get(url).content.decode()
    assert f'data-scan-job="{job.pk}"' in page and "<progress" in page  # progress, no compute in the request
    assert client.post(url, {"threshold": "0.9999"}).status_code == 302
    assert Job.objects.filter(kind="neardup").count() == 1  # the running scan is reused

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"threshold": "0.99999"})
    scan = services.latest_scan(collection)
    assert scan.job.state == "succeeded" and scan.groups is not None
    assert scan.groups == services.duplicate_groups(collection, threshold=0.99999)
    assert sorted([embedded["red.png"], embedded["red-again.bmp"]]) in scan.groups
    page = client.get(url).content.decode()
    assert 'id="neardup-result"' in page and page.count('class="tile"') == sum(map(len, scan.groups))

    viewer = make_user("vic")
    collection.visibility = "public"
    collection.save()
    client.force_login(viewer)  # viewers see the stored result, and cannot start scans
    assert 'id="neardup-result"' in client.get(url).content.decode()
    assert client.post(url, {"threshold": "0.95"}).status_code == 400
    assert Job.objects.filter(kind="neardup").count() == 2


def test_neardup_scan_is_resumable_in_bounded_steps(owner, collection, embedded, monkeypatch):
    import time

    from plugins.neardup import services
    from plugins.neardup.models import NearDupScan

    monkeypatch.setattr(services, "CHUNK", 1)
    scan = services.start_scan(user=owner, collection=collection, threshold=0.99999)
    steps = 0
    while True:
        done, total, more = services.scan_step(NearDupScan.objects.get(pk=scan.pk), deadline=time.monotonic() - 1)
        steps += 1
        assert done == min(steps, total)  # a past deadline still makes one chunk of progress
        if not more:
            break
    assert steps == total == 4
    scan.refresh_from_db()
    assert scan.groups == services.duplicate_groups(collection, threshold=0.99999) and scan.parent == {}
