"""Tagging: jobs write suggestions, decisions are never overwritten, only changed tags are re-scored,
new photos are tagged when embedded, thresholds are learned, the search filter."""
import numpy as np
import pytest

from atelier.embeddings import services as embedding_services
from atelier.embeddings.models import PhotoEmbedding
from atelier.jobs.models import Job
from atelier.library.models import Photo
from atelier.library.signals import photos_embedded
from atelier.tagging import services
from atelier.tagging.models import LearnedThreshold, PhotoTag, Tag, TagScoring

pytestmark = pytest.mark.django_db
SMALL = "random:atelier-demo-clip"
COLOURS = ["red", "blue", "green"]


@pytest.fixture(autouse=True)
def small_model(settings):
    settings.ATELIER_CLIP_MODEL = SMALL
    embedding_services._status.cache_clear()


def tag_vectors(names, templates=None):
    from ml_core.clip import get_engine
    from ml_core.zeroshot import tag_matrix

    return tag_matrix(get_engine(SMALL).encode_texts, names, templates)


def add_photos(collection, vectors, start=0):
    photos = []
    for i, v in enumerate(vectors):
        photo = Photo.objects.create(collection=collection, sha256=f"{start + i:064d}", filename=f"p{start + i}.png",
                                     format="png", width=8, height=8, bytes=1)
        PhotoEmbedding.objects.create(photo=photo, model_id=SMALL, dim=len(v), vector=PhotoEmbedding.pack(v))
        photos.append(photo)
    return photos


def near(vector, rng, noise=0.02):
    v = vector + noise * rng.normal(size=vector.shape)
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture
def colour_photos(collection):
    """4 photos near each colour's tag vector: [red×4, blue×4, green×4]."""
    rng = np.random.default_rng(0)
    m = tag_vectors(COLOURS)
    return add_photos(collection, [near(m[c], rng) for c in range(3) for _ in range(4)])


def run_job(owner, collection, capture, **kw):
    with capture(execute=True):
        job_id = services.start_tagging_job(user=owner, collection=collection, **kw)
    return Job.objects.get(pk=job_id) if job_id else None


def test_job_writes_exclusive_suggestions_with_confidence(owner, collection, colour_photos, django_capture_on_commit_callbacks):
    services.do_create_vocabulary(user=owner, collection=collection, name="colour", mode="exclusive", tags=COLOURS,
                                  min_probability=0.3)
    job = run_job(owner, collection, django_capture_on_commit_callbacks)
    assert (job.kind, job.state, job.done, job.total) == ("tag_photos", "succeeded", 1, 1)
    rows = PhotoTag.objects.select_related("tag", "photo")
    assert rows.count() == 12
    for row in rows:
        expected = COLOURS[int(row.photo.filename[1:-4]) // 4]
        assert row.tag.name == expected and row.state == "suggested" and 0.3 <= row.confidence <= 1
    assert run_job(owner, collection, django_capture_on_commit_callbacks) is None  # nothing changed


def test_decisions_are_never_overwritten_by_a_later_job(owner, collection, colour_photos, django_capture_on_commit_callbacks):
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="colour", mode="exclusive",
                                          tags=COLOURS, min_probability=0.3)
    run_job(owner, collection, django_capture_on_commit_callbacks)
    red_on_red = PhotoTag.objects.get(photo=colour_photos[0], tag__name="red")
    red_on_blue_photo = PhotoTag.objects.get(photo=colour_photos[4])
    services.do_decide(user=owner, collection=collection, phototag_ids=[red_on_red.pk], state="rejected")
    services.do_decide(user=owner, collection=collection, phototag_ids=[red_on_blue_photo.pk], state="accepted")
    blue = Tag.objects.get(vocabulary=vocab, name="blue")
    services.do_update_tag(user=owner, tag=blue, synonyms=["azure"])  # exclusive: whole vocabulary again
    run_job(owner, collection, django_capture_on_commit_callbacks, force=True)
    red_on_red.refresh_from_db()
    red_on_blue_photo.refresh_from_db()
    assert red_on_red.state == "rejected" and red_on_red.decided_by == owner
    assert red_on_blue_photo.state == "accepted"
    assert PhotoTag.objects.filter(photo=colour_photos[0]).count() == 1  # no new suggestion beside the decision
    # undo puts it back to suggested
    services.do_decide(user=owner, collection=collection, phototag_ids=[red_on_red.pk], state="suggested")
    red_on_red.refresh_from_db()
    assert red_on_red.state == "suggested" and red_on_red.decided_by is None


def test_only_changed_tags_are_rescored(owner, collection, colour_photos, django_capture_on_commit_callbacks, monkeypatch):
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="things", mode="multi", tags=COLOURS)
    run_job(owner, collection, django_capture_on_commit_callbacks)
    assert TagScoring.objects.count() == 3
    red_rows = set(PhotoTag.objects.filter(tag__name="red").values_list("pk", flat=True))
    assert red_rows, "the red photos are suggested red"
    green = Tag.objects.get(vocabulary=vocab, name="green")
    services.do_update_tag(user=owner, tag=green, synonyms=["emerald"])
    assert [t.name for t in services.stale_tags(vocab, collection, SMALL)] == ["green"]
    job = run_job(owner, collection, django_capture_on_commit_callbacks)
    assert job.state == "succeeded" and [e["tags"] for e in job.params["plan"]] == [[green.pk]]
    assert set(PhotoTag.objects.filter(tag__name="red").values_list("pk", flat=True)) == red_rows  # untouched
    assert TagScoring.objects.get(tag=green).version == 2
    services.do_update_tag(user=owner, tag=green, threshold=0.99)  # a new cutoff: selected again
    run_job(owner, collection, django_capture_on_commit_callbacks)
    assert not PhotoTag.objects.filter(tag=green).exists()


def test_new_photos_are_tagged_when_embedded(owner, collection, colour_photos, django_capture_on_commit_callbacks):
    services.do_create_vocabulary(user=owner, collection=collection, name="colour", mode="exclusive", tags=COLOURS,
                                  min_probability=0.3)
    run_job(owner, collection, django_capture_on_commit_callbacks)
    new = add_photos(collection, [near(tag_vectors(["green"])[0], np.random.default_rng(5))], start=100)
    with django_capture_on_commit_callbacks(execute=False) as handed_on:
        photos_embedded.send(sender=PhotoEmbedding, photo_ids=[new[0].pk], model_id=SMALL)
    assert not PhotoTag.objects.filter(photo=new[0]).exists(), "not tagged inline on the embedding worker"
    assert len(handed_on) == 1
    from atelier.tagging.tasks import tag_embedded_photos

    assert tag_embedded_photos.queue_name == "io"
    handed_on[0]()  # the io task runs after the embedding batch commits
    assert PhotoTag.objects.get(photo=new[0]).tag.name == "green"


def test_multi_thresholds_default_from_distribution_and_learned_from_decisions(owner, collection, colour_photos, django_capture_on_commit_callbacks):
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="things", mode="multi", tags=["red"])
    run_job(owner, collection, django_capture_on_commit_callbacks)
    red = vocab.tags.get()
    scoring = TagScoring.objects.get(tag=red)
    ids, vectors = embedding_services.stored_vectors(SMALL)
    cos = vectors @ tag_vectors(["red"])[0]
    assert scoring.cutoff == pytest.approx(cos.mean() + 1.0 * cos.std(), abs=1e-4)
    rows = {pt.photo_id: pt for pt in PhotoTag.objects.filter(tag=red)}
    person = [services.do_add_photo_tag(user=owner, photo=p, tag=red) for p in colour_photos[:2]]
    assert all(p.state == "accepted" and p.source == "person" for p in person)
    for p in colour_photos[4:6]:
        services.do_add_photo_tag(user=owner, photo=p, tag=red)
    rejected = PhotoTag.objects.filter(photo__in=colour_photos[4:6], tag=red)
    services.do_decide(user=owner, collection=collection, phototag_ids=list(rejected.values_list("pk", flat=True)), state="rejected")
    learned = LearnedThreshold.objects.get(tag=red, collection=collection)
    assert learned.examples == 4
    assert cos[np.isin(ids, [p.pk for p in colour_photos[4:6]])].max() < learned.value < cos[np.isin(ids, [p.pk for p in colour_photos[:2]])].min()
    assert not TagScoring.objects.filter(tag=red).exists()  # re-selected by the next job
    assert rows


def test_reviews_of_a_global_tag_stay_in_their_collection(make_user, django_capture_on_commit_callbacks):
    """Two users, one staff-made global tag: one user's reviews move nothing in the other's collection."""
    from atelier.library.models import Collection
    from tests.helpers import api_for

    staff, ann, ben = make_user("staff", staff=True), make_user("ann"), make_user("ben")
    red = services.do_create_vocabulary(user=staff, collection=None, name="things", mode="multi", tags=["red"]).tags.get()
    rng, m = np.random.default_rng(0), tag_vectors(COLOURS)
    mine, theirs = (Collection.objects.create(owner=user, name=f"{user.username}'s") for user in (ann, ben))
    photos = {c.pk: add_photos(c, [near(m[k], rng) for k in range(3) for _ in range(4)], start=100 * c.pk)
              for c in (mine, theirs)}
    for user, c in ((ann, mine), (ben, theirs)):
        run_job(user, c, django_capture_on_commit_callbacks)
    theirs_before = list(TagScoring.objects.filter(collection=theirs).values())
    assert theirs_before, "ben's collection was scored"

    for p in photos[mine.pk][:2] + photos[mine.pk][4:6]:  # ann: 2 red photos accepted, 2 blue ones rejected
        services.do_add_photo_tag(user=ann, photo=p, tag=red)
    wrong = PhotoTag.objects.filter(photo__in=photos[mine.pk][4:6], tag=red).values_list("pk", flat=True)
    services.do_decide(user=ann, collection=mine, phototag_ids=list(wrong), state="rejected")

    learned = LearnedThreshold.objects.get(tag=red, collection=mine)
    assert not LearnedThreshold.objects.filter(collection=theirs).exists()
    assert list(TagScoring.objects.filter(collection=theirs).values()) == theirs_before
    assert not TagScoring.objects.filter(collection=mine).exists(), "ann's collection re-selects with its cutoff"
    assert services.stale_vocabularies(theirs, SMALL) == []
    red.refresh_from_db()
    assert (red.threshold, red.version) == (None, 1), "the global tag itself is unchanged"

    def tag_of(user, c):
        vocabularies = api_for(user).get("/api/vocabularies/", {"collection": c.pk}).json()["results"]
        return next(t for v in vocabularies for t in v["tags"] if t["id"] == red.pk)

    assert tag_of(ann, mine)["learned_threshold"] == pytest.approx(learned.value)
    assert tag_of(ben, theirs)["learned_threshold"] is None
    assert api_for(ben).get(f"/api/tags/{red.pk}/").json()["learned_threshold"] is None
    run_job(ann, mine, django_capture_on_commit_callbacks)
    assert TagScoring.objects.get(tag=red, collection=mine).cutoff == pytest.approx(learned.value, abs=1e-6)


def test_tags_search_filter_uses_accepted_tags(owner, collection, colour_photos, settings):
    from atelier.search import filters
    from atelier.tagging.receivers import by_tags

    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="v", tags=["Red"])
    services.do_add_photo_tag(user=owner, photo=colour_photos[0], tag=vocab.tags.get())
    assert list(by_tags(Photo.objects.all(), ["red"])) == [colour_photos[0]]
    assert not by_tags(Photo.objects.all(), "blue").exists()
    assert list(filters.apply_filters(Photo.objects.all(), {"tags": ["red"]})) == [colour_photos[0]]
    settings.ATELIER_TAG_SEARCH_FILTER = False   # the tagging app's internal plugin then offers none
    assert "tags" not in filters.available_filters()


def test_uploaded_photos_get_suggestions_once_embedded(owner, collection, django_capture_on_commit_callbacks):
    import io

    from atelier.library.ingest import do_ingest_files
    from tests.helpers import image_bytes

    services.do_create_vocabulary(user=owner, collection=collection, name="colour", mode="exclusive",
                                  tags=COLOURS, min_probability=0.0)
    files = [(f"u{i}.png", io.BytesIO(image_bytes("PNG", size=(64, 64), color=(200 * (i == 0), 200 * (i == 1), 200 * (i == 2)))))
             for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        do_ingest_files(collection=collection, user=owner, files=files)
    job = Job.objects.get(kind="tag_photos")  # the vocabulary was never scored here: a job over the collection
    assert job.state == "succeeded"
    assert PhotoTag.objects.filter(photo__collection=collection).count() == 3
    more = [("u9.png", io.BytesIO(image_bytes("PNG", size=(64, 64), color=(10, 10, 10))))]
    with django_capture_on_commit_callbacks(execute=True):
        do_ingest_files(collection=collection, user=owner, files=more)
    assert Job.objects.filter(kind="tag_photos").count() == 1  # scored tags: the new photo only, no job
    assert PhotoTag.objects.filter(photo__filename="u9.png").count() == 1


def test_search_by_tag_returns_only_photos_with_the_accepted_tag(owner, collection, colour_photos, settings, tmp_path):
    from atelier.search import index_service
    from atelier.search.allow import allow_cache
    from atelier.search.services import search_photos

    settings.VAR_DIR = tmp_path / "var"
    settings.ATELIER_SEARCH_REFRESH_S = 0.0
    settings.ATELIER_SEARCH_ALLOW_TTL_S = 0.0
    settings.ATELIER_SEARCH_MIN_SCORE = None
    index_service.reset_index_services()
    allow_cache.invalidate()
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="colour", tags=COLOURS)
    services.do_add_photo_tag(user=owner, photo=colour_photos[5], tag=vocab.tags.get(name="blue"))
    try:
        results = search_photos(user=owner, text="red", tags=["Blue"])
        assert [h.photo.pk for h in results.hits] == [colour_photos[5].pk]
    finally:
        index_service.reset_index_services()
        allow_cache.invalidate()
