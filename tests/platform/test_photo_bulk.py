"""Bulk actions on a selection: tags by hand, copy to a collection, delete, zip download; permissions."""
import io
import zipfile

import pytest

from atelier.library.models import Collection, Photo
from atelier.tagging.models import PhotoTag
from tests.helpers import add_member, api_for, image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def uploaded(api, collection, django_capture_on_commit_callbacks):
    files = []
    for i, name in enumerate(["a.png", "b.png", "sub/a.png"]):
        f = io.BytesIO(image_bytes("PNG", color=(40 * i, 90, 200)))
        f.name = name
        files.append(f)
    with django_capture_on_commit_callbacks(execute=True):
        body = api.post(f"/api/collections/{collection.pk}/photos/", {"files": files}, format="multipart").json()
    return [p["id"] for p in body["created"]]


def bulk(client, **body):
    return client.post("/api/photos/bulk/", body, format="json")


def test_add_and_remove_a_tag_by_hand(api, collection, uploaded):
    res = bulk(api, ids=uploaded[:2], action="add_tag", tag="Beach")
    assert res.status_code == 200 and res.json() == {"tagged": 2}
    rows = PhotoTag.objects.filter(photo_id__in=uploaded[:2])
    assert {(r.tag.name, r.state, r.source) for r in rows} == {("Beach", "accepted", "person")}
    assert rows[0].tag.vocabulary.name == "my tags"
    assert [p["id"] for p in api.get("/api/photos/", {"collection": collection.pk, "tag": "beach"}).json()["results"]] == sorted(uploaded[:2], reverse=True)
    assert bulk(api, ids=uploaded, action="add_tag", tag="beach").json() == {"tagged": 3}  # same tag, any case
    assert PhotoTag.objects.filter(tag__name="Beach").count() == 3
    assert bulk(api, ids=uploaded[:1], action="remove_tag", tag="BEACH").json() == {"untagged": 1}
    assert PhotoTag.objects.get(photo_id=uploaded[0]).state == "rejected"
    assert api.get("/api/photos/", {"collection": collection.pk, "tag": "beach"}).json()["count"] == 2


def test_copy_to_another_collection_reuses_the_files(api, owner, collection, uploaded, django_capture_on_commit_callbacks):
    other = Collection.objects.create(owner=owner, name="Best of")
    with django_capture_on_commit_callbacks(execute=True):
        res = bulk(api, ids=uploaded[:2], action="copy_to", collection=other.pk)
    assert res.status_code == 200 and res.json()["added"] == 2 and res.json()["already_there"] == 0
    copies = Photo.objects.filter(collection=other)
    assert sorted(copies.values_list("sha256", flat=True)) == sorted(Photo.objects.filter(pk__in=uploaded[:2]).values_list("sha256", flat=True))
    assert all(p.thumbs_ready for p in copies)  # processed as an upload is
    assert bulk(api, ids=uploaded, action="copy_to", collection=other.pk).json()["added"] == 1


def test_permissions_of_every_action(api, make_user, owner, collection, uploaded):
    viewer, stranger = make_user("vic"), make_user("sam")
    add_member(collection, viewer, "viewer")
    theirs = Collection.objects.create(owner=stranger, name="Sam's")
    assert bulk(api_for(stranger), ids=uploaded, action="delete").status_code == 404  # not even visible
    assert bulk(api_for(viewer), ids=uploaded, action="delete").status_code == 403
    assert bulk(api_for(viewer), ids=uploaded, action="add_tag", tag="x").status_code == 403
    assert bulk(api, ids=uploaded, action="copy_to", collection=theirs.pk).status_code == 404
    add_member(theirs, owner, "viewer")
    assert bulk(api, ids=uploaded, action="copy_to", collection=theirs.pk).status_code == 403
    assert api_for(stranger).get("/api/photos/zip/", {"ids": ",".join(map(str, uploaded))}).status_code == 404
    assert Photo.objects.filter(pk__in=uploaded).count() == 3 and not PhotoTag.objects.exists()
    assert not theirs.photos.exists()


@pytest.mark.parametrize("body, field", [
    ({"ids": [], "action": "delete"}, "ids"), ({"ids": [1], "action": "explode"}, "action"),
    ({"ids": [1], "action": "add_tag"}, "tag"), ({"ids": [1], "action": "copy_to"}, "collection"),
    ({"ids": ["x"], "action": "delete"}, "ids"),
])
def test_bad_bulk_requests_name_the_field(api, body, field):
    res = api.post("/api/photos/bulk/", body, format="json")
    assert res.status_code == 400 and field in res.json()["fields"]


def test_delete_then_zip(api, collection, uploaded, django_capture_on_commit_callbacks):
    res = api.get("/api/photos/zip/", {"ids": ",".join(map(str, uploaded))})
    assert res.status_code == 200 and res["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(res.streaming_content)))
    assert archive.namelist() == ["a.png", "b.png", "a (2).png"]
    assert api.get("/api/photos/zip/", {"ids": "1,abc"}).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        assert bulk(api, ids=uploaded[:2], action="delete").json() == {"deleted": 2}
    assert list(Photo.objects.values_list("pk", flat=True)) == uploaded[2:]
