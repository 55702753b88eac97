"""The tagging job at any size: a vocabulary × collection scored in id-range shards of stored vectors.

The job's plan holds, per stale vocabulary, the tags to score; each vocabulary takes two phases:
  statistics: per tag count / sum / sum of squares of the cosines, kept per shard, combined into
              the cutoffs (a person's threshold, else the learned one, else mean + k·std) once the
              phase is complete;
  selection:  per block of rows, the (photo, tag) pairs at or above their cutoff, written in bulk,
              at most ATELIER_TAG_SUGGESTIONS_PER_TAG per tag and collection (the most confident):
              a tag whose count passes twice the cap is trimmed back to it, and its floor rises,
              so fewer rows are written after.
Blocks of ATELIER_TAG_BLOCK rows bound memory; every block's writes commit with the shard's cursor.
"""
from __future__ import annotations

import time

import numpy as np
from django.conf import settings
from django.db import transaction

from atelier.core.devices import worker_device
from atelier.embeddings.models import PhotoEmbedding
from atelier.jobs.models import Job, JobShard
from atelier.jobs.shards import ShardedJob, advance
from atelier.tagging.models import PhotoTag, Tag, TagScoring, Vocabulary

SUGGESTED = dict(state=PhotoTag.State.SUGGESTED, source=PhotoTag.Source.ZERO_SHOT)


def vectors_of(collection_id: int, model_id: str):
    return PhotoEmbedding.objects.filter(model_id=model_id, vector__isnull=False, photo__collection_id=collection_id)


def fixed_cutoffs(tags: list[Tag], collection_id: int) -> dict[int, float]:
    """Cutoffs that need no statistics: set by a person, else learned from this collection's decisions."""
    from atelier.tagging.selectors import learned_thresholds

    learned = learned_thresholds(collection=collection_id, tags=tags)
    return {t.pk: t.threshold if t.threshold is not None else learned[t.pk]
            for t in tags if t.threshold is not None or t.pk in learned}


def plan_entry(vocabulary: Vocabulary, tags: list[Tag], collection_id: int) -> dict:
    exclusive = vocabulary.mode == Vocabulary.Mode.EXCLUSIVE
    matrix_tags = list(vocabulary.tags.all()) if exclusive else tags
    fixed = fixed_cutoffs(tags, collection_id)
    return {"vocabulary": vocabulary.pk, "tags": [t.pk for t in tags], "matrix": [t.pk for t in matrix_tags],
            "exclusive": exclusive, "needs_stats": not exclusive and any(t.pk not in fixed for t in tags)}


class TagPhotos(ShardedJob):
    kind = "tag_photos"
    queue = "gpu"

    # -- the plan: two phases per vocabulary ---------------------------------------------------------
    def phase_count(self, job):
        return 2 * len(job.params["plan"])

    def entry(self, job, phase) -> dict:
        return job.params["plan"][phase // 2]

    def shard_size(self, job, phase):
        return settings.ATELIER_TAG_SHARD_SIZE

    def items(self, job, phase):
        entry = self.entry(job, phase)
        rows = vectors_of(job.collection_id, job.params["model_id"])
        return rows.none() if phase % 2 == 0 and not entry["needs_stats"] else rows

    def progress(self, job):
        return min(job.total, job.params.get("phase", 0) // 2)

    def message(self, job, done, total):
        selection = JobShard.objects.filter(job=job, phase__in=range(1, self.phase_count(job), 2))
        written = sum(data.get("written", 0) for data in selection.values_list("data", flat=True).iterator())
        return f"scored {done}/{total} vocabularies, {written} suggestions"

    # -- the work of one shard ------------------------------------------------------------------------
    def matrix(self, job, entry) -> tuple[list[Tag], np.ndarray]:
        from atelier.tagging.services import vocabulary_matrix

        vocabulary = Vocabulary.objects.get(pk=entry["vocabulary"])
        tags = sorted(Tag.objects.filter(pk__in=entry["matrix"]), key=lambda t: entry["matrix"].index(t.pk))
        return tags, vocabulary_matrix(vocabulary, tags, job.params["model_id"])

    def work(self, job, shard, deadline):
        entry = self.entry(job, shard.phase)
        tags, matrix = self.matrix(job, entry)
        rows = self.items(job, shard.phase).filter(pk__lte=shard.hi).order_by("pk")
        block = settings.ATELIER_TAG_BLOCK
        while True:
            started = time.monotonic()
            ids, photo_ids, vectors = read_block(rows.filter(pk__gt=shard.cursor), block)
            last = len(ids) < block
            cursor = shard.hi if last else int(ids[-1])
            if shard.phase % 2 == 0:
                self.count_block(shard, vectors, matrix, cursor=cursor, finished=last)
            else:
                self.select_block(job, entry, shard, tags, photo_ids, vectors, matrix, cursor=cursor, finished=last)
            if last or time.monotonic() + (time.monotonic() - started) >= deadline:  # no block past the chunk
                return

    def count_block(self, shard, vectors, matrix, *, cursor, finished):
        from ml_core.zeroshot.sharded import TagStats, tag_stats

        stats = TagStats.from_json(shard.data) if shard.data else TagStats.zeros(len(matrix))
        if len(vectors):
            stats = stats + tag_stats(vectors, matrix, device=worker_device())
        with transaction.atomic():
            advance(shard, cursor=cursor, done=len(vectors), finished=finished, data=stats.as_json())

    def select_block(self, job, entry, shard, tags, photo_ids, vectors, matrix, *, cursor, finished):
        from ml_core.zeroshot.sharded import select

        cutoffs = np.array([entry["cutoffs"].get(str(t.pk), 1.0) for t in tags], np.float32)
        floors = entry.get("floors", {})
        cut = np.maximum(cutoffs, np.array([floors.get(str(t.pk), -2.0) for t in tags], np.float32))
        vocabulary = Vocabulary.objects.get(pk=entry["vocabulary"])
        r, c, p = (select(vectors, matrix, mode="exclusive" if entry["exclusive"] else "multi", cutoffs=cut,
                          min_prob=vocabulary.min_probability, cap=settings.ATELIER_TAG_SUGGESTIONS_PER_TAG,
                          device=worker_device()) if len(vectors) else ([], [], []))
        suggestions = [(int(photo_ids[i]), tags[j].pk, float(conf), float(conf - cutoffs[j]))
                       for i, j, conf in zip(r, c, p) if conf >= cut[j]]
        with transaction.atomic():
            written = write_suggestions(photo_ids=photo_ids, suggestions=suggestions)
            keep_the_most_confident(job.pk, shard.phase, written)
            data = {"written": shard.data.get("written", 0) + sum(written.values())}
            advance(shard, cursor=cursor, done=len(vectors), finished=finished, data=data)

    # -- between the phases -----------------------------------------------------------------------------
    def phase_done(self, job, phase):
        entry = self.entry(job, phase)
        tags = list(Tag.objects.filter(pk__in=entry["tags"]))
        if phase % 2 == 0:
            entry["cutoffs"] = self.cutoffs(job, phase, entry, tags)
            JobShard.objects.filter(job=job, phase=phase).update(data={})  # combined: the shards' copies go
            entry["floors"], entry["counts"] = {}, {}
            # the last scoring's suggestions go first: the cap then counts only this job's rows
            PhotoTag.objects.filter(tag_id__in=entry["matrix"], photo__collection_id=job.collection_id, **SUGGESTED).delete()
            return
        for tag in Tag.objects.filter(pk__in=entry["matrix"]):
            trim_to_cap(tag.pk, job.collection_id)
            TagScoring.objects.update_or_create(tag=tag, collection_id=job.collection_id, defaults={
                "version": tag.version, "model_id": job.params["model_id"], "cutoff": entry["cutoffs"].get(str(tag.pk))})

    def cutoffs(self, job, phase, entry, tags) -> dict:
        from ml_core.zeroshot.sharded import TagStats

        if entry["exclusive"]:
            min_prob = Vocabulary.objects.get(pk=entry["vocabulary"]).min_probability
            return {str(t): min_prob for t in entry["matrix"]}
        stats = TagStats.zeros(len(entry["matrix"]))
        for data in JobShard.objects.filter(job=job, phase=phase).values_list("data", flat=True).iterator():
            if data:
                stats = stats + TagStats.from_json(data)
        spread = stats.cutoffs(settings.ATELIER_TAG_STD_K)
        fixed = fixed_cutoffs(tags, job.collection_id)
        return {str(t): fixed.get(t, float(spread[j])) for j, t in enumerate(entry["matrix"])}


def read_block(rows, block: int):
    """(embedding ids, photo ids, float32 vectors) of the next `block` rows of a keyset query."""
    got = list(rows.values_list("pk", "photo_id", "vector")[:block])
    if not got:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    ids = np.fromiter((g[0] for g in got), np.int64, len(got))
    photo_ids = np.fromiter((g[1] for g in got), np.int64, len(got))
    vectors = np.vstack([np.frombuffer(bytes(g[2]), dtype="<f2") for g in got]).astype(np.float32)
    return ids, photo_ids, vectors


def write_suggestions(*, photo_ids, suggestions) -> dict[int, int]:
    """Bulk-writes suggestions, leaving every (photo, tag) a person decided on as it is; returns the
    rows written per tag."""
    tag_ids = {t for _, t, _, _ in suggestions}
    kept = set(PhotoTag.objects.filter(tag_id__in=tag_ids, photo_id__in=[int(p) for p in photo_ids])
               .exclude(**SUGGESTED).values_list("photo_id", "tag_id"))
    rows = [PhotoTag(photo_id=p, tag_id=t, confidence=c, margin=m) for p, t, c, m in suggestions if (p, t) not in kept]
    PhotoTag.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    written: dict[int, int] = {}
    for row in rows:
        written[row.tag_id] = written.get(row.tag_id, 0) + 1
    return written


def keep_the_most_confident(job_id: int, phase: int, written: dict[int, int]) -> None:
    """Counts this block's rows per tag; a tag past twice the cap is trimmed to its `cap` most
    confident suggestions in the collection, and that cap-th confidence becomes its floor."""
    cap = settings.ATELIER_TAG_SUGGESTIONS_PER_TAG
    if not written or cap <= 0:
        return
    job = Job.objects.select_for_update().get(pk=job_id)
    entry = job.params["plan"][phase // 2]
    counts, floors = entry.setdefault("counts", {}), entry.setdefault("floors", {})
    for tag_id, n in written.items():
        key = str(tag_id)
        counts[key] = counts.get(key, 0) + n
        if counts[key] > 2 * cap:
            floors[key], counts[key] = trim_to_cap(tag_id, job.collection_id)
    Job.objects.filter(pk=job_id).update(params=job.params)


def trim_to_cap(tag_id: int, collection_id: int) -> tuple[float | None, int]:
    """Deletes a tag's suggestions in the collection below its cap-th most confident one (ties with it
    stay, and so does every decision). Returns (that confidence, suggestions left)."""
    cap = settings.ATELIER_TAG_SUGGESTIONS_PER_TAG
    ours = PhotoTag.objects.filter(tag_id=tag_id, photo__collection_id=collection_id, **SUGGESTED)
    if cap <= 0:
        return None, ours.count()
    floor = list(ours.order_by("-confidence").values_list("confidence", flat=True)[cap - 1:cap])
    if not floor:
        return None, ours.count()
    ours.filter(confidence__lt=floor[0]).delete()
    return floor[0], ours.count()
