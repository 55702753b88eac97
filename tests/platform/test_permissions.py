"""The permission matrix: owner / member by role / other user / anonymous, for every endpoint.

Private files are never reachable by another user, by guessing an id, and there is no media URL.
"""
import io

import pytest
from django.test import Client

from atelier.library.models import Collection
from tests.helpers import add_member, api_for, image_bytes

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "editor", "viewer", "other", "anonymous", "staff"]
# (method, url template, allowed roles, expected status when allowed)
ENDPOINTS = [
    ("get", "/api/collections/{c}/", {"owner", "admin", "editor", "viewer", "staff"}, 200),
    ("patch", "/api/collections/{c}/", {"owner", "admin", "staff"}, 200),
    ("get", "/api/collections/{c}/members/", {"owner", "admin", "staff"}, 200),
    ("post", "/api/collections/{c}/members/", {"owner", "admin", "staff"}, 202),
    ("get", "/api/collections/{c}/invitations/", {"owner", "admin", "staff"}, 200),
    ("post", "/api/collections/{c}/photos/", {"owner", "admin", "editor", "staff"}, 201),
    ("get", "/api/photos/{p}/", {"owner", "admin", "editor", "viewer", "staff"}, 200),
    ("patch", "/api/photos/{p}/", {"owner", "admin", "editor", "staff"}, 200),
    ("get", "/api/photos/{p}/thumbnail/", {"owner", "admin", "editor", "viewer", "staff"}, 200),
    ("get", "/api/photos/{p}/original/", {"owner", "admin", "editor", "viewer", "staff"}, 200),
    ("delete", "/api/photos/{p}/", {"owner", "admin", "editor", "staff"}, 204),
    ("delete", "/api/collections/{c}/", {"owner", "staff"}, 204),
]


@pytest.fixture
def world(make_user, django_capture_on_commit_callbacks):
    users = {name: make_user(name, staff=(name == "staff")) for name in ROLES if name not in ("anonymous",)}
    collection = Collection.objects.create(owner=users["owner"], name="Secret trip", visibility="private")
    for role in ("admin", "editor", "viewer"):
        add_member(collection, users[role], role)
    make_user("invitee")
    upload = io.BytesIO(image_bytes("PNG"))
    upload.name = "secret.png"
    with django_capture_on_commit_callbacks(execute=True):
        res = api_for(users["owner"]).post(f"/api/collections/{collection.pk}/photos/", {"files": [upload]}, format="multipart")
    users["anonymous"] = None
    return users, collection, res.json()["created"][0]["id"]


def payload(method, url):
    if url.endswith("/photos/") and method == "post":
        f = io.BytesIO(image_bytes("PNG", color=(1, 2, 3)))
        f.name = "new.png"
        return {"files": [f]}, "multipart"
    if url.endswith("/members/") and method == "post":
        return {"username": "invitee", "role": "viewer"}, "json"
    if method == "patch":
        return ({"title": "t"} if "/photos/" in url else {"description": "d"}), "json"
    return None, "json"


@pytest.mark.parametrize("method,template,allowed,ok_status", ENDPOINTS, ids=[f"{m} {t}" for m, t, _, _ in ENDPOINTS])
@pytest.mark.parametrize("role", ROLES)
def test_private_collection_matrix(world, role, method, template, allowed, ok_status, django_capture_on_commit_callbacks):
    users, collection, photo_id = world
    url = template.format(c=collection.pk, p=photo_id)
    data, fmt = payload(method, url)
    with django_capture_on_commit_callbacks(execute=True):
        res = getattr(api_for(users[role]), method)(url, data=data, format=fmt)
    if role in allowed:
        assert res.status_code == ok_status, (role, res.status_code, getattr(res, "data", None))
    else:
        # Members may learn the thing exists (403); strangers get 404 (no existence leak) or 401.
        expected = {"anonymous": {401, 404}, "other": {404}}.get(role, {403})
        assert res.status_code in expected, (role, res.status_code)
        if res.status_code != 401:
            assert "error" in res.json()


@pytest.mark.parametrize("visibility,anon,other", [("private", False, False), ("shared", False, True), ("public", True, True)])
def test_visibility_levels_grant_viewing(world, visibility, anon, other):
    users, collection, photo_id = world
    Collection.objects.filter(pk=collection.pk).update(visibility=visibility)
    for role, allowed in (("anonymous", anon), ("other", other)):
        client = api_for(users[role])
        assert (client.get(f"/api/photos/{photo_id}/thumbnail/").status_code == 200) == allowed
        listed = [c["id"] for c in client.get("/api/collections/").json()]
        assert (collection.pk in listed) == allowed
        photos = client.get("/api/photos/").json()["results"]
        assert (photo_id in [p["id"] for p in photos]) == allowed
        # A viewer by visibility still may not change anything.
        assert client.patch(f"/api/photos/{photo_id}/", {"title": "x"}, format="json").status_code in ({401, 403} if allowed else {401, 404})


def test_web_pages_and_files_follow_the_same_rules(world):
    users, collection, photo_id = world
    owner = Client()
    owner.force_login(users["owner"])
    stranger = Client()
    stranger.force_login(users["other"])
    for url in (f"/collections/{collection.pk}/", f"/photos/{photo_id}/", f"/api/photos/{photo_id}/thumbnail/?size=large"):
        assert owner.get(url).status_code == 200
        assert stranger.get(url).status_code == 404
        assert Client().get(url).status_code in (401, 403, 404)
    assert "Secret trip" not in stranger.get("/collections/").content.decode()
    # No public media URL exists for files: nothing under /media/ is routed.
    from atelier.library.models import Photo

    sha = Photo.objects.get(pk=photo_id).sha256
    for guess in (f"/media/originals/{sha[:2]}/{sha[2:4]}/{sha}.png", f"/media/thumbs/grid/{sha[:2]}/{sha}.jpg", f"/static/../var/media/originals/{sha}.png"):
        assert stranger.get(guess).status_code == 404
        assert owner.get(guess).status_code == 404


def test_jobs_are_private_to_their_owner(world):
    users, collection, photo_id = world
    owner_jobs = api_for(users["owner"]).get("/api/jobs/").json()
    # the upload's thumbnail job, and its embedding job when a CLIP model is ready
    assert {j["kind"] for j in owner_jobs} <= {"process_photos", "embed_photos"} and owner_jobs
    job_id = next(j["id"] for j in owner_jobs if j["kind"] == "process_photos")
    assert api_for(users["other"]).get("/api/jobs/").json() == []
    assert api_for(users["other"]).get(f"/api/jobs/{job_id}/").status_code == 404
    assert api_for(users["other"]).post(f"/api/jobs/{job_id}/cancel/").status_code == 404
    assert api_for(None).get("/api/jobs/").status_code == 401
    assert api_for(users["staff"]).get(f"/api/jobs/{job_id}/").status_code == 200
