"""The photo timeline API: keyset pages, sorts, the month index, bad parameters and permissions."""
from datetime import datetime, timedelta, timezone

import pytest

from atelier.library.models import Collection, Photo
from tests.helpers import api_for

pytestmark = pytest.mark.django_db
UTC = timezone.utc


def seed(collection, n, *, start=datetime(2024, 3, 31, 12, tzinfo=UTC), step=timedelta(hours=7), every_taken=2):
    """n photos; every `every_taken`-th has an EXIF date, the rest fall back to their added date."""
    rows = [Photo(collection=collection, sha256=f"{collection.pk:08x}{i:056x}", filename=f"IMG_{i:05d}.jpg",
                  title="" if i % 5 == 0 else f"Photo {n - i:05d}", format="jpg", width=4, height=3, bytes=10,
                  taken_at=start - i * step if i % every_taken == 0 else None) for i in range(n)]
    Photo.objects.bulk_create(rows)
    for i, photo in enumerate(Photo.objects.filter(collection=collection).order_by("id")):
        if photo.taken_at is None:  # created_at is auto_now_add: set the added dates explicitly
            Photo.objects.filter(pk=photo.pk).update(created_at=start - i * step)
    return Photo.objects.filter(collection=collection)


def walk(api, **params):
    ids, cursor, pages, count = [], None, 0, None
    while True:
        body = api.get("/api/photos/", {**params, **({"cursor": cursor} if cursor else {})}).json()
        count = body["count"] if count is None else count  # the first page carries the count
        assert pages == 0 or body["count"] is None
        ids += [p["id"] for p in body["results"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            return ids, count, pages


@pytest.mark.parametrize("sort", ["taken", "added", "title"])
def test_keyset_pages_list_every_photo_once_in_order(api, collection, sort):
    photos = seed(collection, 57)
    Photo.objects.filter(pk__in=list(photos.values_list("pk", flat=True)[:6])).update(taken_at=datetime(2023, 1, 1, tzinfo=UTC))  # ties
    ids, count, pages = walk(api, collection=collection.pk, sort=sort, limit=10)
    assert count == 57 and pages == 6 and len(ids) == len(set(ids)) == 57
    key = {"taken": lambda p: (p.shown_at, p.pk), "added": lambda p: (p.created_at, p.pk),
           "title": lambda p: ((p.title or p.filename).lower(), -p.pk)}[sort]
    expected = [p.pk for p in sorted(photos, key=key, reverse=sort != "title")]
    assert ids == expected


def test_shown_at_is_date_taken_else_added_and_follows_updates(collection):
    photo = seed(collection, 2, every_taken=2).order_by("id")[1]
    assert photo.taken_at is None and photo.shown_at == photo.created_at
    Photo.objects.filter(pk=photo.pk).update(taken_at=datetime(2001, 2, 3, tzinfo=UTC), title="Zebra")
    photo.refresh_from_db()
    assert photo.shown_at == datetime(2001, 2, 3, tzinfo=UTC) and photo.sort_title == "zebra"


def test_month_index_counts_and_its_cursor_starts_at_that_month(api, collection):
    photos = seed(collection, 40, step=timedelta(days=3))
    body = api.get("/api/photos/months/", {"collection": collection.pk}).json()
    months = body["months"]
    assert [m["month"] for m in months] == sorted({p.shown_at.strftime("%Y-%m") for p in photos}, reverse=True)
    assert sum(m["count"] for m in months) == 40
    target = months[2]
    first = api.get("/api/photos/", {"collection": collection.pk, "cursor": target["cursor"], "limit": 5}).json()["results"]
    assert first[0]["shown_at"][:7] == target["month"]
    newest_of_month = max((p for p in photos if p.shown_at.strftime("%Y-%m") == target["month"]), key=lambda p: (p.shown_at, p.pk))
    assert first[0]["id"] == newest_of_month.pk
    assert api.get("/api/photos/months/", {"collection": collection.pk, "sort": "title"}).json() == {"months": []}


@pytest.mark.parametrize("params, field", [
    ({"sort": "size"}, "sort"), ({"limit": "ten"}, "limit"), ({"limit": 0}, "limit"), ({"limit": 501}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"), ({"offset": 20}, "offset"), ({"collection": "abc"}, "collection"),
])
def test_bad_paging_answers_json_400_naming_the_parameter(api, collection, params, field):
    res = api.get("/api/photos/", params)
    assert res.status_code == 400 and field in res.json()["fields"]


def test_a_title_cursor_is_refused_by_a_date_sort(api, collection):
    seed(collection, 3)
    cursor = api.get("/api/photos/", {"collection": collection.pk, "sort": "title", "limit": 1}).json()["next_cursor"]
    res = api.get("/api/photos/", {"collection": collection.pk, "sort": "taken", "cursor": cursor})
    assert res.status_code == 400 and "cursor" in res.json()["fields"]


def test_timeline_lists_only_what_the_user_may_view(make_user, collection, owner):
    seed(collection, 5)
    stranger = make_user("sam")
    theirs = Collection.objects.create(owner=stranger, name="Sam's")
    seed(theirs, 3)
    assert api_for(stranger).get("/api/photos/", {"collection": collection.pk}).status_code == 404
    assert api_for(stranger).get("/api/photos/months/", {"collection": collection.pk}).status_code == 404
    mine = api_for(owner).get("/api/photos/").json()
    assert mine["count"] == 5 and {p["collection"] for p in mine["results"]} == {collection.pk}
    assert api_for(None).get("/api/photos/").json()["count"] == 0  # anonymous: public collections only
    collection.visibility = "public"
    collection.save()
    assert api_for(None).get("/api/photos/").json()["count"] == 5


def test_tag_filter_narrows_the_timeline(api, collection, owner):
    from atelier.tagging.models import PhotoTag, Tag, Vocabulary

    photos = list(seed(collection, 6).order_by("id"))
    vocab = Vocabulary.objects.create(collection=collection, name="things")
    cat = Tag.objects.create(vocabulary=vocab, name="cat")
    PhotoTag.objects.create(photo=photos[0], tag=cat, state="accepted")
    PhotoTag.objects.create(photo=photos[1], tag=cat, state="suggested")
    body = api.get("/api/photos/", {"collection": collection.pk, "tag": "cat"}).json()
    assert body["count"] == 1 and [p["id"] for p in body["results"]] == [photos[0].pk]
