"""The tagging job at any size: sharded statistics give the whole collection's cutoffs, suggestions
are capped per tag (the most confident kept), and memory per step follows the shard, not the collection."""
import tracemalloc

import numpy as np
import pytest

from atelier.embeddings import services as embedding_services
from atelier.embeddings.models import PhotoEmbedding
from atelier.jobs.models import Job, JobShard
from atelier.library.models import Photo
from atelier.tagging import services
from atelier.tagging.models import PhotoTag, TagScoring
from atelier.tagging.scoring import TagPhotos

pytestmark = pytest.mark.django_db
SMALL = "random:atelier-demo-clip"


@pytest.fixture(autouse=True)
def small_model(settings):
    settings.ATELIER_CLIP_MODEL = SMALL
    embedding_services._status.cache_clear()


def add_rows(collection, n, seed=0):
    vectors = np.random.default_rng(seed).standard_normal((n, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    photos = Photo.objects.bulk_create([Photo(collection=collection, sha256=f"{seed}-{i:062d}", filename=f"p{i}.png",
                                              format="png", width=8, height=8, bytes=1) for i in range(n)], batch_size=2000)
    photos = list(Photo.objects.filter(collection=collection).order_by("pk"))
    PhotoEmbedding.objects.bulk_create([PhotoEmbedding(photo=p, model_id=SMALL, dim=128, vector=PhotoEmbedding.pack(v))
                                        for p, v in zip(photos, vectors)], batch_size=2000)
    return np.array([p.pk for p in photos]), vectors


def run_job(owner, collection, capture):
    with capture(execute=True):
        job_id = services.start_tagging_job(user=owner, collection=collection)
    return Job.objects.get(pk=job_id)


def tag_matrix(vocab):
    return services.vocabulary_matrix(vocab, list(vocab.tags.all()), SMALL)


def test_cutoffs_from_shard_statistics_equal_the_whole_collections(owner, collection, settings, django_capture_on_commit_callbacks):
    settings.ATELIER_TAG_SHARD_SIZE, settings.ATELIER_TAG_BLOCK, settings.ATELIER_JOB_LANES = 40, 15, 3
    ids, vectors = add_rows(collection, 200)
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="things", tags=["red", "dog", "sea"])
    job = run_job(owner, collection, django_capture_on_commit_callbacks)
    assert (job.state, job.done, job.total, job.params["lanes"]) == ("succeeded", 1, 1, 3)
    assert JobShard.objects.filter(job=job, phase=0).count() == 5
    cos = vectors @ tag_matrix(vocab).T
    for j, tag in enumerate(vocab.tags.all()):
        cutoff = cos[:, j].mean() + cos[:, j].std()
        assert TagScoring.objects.get(tag=tag).cutoff == pytest.approx(cutoff, abs=1e-4)
        expected = set(ids[cos[:, j] >= cutoff + 1e-4]) - set()
        got = set(PhotoTag.objects.filter(tag=tag).values_list("photo_id", flat=True))
        assert expected <= got <= set(ids[cos[:, j] >= cutoff - 1e-4])


def test_suggestions_are_capped_per_tag_keeping_the_most_confident(owner, collection, settings, django_capture_on_commit_callbacks):
    settings.ATELIER_TAG_SHARD_SIZE, settings.ATELIER_TAG_BLOCK, settings.ATELIER_TAG_SUGGESTIONS_PER_TAG = 50, 25, 10
    ids, vectors = add_rows(collection, 300)
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="things", tags=["red", "dog"])
    for tag in vocab.tags.all():
        services.do_update_tag(user=owner, tag=tag, threshold=-1.0)  # every photo passes: only the cap limits
    decided = PhotoTag.objects.create(photo_id=int(ids[0]), tag=vocab.tags.get(name="red"), state="rejected", source="person")
    job = run_job(owner, collection, django_capture_on_commit_callbacks)
    assert job.state == "succeeded"
    cos = vectors @ tag_matrix(vocab).T
    for j, tag in enumerate(vocab.tags.all()):
        rows = PhotoTag.objects.filter(tag=tag, state="suggested")
        assert rows.count() == 10
        best = set(ids[np.argsort(-cos[:, j])][:11].tolist()) - {decided.photo_id}
        assert set(rows.values_list("photo_id", flat=True)) <= best
    decided.refresh_from_db()
    assert decided.state == "rejected"


def peak_per_step(monkeypatch):
    peaks = []
    real = TagPhotos.work

    def traced(self, job, shard, deadline):
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        real(self, job, shard, deadline)
        peaks.append(tracemalloc.get_traced_memory()[1] - before)

    monkeypatch.setattr(TagPhotos, "work", traced)
    return peaks


@pytest.mark.slow
def test_tagging_memory_per_step_is_bounded_by_the_shard_not_the_collection(
        owner, collection, settings, monkeypatch, django_capture_on_commit_callbacks):
    settings.ATELIER_TAG_SHARD_SIZE = settings.ATELIER_TAG_BLOCK = 1000
    settings.ATELIER_CHUNK_SECONDS = 0  # one block per step
    settings.ATELIER_TAG_SUGGESTIONS_PER_TAG = 5  # few rows to write: the scoring is what is measured
    add_rows(collection, 20_000)
    names = [f"tag {i}" for i in range(200)]
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="many", tags=names, templates=["{}"])
    tag_matrix(vocab)  # tag vectors encoded (and cached) before tracing
    peaks = peak_per_step(monkeypatch)
    tracemalloc.start()
    try:
        job = run_job(owner, collection, django_capture_on_commit_callbacks)
    finally:
        tracemalloc.stop()
    assert job.state == "succeeded" and len(peaks) >= 40  # 20 shards × 2 passes
    whole_matrix = 20_000 * 200 * 4
    shard_bound = 1000 * (200 * 4 * 4 + 128 * 4 * 4) + 2 * 2**20  # a few copies of one block's scores and rows
    assert max(peaks) < shard_bound < whole_matrix / 2, (max(peaks), shard_bound)
