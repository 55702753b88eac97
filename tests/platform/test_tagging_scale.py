"""The tagging job at any size: sharded statistics give the whole collection's cutoffs, suggestions
are capped per tag (the most confident kept), and memory per step follows the shard, not the collection."""
import tracemalloc

import numpy as np
import pytest
import torch
from django.db import connection
from django.db.models import Count

from atelier.embeddings import services as embedding_services
from atelier.embeddings.models import PhotoEmbedding
from atelier.jobs.models import Job, JobShard
from atelier.library.models import Photo
from atelier.tagging import services
from atelier.tagging.models import PhotoTag, TagRanking, TagScoring
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
    photos = list(Photo.objects.filter(collection=collection, sha256__startswith=f"{seed}-").order_by("pk"))
    PhotoEmbedding.objects.bulk_create([PhotoEmbedding(photo=p, model_id=SMALL, dim=128, vector=PhotoEmbedding.pack(v))
                                        for p, v in zip(photos, vectors)], batch_size=2000)
    if connection.vendor == "postgresql":  # as autovacuum does after a bulk import: plans follow the real sizes
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE library_photo, embeddings_photoembedding")
    return np.array([p.pk for p in photos]), vectors


def run_job(owner, collection, capture, **kw):
    with capture(execute=True):
        job_id = services.start_tagging_job(user=owner, collection=collection, **kw)
    return Job.objects.get(pk=job_id)


def tag_matrix(vocab):
    return services.vocabulary_matrix(vocab, list(vocab.tags.all()), SMALL)


@pytest.mark.parametrize("cap", [1000, 0])  # 0: no cap, the selection is written block by block
def test_cutoffs_from_shard_statistics_equal_the_whole_collections(owner, collection, settings, cap,
                                                                   django_capture_on_commit_callbacks):
    settings.ATELIER_TAG_SHARD_SIZE, settings.ATELIER_TAG_BLOCK, settings.ATELIER_JOB_LANES = 40, 15, 3
    settings.ATELIER_TAG_SUGGESTIONS_PER_TAG = cap
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


def count_inserts(monkeypatch) -> list[int]:
    """Every PhotoTag row the code under test asks the database to insert."""
    inserted = [0]
    manager = type(PhotoTag.objects)
    real = manager.bulk_create

    def counting(self, objs, *args, **kwargs):
        objs = list(objs)
        if self.model is PhotoTag:
            inserted[0] += len(objs)
        return real(self, objs, *args, **kwargs)

    monkeypatch.setattr(manager, "bulk_create", counting)
    return inserted


@pytest.mark.parametrize("mode", ["multi", "exclusive"])
def test_a_job_writes_at_most_the_cap_per_tag_however_many_steps_and_workers(
        owner, collection, settings, mode, monkeypatch, django_capture_on_commit_callbacks):
    settings.ATELIER_TAG_SHARD_SIZE, settings.ATELIER_TAG_BLOCK, settings.ATELIER_JOB_LANES = 60, 20, 3
    settings.ATELIER_CHUNK_SECONDS = 0  # one block per step: 15 steps per pass
    settings.ATELIER_TAG_SUGGESTIONS_PER_TAG = cap = 8
    ids, vectors = add_rows(collection, 300)
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="things", mode=mode,
                                          min_probability=0.2, tags=["red", "dog", "sea"])
    for tag in vocab.tags.all():
        services.do_update_tag(user=owner, tag=tag, threshold=-1.0)  # multi: every photo passes, only the cap limits
    red = vocab.tags.get(name="red")
    cos = vectors.astype(np.float16).astype(np.float32) @ tag_matrix(vocab).T  # as stored
    best_red = int(ids[np.argmax(cos[:, list(vocab.tags.all()).index(red)])])
    PhotoTag.objects.create(photo_id=best_red, tag=red, state="rejected", source="person")
    inserted = count_inserts(monkeypatch)
    job = run_job(owner, collection, django_capture_on_commit_callbacks)
    assert job.state == "succeeded" and JobShard.objects.filter(job=job, phase=1).count() == 5
    suggested = PhotoTag.objects.filter(tag__vocabulary=vocab, state="suggested")
    per_tag = dict(suggested.values_list("tag_id").annotate(n=Count("id")).values_list("tag_id", "n"))
    written = sum(d["written"] for d in JobShard.objects.filter(job=job, phase=1).values_list("data", flat=True))
    assert inserted[0] == written == suggested.count()  # nothing written was trimmed away afterwards
    probs = torch.softmax(torch.from_numpy(cos) * 100, dim=1).numpy()
    eligible_counts = []
    for j, tag in enumerate(vocab.tags.all()):
        if mode == "multi":
            assert per_tag[tag.pk] == cap
            expected = set(ids[np.argsort(-cos[:, j])][:cap + 2].tolist()) - ({best_red} if tag == red else set())
            assert set(suggested.filter(tag=tag).values_list("photo_id", flat=True)) <= expected
        else:
            eligible = (probs.argmax(1) == j) & (probs.max(1) >= 0.2) & ~((ids == best_red) & (tag == red))
            assert per_tag.get(tag.pk, 0) == min(cap, int(eligible.sum()))
            eligible_counts.append(int(eligible.sum()))
    assert mode == "multi" or max(eligible_counts) > cap  # the cap, not the probability, limited a tag
    assert not PhotoTag.objects.filter(photo_id=best_red, tag=red, state="suggested").exists()
    assert not TagRanking.objects.filter(job=job).exists()  # the ranking goes with the job's end


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


def scored(vocab, collection, cutoff):
    """The vocabulary as a finished job leaves it: every tag scored over the collection at `cutoff`."""
    for tag in vocab.tags.all():
        TagScoring.objects.create(tag=tag, collection=collection, version=tag.version, model_id=SMALL, cutoff=cutoff)


def test_new_photos_are_capped_per_tag_like_the_job(owner, collection, settings):
    settings.ATELIER_TAG_BLOCK, settings.ATELIER_TAG_SUGGESTIONS_PER_TAG = 40, 10
    ids, vectors = add_rows(collection, 300)
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="things", tags=["red", "dog"])
    scored(vocab, collection, cutoff=-1.0)  # every photo passes: only the cap limits
    red = vocab.tags.get(name="red")
    cos = vectors.astype(np.float16).astype(np.float32) @ tag_matrix(vocab).T  # as stored
    best_red = int(ids[np.argmax(cos[:, list(vocab.tags.all()).index(red)])])
    decided = PhotoTag.objects.create(photo_id=best_red, tag=red, state="rejected", source="person")
    written = services.tag_new_photos(photo_ids=ids.tolist(), model_id=SMALL)
    assert written >= 20
    for j, tag in enumerate(vocab.tags.all()):
        rows = PhotoTag.objects.filter(tag=tag, state="suggested")
        assert rows.count() == 10
        best = set(ids[np.argsort(-cos[:, j])][:11].tolist()) - ({decided.photo_id} if tag == red else set())
        assert set(rows.values_list("photo_id", flat=True)) <= best
        for row in rows:
            assert row.margin == pytest.approx(row.confidence + 1.0, abs=1e-5)
    decided.refresh_from_db()
    assert decided.state == "rejected"
    more, more_vectors = add_rows(collection, 40, seed=1)  # a later batch: the collection keeps the best 10
    services.tag_new_photos(photo_ids=more.tolist(), model_id=SMALL)
    all_ids = np.concatenate([ids, more])
    all_cos = np.concatenate([vectors, more_vectors]).astype(np.float16).astype(np.float32) @ tag_matrix(vocab).T
    for j, tag in enumerate(vocab.tags.all()):
        best = set(all_ids[np.argsort(-all_cos[:, j])][:11].tolist()) - ({decided.photo_id} if tag == red else set())
        kept = set(PhotoTag.objects.filter(tag=tag, state="suggested").values_list("photo_id", flat=True))
        assert len(kept) == 10 and kept <= best


@pytest.mark.slow
def test_new_photo_tagging_memory_is_bounded_by_the_block_not_the_photos(owner, collection, settings):
    settings.ATELIER_TAG_BLOCK = 1000
    settings.ATELIER_TAG_SUGGESTIONS_PER_TAG = 5
    ids, vectors = add_rows(collection, 20_000)
    names = [f"tag {i}" for i in range(200)]
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="many", tags=names, templates=["{}"])
    cos = vectors[:2000] @ tag_matrix(vocab).T  # tag vectors encoded (and cached) before tracing
    scored(vocab, collection, cutoff=float(np.mean(cos) + np.std(cos)))
    photo_ids = ids.tolist()
    tracemalloc.start()
    try:
        services.tag_new_photos(photo_ids=photo_ids, model_id=SMALL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert PhotoTag.objects.filter(tag__vocabulary=vocab).count() == 200 * 5
    whole_matrix = 20_000 * 200 * 4
    block_bound = 1000 * (200 * 4 * 4 + 128 * 4 * 4) + 2 * 2**20  # a few copies of one block's scores and rows
    assert peak < block_bound < whole_matrix / 2, (peak, block_bound)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_tagging_job_on_the_gpu_agrees_with_the_cpu(owner, collection, settings, django_capture_on_commit_callbacks):
    settings.ATELIER_TAG_SHARD_SIZE, settings.ATELIER_TAG_BLOCK, settings.ATELIER_TAG_SUGGESTIONS_PER_TAG = 100, 40, 30
    ids, _ = add_rows(collection, 400)
    vocab = services.do_create_vocabulary(user=owner, collection=collection, name="things", tags=["red", "dog", "sea"])
    found = {}
    for device in ("cpu", "cuda"):
        settings.ATELIER_DEVICE = device
        job = run_job(owner, collection, django_capture_on_commit_callbacks, force=True)
        assert job.state == "succeeded"
        found[device] = set(PhotoTag.objects.filter(tag__vocabulary=vocab).values_list("photo_id", "tag_id"))
        cutoffs = dict(TagScoring.objects.filter(tag__vocabulary=vocab).values_list("tag_id", "cutoff"))
        found[device + " cutoffs"] = cutoffs
    assert len(found["cpu"]) == 3 * 30 and len(found["cpu"] ^ found["cuda"]) <= 6  # fp16 may swap pairs at the edge
    for tag_id, cutoff in found["cpu cutoffs"].items():
        assert found["cuda cutoffs"][tag_id] == pytest.approx(cutoff, abs=1e-3)
    new, _ = add_rows(collection, 50, seed=2)  # new photos go through the same selection on the GPU
    assert services.tag_new_photos(photo_ids=new.tolist(), model_id=SMALL) >= 0
    assert all(PhotoTag.objects.filter(tag=t, state="suggested").count() <= 30 for t in vocab.tags.all())
