"""Tagging pages: the review page for admins, tag counts, the link on the collection page."""
import pytest

from atelier.tagging import services
from tests.helpers import add_member
from tests.platform.test_tagging import COLOURS, colour_photos, small_model  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def test_review_page_for_admins_only(client, owner, make_user, collection):
    client.force_login(owner)
    page = client.get(f"/collections/{collection.pk}/review/")
    assert page.status_code == 200 and b"review.js" in page.content and b"data-suggestions" in page.content
    assert b"Review tags" in client.get(f"/collections/{collection.pk}/").content
    viewer = make_user("vera")
    add_member(collection, viewer, "viewer")
    client.force_login(viewer)
    assert client.get(f"/collections/{collection.pk}/review/").status_code == 403
    assert b"Review tags" not in client.get(f"/collections/{collection.pk}/").content
    client.force_login(make_user("otto"))
    assert client.get(f"/collections/{collection.pk}/review/").status_code == 404


def test_tag_page_counts(client, owner, make_user, collection, colour_photos):  # noqa: F811
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="colour", tags=COLOURS)
    red = vocab.tags.get(name="red")
    for p in colour_photos[:3]:
        services.do_add_photo_tag(user=owner, photo=p, tag=red)
    client.force_login(owner)
    html = client.get(f"/collections/{collection.pk}/tags/").content.decode()
    assert "<td>3</td>" in html and "Suggested" in html
    viewer = make_user("vera")
    add_member(collection, viewer, "viewer")
    client.force_login(viewer)
    html = client.get(f"/collections/{collection.pk}/tags/").content.decode()
    assert "<td>3</td>" in html and "Suggested" not in html


def test_admins_write_a_vocabulary_on_the_tags_page(client, owner, make_user, collection):
    from atelier.tagging.models import Vocabulary

    url = f"/collections/{collection.pk}/tags/"
    client.force_login(owner)
    assert b'id="new-vocabulary"' in client.get(url).content
    res = client.post(url, {"name": "scenery", "mode": "multi", "tags": "beach\nmountain: mountains, peaks\n", "templates": "photo"})
    assert res.status_code == 302 and res["Location"].startswith(f"/collections/{collection.pk}/review/")
    vocab = Vocabulary.objects.get(collection=collection, name="scenery")
    assert vocab.templates == "photo" and sorted(vocab.tags.values_list("name", flat=True)) == ["beach", "mountain"]
    assert vocab.tags.get(name="mountain").synonyms == ["mountains", "peaks"]
    # bad input: a clear message, nothing created
    page = client.post(url, {"name": "empty", "mode": "multi", "tags": "  \n", "templates": "short"}, follow=True)
    assert "tags: write at least one tag" in page.content.decode()
    page = client.post(url, {"name": "scenery", "mode": "multi", "tags": "sea", "templates": "short"}, follow=True)
    assert "exists already" in page.content.decode()
    assert Vocabulary.objects.filter(collection=collection).count() == 1
    viewer = make_user("vera")
    add_member(collection, viewer, "viewer")
    client.force_login(viewer)
    assert b'id="new-vocabulary"' not in client.get(url).content
    assert client.post(url, {"name": "x", "mode": "multi", "tags": "a"}).status_code == 403
