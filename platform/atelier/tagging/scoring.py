"""The tagging job at any size: a vocabulary × collection scored in id-range shards of stored vectors.

The job's plan holds, per stale vocabulary, the tags to score; each vocabulary takes two phases:
  ranking:   per tag count / sum / sum of squares of the cosines (from Σx and the Gram matrix of the
             rows: no score matrix), kept per shard and combined into the cutoffs (a person's
             threshold, else the learned one, else mean + k·std) when the phase is complete; and the
             ATELIER_TAG_SUGGESTIONS_PER_TAG best (photo, confidence) pairs of each tag, merged by
             every step into the job's `TagRanking` (pairs a person decided on are never offered);
  writing:   the pairs the ranking holds at or above their tag's cutoff are written in bulk, shard
             by shard: exactly the cap per tag at most, however many steps and workers ran. Without
             a cap, this phase selects instead: every pair at or above its cutoff, block by block.
Blocks of ATELIER_TAG_BLOCK rows bound memory; a step's writes commit with the shard's cursor.
New photos go through the same selection (`tag_new_photos_of`), with the same cap.
"""
from __future__ import annotations

import time

import numpy as np
from django.conf import settings
from django.db import transaction

from atelier.core.devices import worker_device
from atelier.embeddings.models import PhotoEmbedding, unpack_vectors
from atelier.jobs.models import JobShard
from atelier.jobs.shards import ShardedJob, advance
from atelier.tagging.models import PhotoTag, Tag, TagRanking, TagScoring, Vocabulary

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
            "exclusive": exclusive, "needs_stats": not exclusive and any(t.pk not in fixed for t in tags),
            "cap": max(0, settings.ATELIER_TAG_SUGGESTIONS_PER_TAG)}


def cap_of(entry: dict) -> int:
    """The plan's cap per tag (0: none), fixed when the job started."""
    return entry.get("cap", max(0, settings.ATELIER_TAG_SUGGESTIONS_PER_TAG))


class TagPhotos(ShardedJob):
    kind = "tag_photos"
    queue = "gpu"

    # -- the plan: two phases per vocabulary (ranking, writing) ------------------------------------------
    def phase_count(self, job):
        return 2 * len(job.params["plan"])

    def entry(self, job, phase) -> dict:
        return job.params["plan"][phase // 2]

    def shard_size(self, job, phase):
        return settings.ATELIER_TAG_SHARD_SIZE

    def items(self, job, phase):
        entry = self.entry(job, phase)
        rows = vectors_of(job.collection_id, job.params["model_id"])
        first_pass_needed = entry["needs_stats"] or cap_of(entry) > 0
        return rows.none() if phase % 2 == 0 and not first_pass_needed else rows

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
        if shard.phase % 2 == 1 and cap_of(entry) > 0:
            return write_ranked(job, shard, entry, deadline)
        tags, matrix = self.matrix(job, entry)
        block, cursor, done = settings.ATELIER_TAG_BLOCK, shard.cursor, 0

        def new_step():
            if shard.phase % 2 == 0:
                return RankingStep(job, shard.phase, entry, tags, matrix)
            return self.selection_step(job, entry, tags, matrix)

        step = new_step()
        while True:
            started = time.monotonic()
            ids, photo_ids, vectors = read_block(self.rows_between(job, shard.phase, cursor, shard.hi).order_by("pk"), block)
            last = len(ids) < block
            cursor, done = (shard.hi if last else int(ids[-1])), done + len(ids)
            if len(ids):
                step.add(photo_ids, vectors, ids=ids)
            ends = last or time.monotonic() + (time.monotonic() - started) >= deadline  # no block past the chunk
            if ends or not step.bounded:  # uncapped, a selection is written block by block
                step.commit(job, shard, cursor=cursor, done=done, finished=last)
                if ends:
                    return
                step, done = new_step(), 0

    def selection_step(self, job, entry, tags, matrix) -> "Selection":
        cutoffs = np.array([entry["cutoffs"].get(str(t.pk), 1.0) for t in tags], np.float32)
        vocabulary = Vocabulary.objects.get(pk=entry["vocabulary"])
        return Selection(tags, matrix, cutoffs, exclusive=entry["exclusive"], min_prob=vocabulary.min_probability,
                         cap=cap_of(entry))

    # -- between the phases -----------------------------------------------------------------------------
    def phase_done(self, job, phase):
        entry = self.entry(job, phase)
        tags = list(Tag.objects.filter(pk__in=entry["tags"]))
        if phase % 2 == 0:
            entry["cutoffs"] = self.cutoffs(job, phase, entry, tags)
            JobShard.objects.filter(job=job, phase=phase).update(data={})  # combined: the shards' copies go
            # the last scoring's suggestions go first: the cap then counts only this job's rows
            PhotoTag.objects.filter(tag_id__in=entry["matrix"], photo__collection_id=job.collection_id, **SUGGESTED).delete()
            return
        TagRanking.objects.filter(job=job, phase=phase - 1).delete()
        trim_tags_to_cap(entry["matrix"], job.collection_id)  # photos tagged on arrival meanwhile
        for tag in Tag.objects.filter(pk__in=entry["matrix"]):
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
    """(embedding ids, photo ids, float16 vectors [n, D]) of the next `block` rows of a keyset query:
    the stored bytes joined once and viewed as one array, no per-row array."""
    got = list(rows.values_list("pk", "photo_id", "vector")[:block])
    if not got:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float16)
    ids, photo_ids, vectors = zip(*got)
    return (np.array(ids, np.int64), np.array(photo_ids, np.int64),
            unpack_vectors(vectors))


class RankingStep:
    """One step of the ranking phase: its blocks' statistics (when a cutoff comes from them), added
    to the shard's at commit, and the cap best pairs of each tag among its blocks (offers start at
    the job's thresholds so far), merged into the job's ranking at commit."""
    bounded = True

    def __init__(self, job, phase: int, entry: dict, tags: list[Tag], matrix: np.ndarray):
        from ml_core.zeroshot.sharded import RunningTop, Scorer, StatsAccumulator

        device = worker_device()
        self.tag_pks, self.cap = np.array([t.pk for t in tags], np.int64), cap_of(entry)
        self.sums = StatsAccumulator(matrix, device=device) if entry["needs_stats"] else None
        self.mode = "exclusive" if entry["exclusive"] else "multi"
        self.min_prob = Vocabulary.objects.get(pk=entry["vocabulary"]).min_probability if entry["exclusive"] else 0.0
        if self.cap > 0:
            self.scorer = self.sums.scorer if self.sums else Scorer(matrix, device)
            known = load_ranking(job.pk, phase, len(tags), self.cap)
            self.offers = RunningTop(len(tags), self.cap, floors=known.thresholds)

    def add(self, photo_ids, vectors, *, ids) -> None:
        if self.sums:
            vectors = self.sums.scorer.rows(vectors)  # converted once, for the sums and the scores
            self.sums.add(vectors)
        if self.cap > 0:
            rows, tag, values = self.scorer.candidates(vectors, mode=self.mode, min_prob=self.min_prob,
                                                       floor=self.offers.floors, seed_cap=self.cap,
                                                       exclude=decided_in_block(photo_ids, self.tag_pks))
            self.offers.add(ids[rows], tag, values)

    def commit(self, job, shard, *, cursor, done, finished) -> None:
        from ml_core.zeroshot.sharded import TagStats

        data = None
        if self.sums:
            stats = TagStats.from_json(shard.data) if shard.data else TagStats.zeros(len(self.sums.matrix))
            if self.sums.rows:
                stats = stats + self.sums.stats()
            data = stats.as_json()
        with transaction.atomic():
            if self.cap > 0:
                merge_into_ranking(job.pk, shard.phase, self.offers.held(), len(self.tag_pks), self.cap)
            advance(shard, cursor=cursor, done=done, finished=finished, data=data)


def load_ranking(job_id: int, phase: int, tags: int, cap: int):
    """The job's ranking of `phase` so far (an empty one before the first step commits)."""
    from ml_core.zeroshot.sharded import TopPairs

    pairs = TagRanking.objects.filter(job_id=job_id, phase=phase).values_list("pairs", flat=True).first()
    return TopPairs.empty(tags, cap) if pairs is None else TopPairs.from_bytes(bytes(pairs), tags, cap)


def merge_into_ranking(job_id: int, phase: int, offers, tags: int, cap: int) -> None:
    """Merges a step's best pairs into the job's ranking under its row lock (workers take turns)."""
    from ml_core.zeroshot.sharded import TopPairs

    empty = TopPairs.empty(tags, cap)
    TagRanking.objects.bulk_create([TagRanking(job_id=job_id, phase=phase, tags=tags, cap=cap, pairs=empty.to_bytes())],
                                   ignore_conflicts=True)  # the first step makes it; no race on creation
    ranking = TagRanking.objects.select_for_update().get(job_id=job_id, phase=phase)
    merged = TopPairs.from_bytes(bytes(ranking.pairs), tags, cap).merged(*offers)
    TagRanking.objects.filter(pk=ranking.pk).update(pairs=merged.to_bytes())


def write_ranked(job, shard, entry: dict, deadline: float) -> None:
    """The writing phase of a capped job: the ranked pairs of this shard's photos at or above their
    cutoff, in batches of WRITE_BATCH rows, each committed with the cursor."""
    matrix_pks = entry["matrix"]
    ranking = load_ranking(job.pk, shard.phase - 1, len(matrix_pks), cap_of(entry))
    rows, tag, values = ranking.pairs()
    cutoffs = np.array([entry["cutoffs"].get(str(pk), 1.0) for pk in matrix_pks], np.float32)
    keep = (rows > shard.cursor) & (rows <= shard.hi) & (values >= cutoffs[tag])
    order = np.argsort(rows[keep], kind="stable")
    rows, tag, values = rows[keep][order], tag[keep][order], values[keep][order]
    start, written = 0, shard.data.get("written", 0)
    while start < len(rows):
        end = int(np.searchsorted(rows, rows[min(start + WRITE_BATCH, len(rows)) - 1], side="right"))  # whole rows
        photo_of = dict(PhotoEmbedding.objects.filter(pk__in=np.unique(rows[start:end]).tolist()).values_list("pk", "photo_id"))
        batch = [PhotoTag(photo_id=photo_of[int(r)], tag_id=matrix_pks[j], confidence=float(c), margin=float(c - cutoffs[j]))
                 for r, j, c in zip(rows[start:end], tag[start:end], values[start:end]) if int(r) in photo_of]
        with transaction.atomic():
            PhotoTag.objects.bulk_create(batch, ignore_conflicts=True)  # a pair decided meanwhile stays as it is
            written += len(batch)
            advance(shard, cursor=int(rows[end - 1]), data={"written": written})
        start = end
        if time.monotonic() >= deadline and start < len(rows):
            return
    advance(shard, cursor=shard.hi, done=shard.total - shard.done, finished=True, data={"written": written})


class Selection:
    """Suggestions of some blocks of photos for `tags` (in the matrix's order): each block's pairs at
    or above their cutoff, but for pairs a person decided on, offered to a running top of `cap` per
    tag and written together. Memory: one block's scores and at most about twice tags × cap pairs
    (uncapped, `bounded` is False: write after each block)."""

    def __init__(self, tags: list[Tag], matrix: np.ndarray, cutoffs: np.ndarray, *, exclusive: bool, min_prob: float,
                 cap: int):
        from ml_core.zeroshot.sharded import RunningTop, Scorer

        self.tag_pks = np.array([t.pk for t in tags], np.int64)
        self.cap, self.bounded = cap, cap > 0
        self.scorer, self.cutoffs = Scorer(matrix, worker_device()), np.asarray(cutoffs, np.float32)
        self.mode, self.min_prob = ("exclusive" if exclusive else "multi"), min_prob
        self.top = RunningTop(len(tags), self.cap)

    def add(self, photo_ids: np.ndarray, vectors: np.ndarray, *, ids=None) -> None:
        rows, tag, values = self.scorer.candidates(vectors, mode=self.mode, min_prob=self.min_prob,
                                                   floor=np.maximum(self.cutoffs, self.top.floors),
                                                   exclude=decided_in_block(photo_ids, self.tag_pks))
        self.top.add(photo_ids[rows], tag, values)

    def write(self) -> dict[int, int]:
        """Writes the suggestions kept; returns the rows written per tag pk."""
        photos, tag, values = self.top.result()
        margins = values - self.cutoffs[tag]
        PhotoTag.objects.bulk_create(
            (PhotoTag(photo_id=int(p), tag_id=int(self.tag_pks[j]), confidence=float(c), margin=float(m))
             for p, j, c, m in zip(photos, tag, values, margins)), ignore_conflicts=True, batch_size=WRITE_BATCH)
        counts = np.bincount(tag, minlength=len(self.tag_pks))
        return {int(self.tag_pks[j]): int(counts[j]) for j in np.flatnonzero(counts)}

    def commit(self, job, shard, *, cursor, done, finished) -> None:
        with transaction.atomic():
            written = self.write()
            data = {"written": shard.data.get("written", 0) + sum(written.values())}
            advance(shard, cursor=cursor, done=done, finished=finished, data=data)


WRITE_BATCH = 5000  # rows per INSERT: under PostgreSQL's 65,535 parameters per statement


def decided_in_block(photo_ids: np.ndarray, tag_pks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row in the block, tag index) of each pair among these photos and tags that a person decided
    on (or added): suggestions leave them as they are, and they never take a place in a cap."""
    found = (PhotoTag.objects.filter(tag_id__in=tag_pks.tolist(), photo_id__in=photo_ids.tolist())
             .exclude(**SUGGESTED).values_list("photo_id", "tag_id"))
    row_of = {int(p): i for i, p in enumerate(photo_ids)}
    tag_of = {int(pk): j for j, pk in enumerate(tag_pks)}
    pairs = np.array([(row_of[p], tag_of[t]) for p, t in found], np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def trim_tags_to_cap(tag_ids: list[int], collection_id: int) -> int:
    """Deletes each tag's suggestions in the collection past its cap-th most confident one (ties go
    to the older photo; every decision stays): one ranked query for all the tags. Returns rows deleted."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    cap = settings.ATELIER_TAG_SUGGESTIONS_PER_TAG
    if cap <= 0 or not tag_ids:
        return 0
    ranked = (PhotoTag.objects.filter(tag_id__in=tag_ids, photo__collection_id=collection_id, **SUGGESTED)
              .annotate(rank=Window(RowNumber(), partition_by=[F("tag_id")],
                                    order_by=[F("confidence").desc(), F("photo_id").asc()]))
              .filter(rank__gt=cap).values_list("pk", flat=True))
    extra = list(ranked)
    for start in range(0, len(extra), WRITE_BATCH):
        PhotoTag.objects.filter(pk__in=extra[start:start + WRITE_BATCH]).delete()
    return len(extra)


def tag_new_photos_of(vocabulary: Vocabulary, collection_id: int, model_id: str, photo_ids: list[int]) -> int:
    """Suggestions for some photos of a collection (newly embedded) with the tags already scored over
    it, at their remembered cutoffs, through the job's selection: blocks of ATELIER_TAG_BLOCK photos
    (memory follows the block, not the number of photos), at most the cap per tag, and a tag that
    then holds more than the cap in the collection keeps its most confident. Returns rows written."""
    from atelier.tagging.services import vocabulary_matrix

    scorings = {s.tag_id: s for s in TagScoring.objects.filter(tag__vocabulary=vocabulary, collection_id=collection_id,
                                                               model_id=model_id)}
    tags = [t for t in vocabulary.tags.all() if t.pk in scorings and scorings[t.pk].version == t.version]
    if not tags:
        return 0
    exclusive = vocabulary.mode == Vocabulary.Mode.EXCLUSIVE
    if exclusive:  # a softmax over the whole vocabulary
        tags = list(vocabulary.tags.all())
        cutoffs = np.full(len(tags), vocabulary.min_probability, np.float32)
    else:
        cutoffs = np.array([1.0 if scorings[t.pk].cutoff is None else scorings[t.pk].cutoff for t in tags], np.float32)
    matrix = vocabulary_matrix(vocabulary, tags, model_id)
    tag_pks, block, written = [t.pk for t in tags], settings.ATELIER_TAG_BLOCK, 0
    ids = sorted({int(i) for i in photo_ids})
    for start in range(0, len(ids), block):
        chunk = ids[start:start + block]
        with transaction.atomic():  # a re-embedded photo's old suggestions go first
            PhotoTag.objects.filter(tag_id__in=tag_pks, photo_id__in=chunk, **SUGGESTED).delete()
            _, found, vectors = read_block(vectors_of(collection_id, model_id).filter(photo_id__in=chunk).order_by("pk"), block)
            if not len(found):
                continue
            selection = Selection(tags, matrix, cutoffs, exclusive=exclusive, min_prob=vocabulary.min_probability,
                                  cap=max(0, settings.ATELIER_TAG_SUGGESTIONS_PER_TAG))
            selection.add(found, vectors)
            counts = selection.write()
            written += sum(counts.values())
            trim_tags_to_cap(list(counts), collection_id)
    return written
