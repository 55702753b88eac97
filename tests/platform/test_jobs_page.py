"""The jobs page in human words: entries per upload with steps, times, links, newest first, paged."""
import pytest
from django.utils import timezone

from atelier.jobs.models import Job

pytestmark = pytest.mark.django_db


def test_entries_group_an_upload_and_read_as_words(client, owner, collection, make_user):
    now = timezone.now()
    done = {"state": "succeeded", "started_at": now, "finished_at": now}
    for i in range(3):  # one browser upload of three files: three requests, each two jobs
        Job.objects.create(kind="process_photos", owner=owner, collection=collection, total=1, done=1, params={"upload": "u1"}, **done)
        Job.objects.create(kind="embed_photos", owner=owner, collection=collection, total=1, done=1, params={"upload": "u1"}, **done)
    Job.objects.create(kind="tag_photos", owner=owner, collection=collection, total=40, state="running", started_at=now)
    Job.objects.create(kind="process_photos", owner=make_user("sam"), total=5)  # someone else's
    client.force_login(owner)
    page = client.get("/jobs/").content.decode()
    assert page.count('class="entry"') == 2
    assert page.index("Suggesting tags for 40 photos in Holidays") < page.index("Processing 3 photos in Holidays")  # newest first
    assert page.count("Reading with CLIP (for search)") == 3 and f'href="/collections/{collection.pk}/"' in page
    assert "embed_photos" not in page and "<time" in page


def test_the_jobs_page_is_paged(client, owner):
    Job.objects.bulk_create([Job(kind="process_photos", owner=owner, total=1) for _ in range(130)])
    client.force_login(owner)
    first = client.get("/jobs/").content.decode()
    assert first.count('class="entry"') == 60 and "page 1 of 3" in first and "?page=2" in first
    assert client.get("/jobs/", {"page": 3}).content.decode().count('class="entry"') == 10
    assert client.get("/jobs/", {"page": "junk"}).status_code == 200
