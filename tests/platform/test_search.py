"""Search: index service, search service, permissions, product features and the API.

Photos here are database rows with PhotoEmbedding rows of known vectors (no image files): the
query side is real encoding with the seeded random model of the demo architecture, so vectors
such as `unit(e("red circle"))` make rankings deterministic.
"""
import io
import logging
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
from atelier.search.index_service import IndexService, index_path
from atelier.search.services import KEYWORD_BONUS, SearchError, SearchNotFound, search_photos
from tests.helpers import add_member, api_for, image_bytes

pytestmark = pytest.mark.django_db
SMALL = "random:atelier-demo-clip"


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
def without_tag_filter():
    """No `tags` filter registered (whatever the tagging app registered is put back afterwards)."""
    from atelier.search import filters

    previous = filters.unregister_filter("tags")
    yield
    filters.unregister_filter("tags")
    if previous is not None:
        filters.register_filter("tags")(previous)


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
def test_a_new_photo_is_seen_by_a_second_process_without_restart(collection, settings):
    settings.ATELIER_SEARCH_REFRESH_S = 0.3
    add_photos(collection, random_vectors(10, seed=20))
    first = IndexService(SMALL, path=index_path(SMALL))
    second = IndexService(SMALL, path=index_path(SMALL).with_name("other.faiss"))
    assert len(first.get()) == len(second.get()) == 10
    [new] = add_photos(collection, [random_vectors(1, seed=21)[0]])
    time.sleep(0.35)
    for service in (first, second):
        index = service.get()
        assert len(index) == 11 and new in index.search(random_vectors(1, seed=21)[0], 1).ids


def test_a_saved_index_is_loaded_not_rebuilt_and_catches_up(collection):
    add_photos(collection, random_vectors(10, seed=22))
    IndexService(SMALL).get()
    assert index_path(SMALL).exists()
    [late] = add_photos(collection, random_vectors(1, seed=23))
    again = IndexService(SMALL)
    assert len(again.get()) == 11 and again.rebuilds == 0
    assert late in again.get().search(random_vectors(1, seed=23)[0], 1).ids


def test_a_corrupt_index_file_is_rebuilt_with_a_warning(collection, caplog):
    ids = add_photos(collection, random_vectors(10, seed=24))
    IndexService(SMALL).get()
    path = index_path(SMALL)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    service = IndexService(SMALL)
    with caplog.at_level(logging.WARNING):
        index = service.get()
    assert service.rebuilds == 1 and "unusable" in caplog.text
    assert sorted(index.search(random_vectors(1, seed=24)[0], 10).ids.tolist()) == sorted(ids)


def test_an_index_of_another_database_is_stale_and_rebuilt(collection):
    add_photos(collection, random_vectors(5, seed=25))
    IndexService(SMALL).get()
    PhotoEmbedding.objects.all().delete()
    fresh = IndexService(SMALL)
    assert len(fresh.get()) == 0 and fresh.rebuilds == 1


def test_deleted_photos_disappear_at_once_and_leave_the_index(owner, collection, settings):
    red = encode("red circle")[0]
    ids = add_photos(collection, [unit(red), *random_vectors(5, seed=26)])
    assert search_photos(user=owner, text="red circle", limit=1).hits[0].photo.pk == ids[0]
    Photo.objects.filter(pk=ids[0]).delete()
    assert ids[0] not in ids_of(search_photos(user=owner, text="red circle", limit=10))
    settings.ATELIER_SEARCH_SWEEP_S = 0.0
    service = index_module.index_service(SMALL)
    service.refresh()
    assert len(service.get()) == 5


@pytest.mark.django_db(transaction=True)  # the rebuild runs in a thread with its own connection
def test_outgrowing_the_index_type_rebuilds_it_in_the_background(collection, monkeypatch):
    monkeypatch.setenv("ATELIER_INDEX_FLAT_THRESHOLD", "50")
    add_photos(collection, random_vectors(40, seed=27))
    service = IndexService(SMALL)
    assert service.get().plan.kind == "flat"
    add_photos(collection, random_vectors(40, seed=28))
    service.refresh()
    assert service.wait_for_rebuild(30) and service.rebuilds == 2
    assert service.get().plan.kind == "ivf" and len(service.get()) == 80


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


def test_near_duplicates_are_collapsed_into_the_best(owner, collection):
    red = unit(encode("red circle")[0])
    twin = unit(red + 0.01 * random_vectors(1, seed=33)[0])
    ids = add_photos(collection, [red, twin, *random_vectors(10, seed=34)])
    results = search_photos(user=owner, text="red circle", limit=5)
    assert ids_of(results)[0] == ids[0] and ids[1] not in ids_of(results)
    assert results.duplicates == 1 and len(results.hits) == 5


def test_filters_by_collection_date_format_and_a_registered_tag_filter(owner, without_tag_filter):
    from atelier.search import filters

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
    filters.register_filter("tags")(lambda photos, names: photos.filter(pk=in_b[0]) if names == ["cat"] else photos.none())
    assert ids_of(search_photos(user=owner, text="x", tags=["cat"])) == [in_b[0]]


def test_plugin_search_filters_narrow_results_through_the_api(owner, collection, monkeypatch):
    from atelier.pluginhost import manager

    ids = add_photos(collection, random_vectors(6, seed=41), titles=["calm", "calm", "busy", "busy", "busy", "busy"])
    monkeypatch.setattr(manager, "search_filters", lambda: {
        "mood": lambda photos, values: photos.filter(title__in=values),
        "formats": lambda photos, value: photos.none(),  # a clash with a core filter is ignored
    })
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
def test_concurrent_searches_while_photos_arrive_and_leave(owner, collection, make_user):
    """One web process serves many requests at once: searches in 4 threads while photos are added
    and deleted never fail, never repeat a photo, never show another user's private photo, and the
    photos added meanwhile are found afterwards."""
    import threading

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
