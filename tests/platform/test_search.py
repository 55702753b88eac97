"""Search: index service, search service, permissions, product features and the API.

Photos here are database rows with PhotoEmbedding rows of known vectors (no image files): the
query side is real encoding with the seeded random model of the demo architecture, so vectors
such as `unit(e("red circle"))` make rankings deterministic.
"""
import io
import logging
import os
import time
import uuid
from datetime import datetime, timezone

import numpy as np
import pytest
from django.core.management import call_command

from atelier.embeddings import services as embedding_services
from atelier.embeddings.models import PhotoEmbedding
from atelier.library.models import Collection, Photo
from atelier.search import index_service as index_module
from atelier.search.allow import allow_cache
from atelier.search.index_service import IndexService, index_root
from atelier.search.services import KEYWORD_BONUS, SearchError, SearchNotFound, search_photos
from tests.helpers import add_member, api_for, image_bytes

pytestmark = pytest.mark.django_db
SMALL = "random:atelier-demo-clip"
STORE = os.environ.get("ATELIER_VECTOR_STORE", "faiss")  # tests/pgvector_server.py runs this file with pgvector
faiss_only = pytest.mark.skipif(STORE != "faiss", reason="FAISS snapshots, delta and tombstones")
pgvector_only = pytest.mark.skipif(STORE != "pgvector", reason="runs under tests/pgvector_server.py")


@pytest.fixture(autouse=True)
def search_setup(settings, tmp_path):
    settings.ATELIER_CLIP_MODEL = SMALL
    settings.VAR_DIR = tmp_path / "var"
    settings.ATELIER_SEARCH_REFRESH_S = 0.0
    settings.ATELIER_SEARCH_ALLOW_TTL_S = 0.0
    settings.ATELIER_SEARCH_MIN_SCORE = None
    embedding_services._status.cache_clear()
    index_module.reset_index_services()
    allow_cache.invalidate()
    yield
    index_module.reset_index_services()
    allow_cache.invalidate()


def encode(*texts):
    from ml_core.clip import get_engine

    return get_engine(SMALL).encode_texts(list(texts))


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def random_vectors(n, seed=0, dim=128, around=None, spread=0.3):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, dim)).astype(np.float32)
    if around is not None:
        base = unit(around)[None, :] + spread * base / np.sqrt(dim)
    return base / np.linalg.norm(base, axis=1, keepdims=True)


def add_photos(collection, vectors, *, titles=None, formats=None, taken=None, model_id=SMALL):
    """Photo rows (no files) with stored embeddings; returns their ids in order."""
    photos = [Photo(collection=collection, sha256=uuid.uuid4().hex * 2, filename=f"p{i}.png",
                    title=(titles[i] if titles else ""), format=(formats[i] if formats else "png"),
                    width=10, height=10, bytes=100, taken_at=(taken[i] if taken else None), thumbs_ready=False)
              for i in range(len(vectors))]
    photos = Photo.objects.bulk_create(photos)
    PhotoEmbedding.objects.bulk_create([
        PhotoEmbedding(photo=p, model_id=model_id, dim=len(v), vector=PhotoEmbedding.pack(v))
        for p, v in zip(photos, vectors)])
    return [p.pk for p in photos]


@pytest.fixture
def without_tag_filter(extra_plugin):
    """No `tags` filter: the tagging app's internal plugin is off the manager (put back afterwards)."""
    from atelier.pluginhost import manager

    tagging = manager.get_manager().unregister(name="core.tagging")
    yield
    manager.get_manager().register(tagging, name="core.tagging")


def ids_of(results):
    return [h.photo.pk for h in results.hits]


# -- search basics --------------------------------------------------------------------------
def test_text_search_ranks_the_matching_photo_first(owner, collection):
    red, beach = encode("red circle", "beach")
    ids = add_photos(collection, [unit(beach), unit(red), *random_vectors(20, seed=1)])
    results = search_photos(user=owner, text="red circle", limit=5)
    assert ids_of(results)[0] == ids[1] and results.hits[0].score > 0.99
    assert [h.score for h in results.hits] == sorted((h.score for h in results.hits), reverse=True)
    assert search_photos(user=owner, text="beach", limit=1).hits[0].photo.pk == ids[0]


def test_more_like_this_uses_the_stored_vector_and_excludes_the_photo(owner, collection):
    anchor = random_vectors(1, seed=3)[0]
    near = random_vectors(5, seed=4, around=anchor, spread=0.5)
    far = random_vectors(20, seed=5)
    ids = add_photos(collection, [anchor, *near, *far])
    results = search_photos(user=owner, similar_to=ids[0], limit=5)
    assert set(ids_of(results)) == set(ids[1:6]) and ids[0] not in ids_of(results)


def test_image_search_embeds_the_upload(owner, collection):
    from ml_core.clip import get_engine

    data = image_bytes("PNG", size=(96, 96), color=(10, 200, 30))
    vector = get_engine(SMALL).encode_images([data]).vectors[0]
    ids = add_photos(collection, [vector, *random_vectors(10, seed=6)])
    results = search_photos(user=owner, image=io.BytesIO(data), limit=3)
    assert results.hits[0].photo.pk == ids[0] and results.hits[0].score > 0.99


# -- permissions and starvation ---------------------------------------------------------------
@pytest.fixture
def crowd(make_user):
    """3 users; the nearest 1,000 vectors to "red circle" belong to bob's private collection."""
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    target = encode("red circle")[0]
    mine = Collection.objects.create(owner=alice, name="mine")
    secret = Collection.objects.create(owner=bob, name="secret")
    public = Collection.objects.create(owner=carol, name="open", visibility="public")
    private_c = Collection.objects.create(owner=carol, name="carol private")
    secret_ids = add_photos(secret, random_vectors(1000, seed=10, around=target, spread=0.2))
    mine_ids = add_photos(mine, random_vectors(60, seed=11, around=target, spread=3.0))
    public_ids = add_photos(public, random_vectors(30, seed=12, around=target, spread=3.0))
    carol_ids = add_photos(private_c, random_vectors(30, seed=13, around=target, spread=0.5))
    return dict(alice=alice, bob=bob, carol=carol, mine=mine_ids, secret=secret_ids, public=public_ids,
                carol_private=carol_ids, secret_collection=secret)


def test_results_are_not_starved_by_other_users_private_photos(crowd):
    results = search_photos(user=crowd["alice"], text="red circle", limit=20)
    got = ids_of(results)
    assert len(got) == 20
    assert set(got) <= set(crowd["mine"]) | set(crowd["public"])
    best = search_photos(user=crowd["bob"], text="red circle", limit=20)
    assert set(ids_of(best)) <= set(crowd["secret"]), "bob's own nearest photos come first for bob"


def test_no_leak_through_search_similar_thumbnails_or_api(crowd, client):
    alice, secret = crowd["alice"], crowd["secret"]
    api = api_for(alice)
    seen = set()
    for offset in range(0, 200, 100):
        body = api.get("/api/search/", {"q": "red circle", "limit": 100, "offset": offset}).json()
        seen |= {r["photo"]["id"] for r in body["results"]}
    assert seen and seen <= set(crowd["mine"]) | set(crowd["public"])
    assert api.get(f"/api/photos/{secret[0]}/similar/").status_code == 404
    similar = api.get(f"/api/photos/{crowd['mine'][0]}/similar/", {"limit": 100}).json()
    assert {r["photo"]["id"] for r in similar["results"]} <= set(crowd["mine"]) | set(crowd["public"])
    assert api.get(f"/api/photos/{secret[0]}/thumbnail/").status_code == 404
    assert api.get("/api/search/", {"q": "red circle", "collection": crowd["secret_collection"].pk}).status_code == 404
    anonymous = api_for(None).get("/api/search/", {"q": "red circle", "limit": 100}).json()
    assert {r["photo"]["id"] for r in anonymous["results"]} == set(crowd["public"])
    page = client.get("/search/", {"q": "red circle"})
    assert page.status_code == 200
    assert all(f'data-photo="{i}"' not in page.content.decode() for i in secret[:50])


def test_members_see_private_collections_they_belong_to(crowd):
    search_photos(user=crowd["alice"], text="red circle", limit=20)  # caches warm
    add_member(crowd["secret_collection"], crowd["alice"], "viewer")
    got = ids_of(search_photos(user=crowd["alice"], text="red circle", limit=20))
    assert set(got) <= set(crowd["secret"]), "now the nearest thousand are visible to alice"


# -- index service ------------------------------------------------------------------------------
def publish_snapshot():
    from atelier.search.indexing import build_and_publish

    return build_and_publish(SMALL)


def build_jobs():
    from atelier.jobs.models import Job

    return list(Job.objects.filter(kind="build_search_index"))


@faiss_only
def test_a_new_photo_is_seen_by_a_second_process_without_restart(collection, settings):
    settings.ATELIER_SEARCH_REFRESH_S = 0.3
    add_photos(collection, random_vectors(10, seed=20))
    publish_snapshot()
    first, second = IndexService(SMALL), IndexService(SMALL)
    assert len(first.get()) == len(second.get()) == 10
    assert first.get().snapshot.folder == second.get().snapshot.folder, "one snapshot for both"
    [new] = add_photos(collection, [random_vectors(1, seed=21)[0]])
    time.sleep(0.35)
    for service in (first, second):
        index = service.get()
        assert len(index) == 11 and len(index.delta) == 1
        assert new in index.search(random_vectors(1, seed=21)[0], 1).ids


@faiss_only
def test_a_published_snapshot_is_mapped_and_the_delta_catches_up(collection):
    add_photos(collection, random_vectors(10, seed=22))
    manifest = publish_snapshot()
    assert manifest.count == 10 and manifest.facts["watermark"] == PhotoEmbedding.objects.order_by("-id")[0].pk
    [late] = add_photos(collection, random_vectors(1, seed=23))
    again = IndexService(SMALL)
    assert len(again.get()) == 11 and again.switches == 1 and not build_jobs()
    assert late in again.get().search(random_vectors(1, seed=23)[0], 1).ids


@faiss_only
def test_a_corrupt_snapshot_is_not_served_and_a_build_is_queued(collection, caplog):
    ids = add_photos(collection, random_vectors(10, seed=24))
    manifest = publish_snapshot()
    path = index_root(SMALL) / "snapshots" / manifest.name / "index.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    service = IndexService(SMALL)
    with caplog.at_level(logging.WARNING):
        index = service.get()
    assert "unusable" in caplog.text and service.switches == 0 and index.snapshot is None
    assert sorted(index.search(random_vectors(1, seed=24)[0], 10).ids.tolist()) == sorted(ids), "the delta serves"
    assert [j.params["model_id"] for j in build_jobs()] == [SMALL]


@faiss_only
def test_a_snapshot_of_another_database_is_stale(collection):
    add_photos(collection, random_vectors(5, seed=25))
    publish_snapshot()
    PhotoEmbedding.objects.all().delete()
    fresh = IndexService(SMALL)
    assert len(fresh.get()) == 0 and fresh.switches == 0 and "database" in fresh.unusable


@faiss_only
def test_deleted_photos_disappear_at_once_and_leave_the_index(owner, collection, settings):
    red = encode("red circle")[0]
    ids = add_photos(collection, [unit(red), *random_vectors(5, seed=26)])
    publish_snapshot()
    assert search_photos(user=owner, text="red circle", limit=1).hits[0].photo.pk == ids[0]
    Photo.objects.filter(pk=ids[0]).delete()
    assert ids[0] not in ids_of(search_photos(user=owner, text="red circle", limit=10))
    service = index_module.index_service(SMALL)
    service.refresh()
    index = service.get()
    assert len(index) == 5 and ids[0] not in index.ids() and index.stats()["tombstones"] == 1
    assert ids[0] not in index.search(unit(red), 6).ids, "a tombstone hides it from the snapshot itself"
    from atelier.search.models import Tombstone

    publish_snapshot(), publish_snapshot()
    assert not Tombstone.objects.exists(), "tombstones the previous snapshot covered are pruned"


@faiss_only
def test_outgrowing_the_snapshot_queues_a_build_that_processes_switch_to(collection, settings):
    from atelier.search.tasks import build_search_index

    settings.ATELIER_INDEX_FLAT_THRESHOLD = 50
    add_photos(collection, random_vectors(40, seed=27))
    publish_snapshot()
    service = IndexService(SMALL)
    assert service.get().snapshot.manifest.kind == "flat"
    add_photos(collection, random_vectors(40, seed=28))
    service.refresh()
    [job] = build_jobs()
    assert "outgrew" in job.params["reason"]
    build_search_index.run(job_id=job.pk)  # what the gpu worker does
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    service.refresh()
    index = service.get()
    assert index.snapshot.manifest.kind == "ivf" and len(index) == 80 and len(index.delta) == 0


@faiss_only
def test_no_web_request_builds_an_index(owner, collection, settings, monkeypatch):
    """Without a snapshot a big library answers 503 with the reason and queues a job; with one, a
    request made while a build is pending is served by the published snapshot and the delta."""
    from atelier.search import indexing
    from ml_core import index as ml_index

    settings.ATELIER_INDEX_DELTA_MAX = 5
    ids = add_photos(collection, random_vectors(10, seed=42))
    real_build = indexing.build_checked

    def no_build(*args, **kwargs):
        raise AssertionError("a web request built an index")

    monkeypatch.setattr(indexing, "build_checked", no_build)
    monkeypatch.setattr(ml_index.VectorIndex, "build", no_build)
    response = api_for(owner).get("/api/search/", {"q": "red circle"})
    assert response.status_code == 503 and "being built" in response.json()["error"]
    assert len(build_jobs()) == 1, "one build job is queued for a worker"
    monkeypatch.setattr(indexing, "build_checked", real_build)
    monkeypatch.undo()
    publish_snapshot()  # the worker publishes
    [late] = add_photos(collection, random_vectors(1, seed=43))
    monkeypatch.setattr(indexing, "build_checked", no_build)
    monkeypatch.setattr(ml_index.VectorIndex, "build", no_build)
    index_module.reset_index_services()  # a fresh web process
    body = api_for(owner).get("/api/search/", {"q": "red circle", "limit": 20})
    assert body.status_code == 200
    assert {r["photo"]["id"] for r in body.json()["results"]} == set(ids) | {late}


@faiss_only
def test_a_plan_that_misses_recall_fails_its_job_loudly(owner, collection, settings, client):
    from atelier.search.indexing import index_status, request_index_build
    from atelier.search.tasks import build_search_index

    add_photos(collection, random_vectors(60, seed=44))
    settings.ATELIER_INDEX_FLAT_THRESHOLD = 50
    settings.ATELIER_INDEX_RECALL_TARGET = 1.01  # unreachable: every plan is refused
    settings.ATELIER_TASK_MAX_RETRIES = 0
    job_id = request_index_build(model_id=SMALL, reason="test")
    build_search_index.run(job_id=job_id)
    [job] = build_jobs()
    assert job.state == "failed" and "RecallNotMet" in job.error
    status = index_status(SMALL)
    assert status["snapshot"] is None and "recall@10 1.01" in status["last_error"]["error"]
    health = client.get("/healthz").json()
    assert health["search_index"]["ok"] is False and "RecallNotMet" in health["search_index"]["error"]


def test_the_allow_list_is_cached_until_the_collection_changes(owner, collection, django_assert_max_num_queries):
    add_photos(collection, random_vectors(30, seed=29))
    first = allow_cache.allow_list([collection.pk])
    with django_assert_max_num_queries(2):  # newest id + recount: never the ids themselves
        assert allow_cache.allow_list([collection.pk]) is first
    [new] = add_photos(collection, random_vectors(1, seed=30))
    assert new in allow_cache.allow_list([collection.pk]).ids


# -- product features ------------------------------------------------------------------------------
def test_negative_terms_push_matching_photos_down(owner, collection):
    beach, people = encode("beach", "people")
    with_people, without = add_photos(collection, [unit(beach + people), unit(beach - 0.2 * people)])
    plain = ids_of(search_photos(user=owner, text="beach", limit=2))
    negative = search_photos(user=owner, text="beach -people", limit=2)
    assert ids_of(negative) == [without, with_people]
    boosted = ids_of(search_photos(user=owner, text="beach + people:2", limit=2))
    assert boosted[0] == with_people and plain  # weights and '+' move it the other way


def test_the_cutoff_answers_no_good_match_for_gibberish(owner, collection, settings, client):
    red = encode("red circle")[0]
    add_photos(collection, [unit(red), *random_vectors(10, seed=31)])
    settings.ATELIER_SEARCH_MIN_SCORE = 0.9
    real = search_photos(user=owner, text="red circle")
    assert not real.no_good_match and len(real.hits) == 1, "only what clears the cutoff"
    gibberish = search_photos(user=owner, text="xq zzv plmk")
    assert gibberish.no_good_match and gibberish.hits == []
    body = api_for(owner).get("/api/search/", {"q": "xq zzv plmk"}).json()
    assert body["no_good_match"] is True and body["results"] == []
    client.force_login(owner)
    assert "No good match" in client.get("/search/", {"q": "xq zzv plmk"}).content.decode()


def test_words_in_titles_lift_a_match_but_never_past_the_cutoff(owner, collection, settings):
    lighthouse = unit(encode("lighthouse")[0])
    near = unit(lighthouse + 0.35 * random_vectors(1, seed=31)[0])
    far = -lighthouse
    ids = add_photos(collection, [near, far, *random_vectors(200, seed=32)],
                     titles=["Old lighthouse at dawn", "lighthouse (mislabelled)"] + [""] * 200)
    results = search_photos(user=owner, text="lighthouse", limit=10)
    top = next(h for h in results.hits if h.photo.pk == ids[0])
    assert top.keyword and ids_of(results)[0] == ids[0]
    assert abs(top.score - (float(near @ lighthouse) + KEYWORD_BONUS)) < 0.02  # the score shown is the one ranked by
    scores = [h.score for h in results.hits]
    assert scores == sorted(scores, reverse=True)
    settings.ATELIER_SEARCH_MIN_SCORE = float(near @ lighthouse) - 0.05
    assert ids_of(search_photos(user=owner, text="lighthouse", limit=10)) == [ids[0]], "the cutoff applies to keyword hits too"


def test_minus_terms_drop_keyword_and_picture_matches(owner, collection, settings):
    red, circle, square = encode("red", "circle", "square")
    ids = add_photos(collection, [unit(red + circle), unit(red + square), unit(red + 0.2 * circle), *random_vectors(20, seed=44)],
                     titles=["2 red circles", "red square", "reddish", *[""] * 20])
    shown = ids_of(search_photos(user=owner, text="red -circle", limit=10))
    assert ids[0] not in shown and ids[1] in shown  # the title says circle: gone, though it says red too
    settings.ATELIER_SEARCH_MIN_SCORE = 0.75  # with a cutoff, a picture that matches "circle" goes as well
    Photo.objects.filter(pk=ids[0]).update(title="2 red ones")
    shown = ids_of(search_photos(user=owner, text="red -circle", limit=10))
    assert ids[0] not in shown and ids[1] in shown
    settings.ATELIER_SEARCH_MIN_SCORE = -1.0  # the cutoff switched off: pictures are not judged against minus terms
    shown = ids_of(search_photos(user=owner, text="red -circle", limit=10))
    assert ids[0] in shown and len(shown) == 10


def test_a_search_whose_exclusions_drop_everything_stops_deepening(owner, collection, monkeypatch):
    from atelier.search import services

    add_photos(collection, random_vectors(300, seed=45), titles=["blue"] * 300)
    monkeypatch.setattr(services, "MAX_FETCH", 100)
    seen = []
    monkeypatch.setattr(services, "_photos_with_vectors", lambda model_id, order, real=services._photos_with_vectors:
                        seen.append(len(order)) or real(model_id, order))
    assert search_photos(user=owner, text="red -blue", limit=10).hits == []
    assert max(seen) <= 100, "candidate lists capped at MAX_FETCH, not the whole library"


def test_near_duplicates_are_collapsed_into_the_best(owner, collection):
    red = unit(encode("red circle")[0])
    twin = unit(red + 0.01 * random_vectors(1, seed=33)[0])
    ids = add_photos(collection, [red, twin, *random_vectors(10, seed=34)])
    results = search_photos(user=owner, text="red circle", limit=5)
    assert ids_of(results)[0] == ids[0] and ids[1] not in ids_of(results)
    assert results.duplicates == 1 and len(results.hits) == 5


def test_filters_by_collection_date_format_and_a_registered_tag_filter(owner, without_tag_filter, extra_plugin):
    from atelier.pluginhost.hookspecs import hookimpl

    a = Collection.objects.create(owner=owner, name="A")
    b = Collection.objects.create(owner=owner, name="B")
    vectors = random_vectors(6, seed=35)
    days = [datetime(2024, 1, d, tzinfo=timezone.utc) for d in (1, 5, 10)]
    in_a = add_photos(a, vectors[:3], formats=["jpg", "png", "jpg"], taken=days)
    in_b = add_photos(b, vectors[3:])
    assert set(ids_of(search_photos(user=owner, text="x", collections=[a.pk]))) == set(in_a)
    assert set(ids_of(search_photos(user=owner, text="x", formats=["jpg"]))) == {in_a[0], in_a[2]}
    window = search_photos(user=owner, text="x", date_from=days[1], date_to=days[2])
    assert set(ids_of(window)) == {in_a[1], in_a[2]}
    with pytest.raises(SearchError, match="tags"):
        search_photos(user=owner, text="x", tags=["cat"])
    class Tags:
        @hookimpl
        def register_search_filters(self):
            return {"tags": lambda photos, names: photos.filter(pk=in_b[0]) if names == ["cat"] else photos.none()}

    extra_plugin(Tags(), "tags-test")
    assert ids_of(search_photos(user=owner, text="x", tags=["cat"])) == [in_b[0]]


def test_plugin_search_filters_narrow_results_through_the_api(owner, collection, extra_plugin):
    from atelier.pluginhost.hookspecs import hookimpl

    ids = add_photos(collection, random_vectors(6, seed=41), titles=["calm", "calm", "busy", "busy", "busy", "busy"])

    class Mood:
        @hookimpl
        def register_search_filters(self):
            return {"mood": lambda photos, values: photos.filter(title__in=values),
                    "formats": lambda photos, value: photos.none()}   # a clash with a core filter is ignored

    extra_plugin(Mood(), "mood-test")
    body = api_for(owner).get("/api/search/", {"q": "x", "mood": "calm"}).json()
    assert sorted(r["photo"]["id"] for r in body["results"]) == ids[:2]
    assert len(api_for(owner).get("/api/search/", {"q": "x", "filetype": "png"}).json()["results"]) == 6


def test_pages_do_not_overlap_and_date_sort_orders_the_relevant_set(owner, collection):
    taken = [datetime(2020, 1, 1 + i, tzinfo=timezone.utc) for i in range(25)]
    ids = add_photos(collection, random_vectors(25, seed=36), taken=taken)
    first = ids_of(search_photos(user=owner, text="red", limit=10))
    second = ids_of(search_photos(user=owner, text="red", limit=10, offset=10))
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    by_date = search_photos(user=owner, text="red", limit=25, sort="date")
    assert ids_of(by_date) == list(reversed(ids))


# -- API and CLI -----------------------------------------------------------------------------------
def test_api_shape(owner, collection):
    ids = add_photos(collection, [unit(encode("red circle")[0]), *random_vectors(5, seed=37)])
    body = api_for(owner).get("/api/search/", {"q": "red circle", "limit": 3}).json()
    assert set(body) >= {"results", "took_ms", "no_good_match", "duplicates"}
    top = body["results"][0]
    assert top["photo"]["id"] == ids[0] and top["photo"]["collection"] == collection.pk
    assert top["photo"]["thumbnail_url"].endswith(f"/api/photos/{ids[0]}/thumbnail/") and top["score"] > 0.99
    from atelier.api.serializers import PhotoSerializer

    assert top["photo"] == dict(PhotoSerializer(Photo.objects.get(pk=ids[0])).data), "the API's photo shape, exactly"
    upload = api_for(owner).post("/api/search/", {"image": io.BytesIO(image_bytes("PNG"))}, format="multipart")
    assert upload.status_code == 200 and len(upload.json()["results"]) == 3 + 3


@pytest.mark.parametrize("params", [
    {"q": ""}, {"q": "   "}, {"q": "x" * 1001}, {}, {"q": "a", "limit": 0}, {"q": "a", "limit": 101},
    {"q": "a", "limit": "ten"}, {"q": "a", "offset": -1}, {"q": "a", "collection": "abc"},
    {"q": "a", "date_from": "yesterday"}, {"q": "a", "date_from": "2024-02-30"},
    {"q": "a", "date_from": "2024-05-01", "date_to": "2024-01-01"}, {"q": "a", "filetype": "exe"},
    {"q": "a", "sort": "random"}, {"q": "-people"}, {"q": "a", "tag": "cat"},
])
def test_malformed_queries_are_400_json(owner, collection, params, without_tag_filter):
    add_photos(collection, random_vectors(3, seed=38))
    response = api_for(owner).get("/api/search/", params)
    assert response.status_code == 400 and response.json()["error"]


def test_malformed_uploads_and_ids(owner, collection):
    api = api_for(owner)
    assert api.post("/api/search/", {"image": io.BytesIO(b"not an image")}, format="multipart").status_code == 400
    assert api.post("/api/search/", {}, format="multipart").status_code == 400
    assert api.get("/api/photos/999999/similar/").status_code == 404
    assert api.get("/api/search/", {"q": "a", "collection": 999999}).status_code == 404


def test_the_search_command_prints_a_table(owner, collection, capsys):
    ids = add_photos(collection, [unit(encode("red circle")[0]), *random_vectors(5, seed=39)], titles=["Red one"] + [""] * 5)
    call_command("search", "red circle", "--user", owner.username, "--limit", "3")
    out = capsys.readouterr().out
    assert "Red one" in out and str(ids[0]) in out


@pytest.mark.services
@pytest.mark.django_db(transaction=True)   # every thread has its own PostgreSQL connection
def test_concurrent_searches_while_photos_arrive_and_leave(owner, collection, make_user, settings):
    """One web process serves many requests at once: searches in 4 threads while photos are added
    and deleted never fail, never repeat a photo, never show another user's private photo, and the
    photos added meanwhile are found afterwards."""
    import threading

    settings.ATELIER_SEARCH_MIN_SCORE = -1   # random vectors: every photo counts as a match here

    from django.db import connection

    from tests.platform.services import require_services

    require_services()
    secret = Collection.objects.create(owner=make_user("mallory"), name="Secret")
    secret_ids = set(add_photos(secret, random_vectors(60, seed=40)))
    add_photos(collection, random_vectors(200, seed=41))
    errors, served, stop = [], [0], threading.Event()

    def reader():
        try:
            while not stop.is_set():
                ids = ids_of(search_photos(user=owner, text="red circle", limit=20))
                assert len(ids) == 20 and len(set(ids)) == 20 and not set(ids) & secret_ids
                served[0] += 1
        except Exception as exc:  # noqa: BLE001 - surfaced in the main thread
            errors.append(exc)
        finally:
            connection.close()

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for thread in readers:
        thread.start()
    added = []
    for batch in range(10):
        before = served[0]
        added += add_photos(collection, random_vectors(20, seed=50 + batch))
        Photo.objects.filter(pk__in=added[-20:-15]).delete()
        deadline = time.monotonic() + 30
        while served[0] < before + 2 and time.monotonic() < deadline and not errors:
            time.sleep(0.01)   # searches run between every change
    [red] = add_photos(collection, [unit(encode("red circle")[0])])
    stop.set()
    for thread in readers:
        thread.join(60)
    assert not errors, errors[0]
    assert served[0] >= 20
    hits = ids_of(search_photos(user=owner, text="red circle", limit=50))
    assert hits[0] == red and not set(hits) & secret_ids
    assert not set(hits) - set(Photo.objects.values_list("pk", flat=True))   # nothing deleted is returned


def test_a_query_naming_no_word_the_demo_model_knows_answers_no_good_match_and_says_why(owner, collection, settings, client):
    from ml_core.clip import get_engine

    settings.ATELIER_CLIP_MODEL = "demo"
    embedding_services._status.cache_clear()
    demo = get_engine("demo")
    red = demo.encode_texts(["a red circle"])[0]
    ids = add_photos(collection, [unit(red), *random_vectors(5, seed=41)], model_id=demo.model_id)
    assert ids_of(search_photos(user=owner, text="a red circle", limit=1)) == [ids[0]]
    unknown = search_photos(user=owner, text="a dog on the beach")
    assert unknown.no_good_match and unknown.hits == []
    assert "none of its words" in unknown.no_good_match_reason and "circle" in unknown.no_good_match_reason
    body = api_for(owner).get("/api/search/", {"q": "quarterly revenue report"}).json()
    assert body["no_good_match"] is True and "none of its words" in body["no_good_match_reason"]
    client.force_login(owner)
    assert "none of its words" in client.get("/search/", {"q": "the moon at night"}).content.decode()


def test_a_model_without_a_calibrated_cutoff_gets_the_label_free_one(owner, collection):
    from atelier.search import cutoffs

    cutoffs.clear_cache()
    red = unit(encode("red circle")[0])
    library = random_vectors(160, seed=42)
    few = add_photos(collection, [red])
    assert search_photos(user=owner, text="red circle").cutoff is None, "too few photos for library moments"
    ids = few + add_photos(collection, library)
    results = search_photos(user=owner, text="red circle", limit=50)
    stored = np.vstack([red, library]).astype(np.float16).astype(np.float32)
    scores = (stored / np.linalg.norm(stored, axis=1, keepdims=True)) @ red
    assert results.cutoff_kind == "label-free"
    assert results.cutoff == pytest.approx(scores.mean() + 2.0 * scores.std(ddof=1), abs=2e-3)
    assert ids_of(results)[0] == ids[0] and all(h.score >= results.cutoff for h in results.hits)
    assert len(results.hits) == int((scores >= results.cutoff).sum()) < 20
@faiss_only
def test_reindex_and_index_status_commands(collection, capsys):
    import json

    add_photos(collection, random_vectors(12, seed=45))
    import re

    call_command("index_status")
    assert re.search(r"snapshot\s+-\n", capsys.readouterr().out), "nothing published yet"
    call_command("reindex")
    out = capsys.readouterr().out
    assert "published" in out and "12 photos" in out and "recall@10 1.000" in out
    add_photos(collection, random_vectors(3, seed=46))
    call_command("index_status", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 12 and report["delta"] == 3 and report["plan"] == "IDMap2,Flat"
    assert report["recall_at_10"] == 1.0 and report["age_s"] >= 0 and report["last_error"] is None


@pgvector_only
def test_pgvector_store_sees_new_photos_and_never_returns_deleted_ones(owner, collection, settings):
    from django.db import connection

    from atelier.pgvectors.models import PhotoVector

    settings.ATELIER_SEARCH_REFRESH_S = 0.0
    red = unit(encode("red circle")[0])
    ids = add_photos(collection, [red, *random_vectors(30, seed=47)])
    assert ids_of(search_photos(user=owner, text="red circle", limit=1)) == [ids[0]]
    assert PhotoVector.objects.filter(model_id=SMALL).count() == 31, "copied from PhotoEmbedding, the truth"
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT 1")  # the connection is PostgreSQL with the vector extension
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert cursor.fetchone()[0] >= "0.8"
    Photo.objects.filter(pk=ids[0]).delete()
    assert not PhotoVector.objects.filter(photo_id=ids[0]).exists(), "gone in the same transaction"
    assert ids[0] not in ids_of(search_photos(user=owner, text="red circle", limit=31))
    [new] = add_photos(collection, [red])
    assert ids_of(search_photos(user=owner, text="red circle", limit=1)) == [new]
    service = index_module.index_service(SMALL)
    assert service.stats()["store"] == "pgvector" and len(service.get()) == 31


@pgvector_only
def test_pgvector_store_filters_large_allow_lists_after_fetching_and_small_ones_in_the_scan(owner, collection):
    """An allow-list covering most rows is applied to an over-fetched unfiltered page (no id array
    sent per query); a small one is fused with the index scan. Both return only allowed ids, full pages."""
    from atelier.pgvectors.store import PgVectorStore

    red = unit(encode("red circle")[0])
    ids = add_photos(collection, [*random_vectors(40, seed=49, around=red, spread=0.2), *random_vectors(40, seed=50)])
    store = index_module.index_service(SMALL).get()
    assert isinstance(store, PgVectorStore) and len(store) == 80
    everyone = store.search(red, 10)
    most = [i for i in ids if i != everyone.ids[0]]  # 79 of 80: the over-fetch path
    hits = store.search(red, 10, allow_ids=most)
    assert list(hits.ids) == list(everyone.ids[1:]) + [store.search(red, 11).ids[-1]]
    few = ids[40:45]  # 5 of 80, none near the query: the fused filter still fills the page
    assert sorted(store.search(red, 10, allow_ids=few).ids) == sorted(few)
    assert np.all(np.diff(store.search(red, 10, allow_ids=few).scores) <= 1e-6), "best first"


@pytest.mark.django_db(transaction=True)  # outside a transaction: the settings stay on the connection
@pgvector_only
def test_pgvector_store_sets_the_hnsw_settings_once_per_connection(owner, collection, settings):
    from django.db import connection

    settings.ATELIER_PGVECTOR_EF_SEARCH = 123
    index_module.reset_index_services()
    add_photos(collection, random_vectors(12, seed=51))
    store = index_module.index_service(SMALL).get()
    assert len(store.search(random_vectors(1, seed=52)[0], 5).ids) == 5
    with connection.cursor() as cursor:
        cursor.execute("SHOW hnsw.ef_search")
        assert cursor.fetchone()[0] == "123"
        cursor.execute("SHOW hnsw.iterative_scan")
        assert cursor.fetchone()[0] == "relaxed_order"
        cursor.execute("SET hnsw.ef_search = 7")  # set once: a second search does not set it again
    store.search(random_vectors(1, seed=53)[0], 5)
    with connection.cursor() as cursor:
        cursor.execute("SHOW hnsw.ef_search")
        assert cursor.fetchone()[0] == "7"
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [store.index_name])
        assert set(cursor.fetchone()[0]) == {"m=16", "ef_construction=128"}, "the build measured to reach recall 0.95 at 1M"


@pgvector_only
def test_vector_store_command_moves_an_install_both_ways(owner, collection, capsys):
    from atelier.pgvectors.models import PhotoVector
    from ml_core.index import snapshot

    ids = add_photos(collection, random_vectors(25, seed=48))
    call_command("vector_store", "--to", "pgvector")
    assert "25 vectors" in capsys.readouterr().out
    assert sorted(PhotoVector.objects.values_list("photo_id", flat=True)) == ids
    call_command("vector_store", "--to", "faiss", "--drop-pgvector")
    assert "over 25 vectors" in capsys.readouterr().out and not PhotoVector.objects.exists()
    assert snapshot.read_manifest(index_root(SMALL)).count == 25


@faiss_only
@pytest.mark.services
@pytest.mark.django_db(transaction=True)   # the other process reads what this one commits
def test_another_process_maps_the_snapshot_finds_new_photos_and_drops_deleted_ones(collection, settings):
    """A real second process (a web process's index service): it maps the same snapshot file as
    this one, finds a photo embedded after the snapshot after its next refresh, and stops returning
    a photo once it is deleted."""
    import subprocess
    import sys
    from pathlib import Path

    from django.db import connection

    from atelier.search.freshness_bench import vector
    from tests.platform.services import require_services

    require_services()
    add_photos(collection, random_vectors(30, seed=60))
    manifest = publish_snapshot()
    here = IndexService(SMALL)
    assert len(here.get()) == 30
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "ATELIER_VAR_DIR": str(settings.VAR_DIR), "ATELIER_CLIP_MODEL": SMALL, "ATELIER_SEARCH_REFRESH_S": "0.2",
           "PYTHONPATH": os.pathsep.join([str(Path("platform").resolve()), str(Path(".").resolve())])}
    child = subprocess.Popen([sys.executable, "-m", "atelier.search.freshness_bench", "--serve"], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        index_file = str(index_root(SMALL) / "snapshots" / manifest.name / "index.faiss")
        for pid in (os.getpid(), child.pid):
            assert index_file in Path(f"/proc/{pid}/maps").read_text(), "mapped by both, not copied"
        [new] = add_photos(collection, [vector(7, 128)])
        child.stdin.write(f"{new} 7\n")
        child.stdin.flush()
        assert float(child.stdout.readline()) > 0, "the other process finds the new photo"
        Photo.objects.filter(pk=new).delete()
        child.stdin.write(f"gone {new} 7\n")
        child.stdin.flush()
        assert float(child.stdout.readline()) > 0, "and stops returning it once deleted"
    finally:
        child.stdin.close()
        child.wait(60)


@pgvector_only
def test_pgvector_searches_use_the_models_hnsw_index(owner, collection):
    from django.db import connection
    from django.db.models.functions import Cast
    from pgvector.django import CosineDistance, HalfVectorField

    add_photos(collection, random_vectors(50, seed=49))
    store = index_module.index_service(SMALL).get()
    typed = Cast("embedding", HalfVectorField(dimensions=store.dim))
    query = store._rows().annotate(d=CosineDistance(typed, random_vectors(1, seed=50)[0].tolist())).order_by("d")[:5]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a 50-row table would be scanned otherwise
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert store.index_name in plan, plan
