"""Tagging API: CRUD, jobs, suggestions by uncertainty, bulk decisions, a photo's tags; who may do what."""
import numpy as np
import pytest

from atelier.embeddings import services as embedding_services
from atelier.library.models import Collection
from atelier.tagging import services
from atelier.tagging.models import PhotoTag, Vocabulary
from tests.helpers import add_member, api_for
from tests.platform.test_tagging import COLOURS, SMALL, add_photos, near, tag_vectors

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_model(settings):
    settings.ATELIER_CLIP_MODEL = SMALL
    embedding_services._status.cache_clear()


@pytest.fixture
def people(make_user, owner, collection):
    users = {"owner": owner, "other": make_user("otto"), "anonymous": None, "staff": make_user("sam", staff=True)}
    for role in ("admin", "editor", "viewer"):
        users[role] = make_user(role + "_user")
        add_member(collection, users[role], role)
    return users


@pytest.fixture
def tagged(owner, collection):
    rng = np.random.default_rng(0)
    m = tag_vectors(COLOURS)
    photos = add_photos(collection, [near(m[c], rng, noise=0.05 * (1 + i)) for c in range(3) for i in range(3)])
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="colour", mode="exclusive",
                                          tags=COLOURS, min_probability=0.0)
    services.score_vocabulary(vocabulary=vocab, collection=collection, model_id=SMALL)
    return vocab, photos


CAN_ADMIN = {"owner": True, "admin": True, "staff": True, "editor": False, "viewer": False, "other": False, "anonymous": False}


@pytest.mark.parametrize("who", list(CAN_ADMIN))
def test_vocabulary_and_decision_permissions(people, collection, tagged, who):
    vocab, photos = tagged
    client = api_for(people[who])
    expected_denied = 401 if who == "anonymous" else (404 if who == "other" else 403)
    r = client.post("/api/vocabularies/", {"collection": collection.pk, "name": f"v-{who}", "tags": ["cat"]}, format="json")
    assert r.status_code == (201 if CAN_ADMIN[who] else expected_denied), r.json()
    r = client.patch(f"/api/vocabularies/{vocab.pk}/", {"min_probability": 0.2}, format="json")
    assert r.status_code == (200 if CAN_ADMIN[who] else expected_denied)
    r = client.post(f"/api/vocabularies/{vocab.pk}/tags/", {"name": f"t-{who}"}, format="json")
    assert r.status_code == (201 if CAN_ADMIN[who] else expected_denied)
    pt = PhotoTag.objects.filter(photo=photos[0]).first()
    r = client.post(f"/api/collections/{collection.pk}/decisions/", {"ids": [pt.pk], "state": "accepted"}, format="json")
    assert r.status_code == (200 if CAN_ADMIN[who] else expected_denied)
    r = client.get(f"/api/collections/{collection.pk}/suggestions/")
    assert r.status_code == (200 if CAN_ADMIN[who] else (404 if who in ("other", "anonymous") else 403))
    assert "error" in r.json() or "results" in r.json()


@pytest.mark.parametrize("who", list(CAN_ADMIN))
def test_photo_tags_viewers_see_accepted_only(people, collection, tagged, who):
    vocab, photos = tagged
    services.do_add_photo_tag(user=people["owner"], photo=photos[0], tag=vocab.tags.get(name="blue"))
    r = api_for(people[who]).get(f"/api/photos/{photos[0].pk}/tags/")
    if who in ("other", "anonymous"):
        assert r.status_code == 404
        return
    states = {t["state"] for t in r.json()["results"]}
    assert states == ({"accepted", "suggested"} if CAN_ADMIN[who] else {"accepted"})


def test_public_collection_photo_tags_for_anonymous(people, collection, tagged):
    collection.visibility = Collection.Visibility.PUBLIC
    collection.save()
    vocab, photos = tagged
    services.do_add_photo_tag(user=people["owner"], photo=photos[0], tag=vocab.tags.get(name="red"))
    r = api_for(None).get(f"/api/photos/{photos[0].pk}/tags/")
    assert [t["tag_name"] for t in r.json()["results"]] == ["red"]
    assert api_for(None).post(f"/api/photos/{photos[0].pk}/tags/", {"tag": 1}, format="json").status_code == 401


def test_global_vocabularies_are_staff_made(people, collection):
    body = {"collection": None, "name": "global", "mode": "exclusive", "tags": [{"name": "dog", "synonyms": ["puppy"]}]}
    assert api_for(people["owner"]).post("/api/vocabularies/", body, format="json").status_code == 403
    r = api_for(people["staff"]).post("/api/vocabularies/", body, format="json")
    assert r.status_code == 201 and r.json()["collection"] is None and r.json()["tags"][0]["synonyms"] == ["puppy"]
    listed = api_for(people["viewer"]).get(f"/api/vocabularies/?collection={collection.pk}").json()["results"]
    assert [v["name"] for v in listed] == ["global"]


def test_suggestions_sorted_by_uncertainty_and_bulk_decisions(api, collection, tagged):
    vocab, photos = tagged
    vocab.min_probability = 0.0
    r = api.get(f"/api/collections/{collection.pk}/suggestions/?limit=50")
    rows = r.json()["results"]
    assert r.json()["count"] == 9 and len(rows) == 9
    margins = [abs(x["margin"]) for x in rows]
    assert margins == sorted(margins)
    ids = [x["id"] for x in rows[:4]]
    r = api.post(f"/api/collections/{collection.pk}/decisions/", {"ids": ids, "state": "rejected"}, format="json")
    left = api.get(f"/api/collections/{collection.pk}/suggestions/?limit=50").json()["results"]
    expected_left = {str(t): sum(x["tag"] == t for x in left) for t in {x["tag"] for x in rows[:4]}}
    assert r.json() == {"updated": 4, "ids": ids, "suggested_left": expected_left}
    assert api.get(f"/api/collections/{collection.pk}/suggestions/?state=rejected").json()["count"] == 4
    tag = vocab.tags.get(name="red")
    assert all(x["tag"] == tag.pk for x in api.get(f"/api/collections/{collection.pk}/suggestions/?tag={tag.pk}").json()["results"])


def test_bulk_accept_is_previewed_then_takes_every_suggestion_at_the_confidence(api, collection, tagged, make_user):
    vocab, photos = tagged
    url = f"/api/collections/{collection.pk}/suggestions/"
    rows = api.get(url, {"limit": 50}).json()["results"]
    top = max(x["confidence"] for x in rows)
    preview = api.get(url, {"limit": 1, "min_confidence": 0.5}).json()["bulk"]
    assert preview == {"min_confidence": 0.5, "count": sum(x["confidence"] >= 0.5 for x in rows), "max_confidence": top}
    assert api.get(url, {"min_confidence": top + 0.001}).json()["bulk"]["count"] == 0
    assert api.get(url, {"min_confidence": "high"}).status_code == 400
    stranger = api_for(make_user("sam"))
    assert stranger.post(f"/api/collections/{collection.pk}/decisions/", {"min_confidence": 0, "state": "accepted"},
                         format="json").status_code in (403, 404)
    r = api.post(f"/api/collections/{collection.pk}/decisions/", {"min_confidence": 0.5, "state": "accepted"}, format="json")
    assert sorted(r.json()["ids"]) == sorted(x["id"] for x in rows if x["confidence"] >= 0.5) and r.json()["updated"] == preview["count"]
    assert api.get(url, {"min_confidence": 0.5}).json()["bulk"]["count"] == 0


def test_tagging_job_endpoint(api, collection, tagged, django_capture_on_commit_callbacks):
    vocab, _ = tagged
    r = api.post(f"/api/collections/{collection.pk}/tagging/", {}, format="json")
    assert r.status_code == 200 and r.json() == {"job": None}  # everything is scored already
    tag = vocab.tags.get(name="red")
    assert api.patch(f"/api/tags/{tag.pk}/", {"synonyms": ["crimson"]}, format="json").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post(f"/api/collections/{collection.pk}/tagging/", {"force": True}, format="json")
    assert r.status_code == 202
    job = api.get(f"/api/jobs/{r.json()['job']}/").json()
    assert job["state"] == "succeeded" and job["kind"] == "tag_photos"


@pytest.mark.parametrize("method,url,body", [
    ("post", "/api/vocabularies/", {"name": "", "collection": "{c}"}),
    ("post", "/api/vocabularies/", {"name": "x", "mode": "fuzzy", "collection": "{c}"}),
    ("post", "/api/vocabularies/", {"name": "x", "templates": ["no slot"], "collection": "{c}"}),
    ("post", "/api/vocabularies/", {"name": "x", "tags": "red", "collection": "{c}"}),
    ("post", "/api/vocabularies/", {"name": "x", "collection": "abc"}),
    ("post", "/api/vocabularies/", {"name": "x", "min_probability": 3, "collection": "{c}"}),
    ("post", "/api/vocabularies/", ["not", "an", "object"]),
    ("patch", "/api/vocabularies/{v}/", {"colour": 1}),
    ("post", "/api/vocabularies/{v}/tags/", {"name": "red"}),
    ("post", "/api/vocabularies/{v}/tags/", {"name": "x", "synonyms": "y"}),
    ("post", "/api/vocabularies/{v}/tags/", {"name": "x", "threshold": "high"}),
    ("post", "/api/collections/{c}/decisions/", {"ids": [], "state": "accepted"}),
    ("post", "/api/collections/{c}/decisions/", {"ids": ["a"], "state": "accepted"}),
    ("post", "/api/collections/{c}/decisions/", {"ids": [1], "state": "maybe"}),
    ("post", "/api/collections/{c}/tagging/", {"force": "yes"}),
    ("get", "/api/collections/{c}/suggestions/?limit=abc", None),
    ("get", "/api/collections/{c}/suggestions/?state=weird", None),
    ("get", "/api/collections/{c}/suggestions/?limit=100000", None),
])
def test_malformed_input_is_a_4xx_json_error(api, collection, tagged, method, url, body):
    vocab, _ = tagged
    url = url.format(c=collection.pk, v=vocab.pk)
    if isinstance(body, dict):
        body = {k: (collection.pk if v == "{c}" else v) for k, v in body.items()}
    r = getattr(api, method)(url, body, format="json") if body is not None else api.get(url)
    assert 400 <= r.status_code < 500 and "error" in r.json(), (r.status_code, r.content)
    assert Vocabulary.objects.count() == 1


def test_delete_tag_and_vocabulary(api, tagged):
    vocab, _ = tagged
    tag = vocab.tags.get(name="green")
    assert api.delete(f"/api/tags/{tag.pk}/").status_code == 204
    assert not PhotoTag.objects.filter(tag_id=tag.pk).exists()
    assert api.delete(f"/api/vocabularies/{vocab.pk}/").status_code == 204
    assert api.get(f"/api/vocabularies/{vocab.pk}/").status_code == 404
