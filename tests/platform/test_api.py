"""API shapes outside clients rely on, and JSON 4xx for malformed requests."""
import io

import pytest
from rest_framework.test import APIClient

from atelier.library.models import Collection, Photo
from tests.helpers import api_for, image_bytes

pytestmark = pytest.mark.django_db


def test_token_auth_roundtrip(owner):
    client = APIClient()
    res = client.post("/api/auth/token/", {"username": "olga", "password": "pw"}, format="json")
    assert res.status_code == 200 and len(res.json()["token"]) == 64 and res.json()["expiry"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {res.json()['token']}")
    assert client.get("/api/collections/").status_code == 200
    bad = APIClient().post("/api/auth/token/", {"username": "olga", "password": "nope"}, format="json")
    assert bad.status_code == 400 and bad.json() == {"error": "wrong username or password"}


def test_users_created_by_staff_only(make_user, owner):
    staff = make_user("root", staff=True)
    assert api_for(owner).post("/api/users/", {"username": "x", "password": "y"}, format="json").status_code == 403
    res = api_for(staff).post("/api/users/", {"username": "newbie", "password": "plum-quartz-78"}, format="json")
    assert res.status_code == 201 and res.json()["username"] == "newbie"
    again = api_for(staff).post("/api/users/", {"username": "newbie", "password": "plum-quartz-78"}, format="json")
    assert again.status_code == 400 and "already taken" in again.json()["error"]


def test_collection_crud_and_members(api, owner, make_user):
    res = api.post("/api/collections/", {"name": "Trips", "visibility": "private"}, format="json")
    assert res.status_code == 201
    cid = res.json()["id"]
    assert res.json()["owner"] == "olga"
    dup = api.post("/api/collections/", {"name": "Trips"}, format="json")
    assert dup.status_code == 400 and "already have" in dup.json()["error"]
    assert api.patch(f"/api/collections/{cid}/", {"description": "summer"}, format="json").json()["description"] == "summer"
    bad_vis = api.patch(f"/api/collections/{cid}/", {"visibility": "everyone"}, format="json")
    assert bad_vis.status_code == 400 and "visibility" in bad_vis.json()["error"]
    vera = make_user("vera")
    invited = api.post(f"/api/collections/{cid}/members/", {"username": "vera", "role": "editor"}, format="json")
    assert invited.status_code == 202 and invited.json() == {"username": "vera", "role": "editor", "state": "invited"}
    assert api.get(f"/api/collections/{cid}/members/").json() == []  # a member once she accepts
    invitation = api_for(vera).get("/api/invitations/").json()[0]
    assert api_for(vera).post(f"/api/invitations/{invitation['id']}/accept/").json() == {"collection": cid, "role": "editor"}
    assert api.get(f"/api/collections/{cid}/members/").json() == [{"username": "vera", "role": "editor"}]
    changed = api.post(f"/api/collections/{cid}/members/", {"username": "vera", "role": "viewer"}, format="json")
    assert changed.status_code == 200 and changed.json()["state"] == "member"
    assert api.delete(f"/api/collections/{cid}/members/vera/").status_code == 204
    assert api.get(f"/api/collections/{cid}/members/").json() == []
    assert api.delete(f"/api/collections/{cid}/").status_code == 204
    assert not Collection.objects.filter(pk=cid).exists()


def test_upload_shape(api, collection, django_capture_on_commit_callbacks):
    data = image_bytes("PNG")
    files = [io.BytesIO(data), io.BytesIO(data), io.BytesIO(b"nope")]
    for f, name in zip(files, ["a.png", "b.png", "c.jpg"]):
        f.name = name
    with django_capture_on_commit_callbacks(execute=True):
        res = api.post(f"/api/collections/{collection.pk}/photos/", {"files": files}, format="multipart")
    body = res.json()
    assert res.status_code == 201
    assert set(body) == {"created", "duplicates", "rejected", "job"}
    photo_id = body["created"][0]["id"]
    assert body["created"] == [{"id": photo_id, "filename": "a.png"}]
    assert body["duplicates"] == [{"id": photo_id, "filename": "b.png"}]
    assert body["rejected"][0]["filename"] == "c.jpg" and "c.jpg" in body["rejected"][0]["reason"]
    job = api.get(f"/api/jobs/{body['job']}/").json()
    assert (job["state"], job["done"], job["total"]) == ("succeeded", 1, 1)
    thumb = api.get(f"/api/photos/{photo_id}/thumbnail/")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    original = api.get(f"/api/photos/{photo_id}/original/")
    assert original.status_code == 200 and b"".join(original.streaming_content) == data
    listing = api.get(f"/api/photos/?collection={collection.pk}").json()
    assert listing["count"] == 1 and listing["results"][0]["thumbnail_url"] == f"/api/photos/{photo_id}/thumbnail/"


def test_photo_patch_and_delete_removes_files(api, collection, django_capture_on_commit_callbacks, settings):
    f = io.BytesIO(image_bytes("PNG"))
    f.name = "x.png"
    with django_capture_on_commit_callbacks(execute=True):
        pid = api.post(f"/api/collections/{collection.pk}/photos/", {"files": [f]}, format="multipart").json()["created"][0]["id"]
    res = api.patch(f"/api/photos/{pid}/", {"title": "Sunset", "caption": "at the pier"}, format="json")
    assert res.json()["title"] == "Sunset" and res.json()["caption"] == "at the pier"
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/photos/{pid}/").status_code == 204
    assert not Photo.objects.exists()
    assert [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("method,url,payload", [
    ("get", "/api/photos/abc/", None),
    ("get", "/api/photos/?collection=zzz", None),
    ("get", "/api/collections/99999999999999999999999/", None),
    ("post", "/api/collections/", {"name": ""}),
    ("post", "/api/collections/", "not json at all"),
    ("post", "/api/auth/token/", {"username": "x"}),
    ("get", "/api/photos/1/thumbnail/?size=huge", None),
    ("post", "/api/jobs/abc/cancel/", None),
    ("get", "/api/no-such-endpoint/", None),
])
def test_malformed_requests_get_json_4xx(api, collection, method, url, payload):
    kwargs = {"content_type": "application/json", "data": payload} if isinstance(payload, str) else {"data": payload, "format": "json"}
    res = getattr(api, method)(url, **kwargs)
    assert 400 <= res.status_code < 500, res.status_code
    assert "error" in res.json()


def test_upload_without_files_is_400(api, collection):
    res = api.post(f"/api/collections/{collection.pk}/photos/", {}, format="multipart")
    assert res.status_code == 400 and "files" in res.json()["error"]


def test_openapi_schema_lists_the_endpoints(api):
    res = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert res.status_code == 200
    schema = res.json() if res["Content-Type"].endswith("json") else __import__("yaml").safe_load(res.content)
    assert schema["openapi"].startswith("3.")
    for path in ["/api/collections/{id}/photos/", "/api/photos/{id}/thumbnail/", "/api/jobs/{id}/cancel/", "/api/auth/token/"]:
        assert path in schema["paths"], path
    assert api.get("/api/docs/").status_code == 200
