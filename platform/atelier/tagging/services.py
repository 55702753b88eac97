"""Tagging writes: vocabularies and tags, scoring suggestions on stored vectors, people's decisions.

Scoring never touches a decision: a PhotoTag a person accepted or rejected (or added) is kept as it
is; only `suggested` zero-shot rows are replaced. What was scored is remembered per (tag, collection)
in TagScoring with the tag's version, so a job re-scores only tags whose text changed (and, in an
exclusive vocabulary, where a softmax ties every tag together, the whole vocabulary).
"""
from __future__ import annotations

import logging

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from atelier.embeddings.services import model_status, stored_vectors
from atelier.library.models import Collection, Photo
from atelier.library.permissions import can_admin
from atelier.core.validation import clean_ids, clean_text
from atelier.library.services import InvalidInput, PermissionDenied
from atelier.tagging.models import LearnedThreshold, PhotoTag, Tag, TagScoring, Vocabulary
from atelier.tagging.selectors import learned_thresholds

log = logging.getLogger(__name__)
MAX_TAGS_PER_VOCABULARY = 2000


class TaggingUnavailable(Exception):
    pass


# -- permissions ----------------------------------------------------------------------------------
def can_change_vocabulary(user, vocabulary: Vocabulary) -> bool:
    if vocabulary.collection_id is None:
        return bool(user and user.is_authenticated and user.is_staff)
    return can_admin(user, vocabulary.collection)


def check_change_vocabulary(user, vocabulary: Vocabulary) -> None:
    if not can_change_vocabulary(user, vocabulary):
        raise PermissionDenied("only collection admins (and staff, for global vocabularies) change vocabularies")


def check_admin(user, collection: Collection) -> None:
    if not can_admin(user, collection):
        raise PermissionDenied("only collection admins review tags")


# -- vocabularies and tags --------------------------------------------------------------------------
def _clean_templates(templates):
    from ml_core.zeroshot import resolve_templates

    if templates in (None, "", []):
        return []
    try:
        resolve_templates(templates)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"templates: {exc}") from None
    return templates


def _clean_name(name, what="name") -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
        raise InvalidInput(f"{what}: a non-empty text of at most 100 characters")
    return clean_text(name, what).strip()


def _clean_synonyms(synonyms) -> list[str]:
    if synonyms in (None, ""):
        return []
    if not isinstance(synonyms, list) or len(synonyms) > 20:
        raise InvalidInput("synonyms: a list of at most 20 texts")
    return [_clean_name(s, "synonyms") for s in synonyms]


def _clean_mode(mode) -> str:
    if mode not in Vocabulary.Mode.values:
        raise InvalidInput(f"mode: one of {', '.join(Vocabulary.Mode.values)}")
    return mode


def _clean_probability(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidInput("min_probability: a number between 0 and 1")
    return float(value)


def _clean_threshold(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1 <= value <= 1:
        raise InvalidInput("threshold: a cosine between -1 and 1, or null")
    return float(value)


def _mark_changed(vocabulary: Vocabulary, *, all_tags: bool) -> None:
    """Text changed: a new cache version; every tag re-scored when the templates changed or the
    vocabulary is exclusive (a softmax ties all its tags together)."""
    Vocabulary.objects.filter(pk=vocabulary.pk).update(version=F("version") + 1)
    if all_tags or vocabulary.mode == Vocabulary.Mode.EXCLUSIVE:
        vocabulary.tags.update(version=F("version") + 1)
    vocabulary.refresh_from_db(fields=["version"])


def parse_tag_lines(text: str) -> list:
    """One tag per line (or comma-separated); `name: synonym, synonym` adds synonyms."""
    lines = [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]
    if len(lines) == 1 and ":" not in lines[0]:
        lines = [part.strip() for part in lines[0].split(",") if part.strip()]
    out = []
    for line in lines:
        name, _, synonyms = line.partition(":")
        out.append({"name": name.strip(), "synonyms": [s.strip() for s in synonyms.split(",") if s.strip()]}
                   if synonyms.strip() else name.strip())
    if not out:
        raise InvalidInput("tags: write at least one tag (one per line)")
    return out


def do_create_vocabulary(*, user, collection: Collection | None, name, mode="multi", templates=None,
                         min_probability=0.5, tags=None) -> Vocabulary:
    vocabulary = Vocabulary(collection=collection, name=_clean_name(name), mode=_clean_mode(mode),
                            templates=_clean_templates(templates), min_probability=_clean_probability(min_probability),
                            created_by=user)
    check_change_vocabulary(user, vocabulary)
    if Vocabulary.objects.filter(collection=collection, name=vocabulary.name).exists():
        raise InvalidInput(f"name: a vocabulary named {vocabulary.name!r} exists already")
    with transaction.atomic():
        vocabulary.save()
        for tag in tags or []:
            tag = tag if isinstance(tag, dict) else {"name": tag}
            do_create_tag(user=user, vocabulary=vocabulary, **tag)
    return vocabulary


def do_update_vocabulary(*, user, vocabulary: Vocabulary, **changes) -> Vocabulary:
    check_change_vocabulary(user, vocabulary)
    cleaners = {"name": _clean_name, "mode": _clean_mode, "templates": _clean_templates,
                "min_probability": _clean_probability}
    unknown = set(changes) - set(cleaners)
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    changed = {k: cleaners[k](v) for k, v in changes.items()}
    rescore = any(k in changed and changed[k] != getattr(vocabulary, k) for k in ("mode", "templates", "min_probability"))
    with transaction.atomic():
        for k, v in changed.items():
            setattr(vocabulary, k, v)
        vocabulary.save()
        if rescore:
            _mark_changed(vocabulary, all_tags=True)
    return vocabulary


def do_delete_vocabulary(*, user, vocabulary: Vocabulary) -> None:
    check_change_vocabulary(user, vocabulary)
    vocabulary.delete()


def do_create_tag(*, user, vocabulary: Vocabulary, name, synonyms=None, threshold=None) -> Tag:
    check_change_vocabulary(user, vocabulary)
    name = _clean_name(name)
    if vocabulary.tags.filter(name=name).exists():
        raise InvalidInput(f"name: the vocabulary has a tag {name!r} already")
    if vocabulary.tags.count() >= MAX_TAGS_PER_VOCABULARY:
        raise InvalidInput(f"a vocabulary holds at most {MAX_TAGS_PER_VOCABULARY} tags")
    with transaction.atomic():
        tag = Tag.objects.create(vocabulary=vocabulary, name=name, synonyms=_clean_synonyms(synonyms),
                                 threshold=_clean_threshold(threshold))
        _mark_changed(vocabulary, all_tags=False)
    return tag


def do_update_tag(*, user, tag: Tag, **changes) -> Tag:
    check_change_vocabulary(user, tag.vocabulary)
    cleaners = {"name": _clean_name, "synonyms": _clean_synonyms, "threshold": _clean_threshold}
    unknown = set(changes) - set(cleaners)
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    changed = {k: cleaners[k](v) for k, v in changes.items()}
    if "name" in changed and tag.vocabulary.tags.filter(name=changed["name"]).exclude(pk=tag.pk).exists():
        raise InvalidInput(f"name: the vocabulary has a tag {changed['name']!r} already")
    text_changed = any(k in changed and changed[k] != getattr(tag, k) for k in ("name", "synonyms"))
    threshold_changed = "threshold" in changed and changed["threshold"] != tag.threshold
    with transaction.atomic():
        for k, v in changed.items():
            setattr(tag, k, v)
        if text_changed:
            tag.version += 1
        tag.save()
        if text_changed:
            _mark_changed(tag.vocabulary, all_tags=False)
        elif threshold_changed:
            TagScoring.objects.filter(tag=tag).delete()  # same text, new cutoff: select again
    return tag


def do_delete_tag(*, user, tag: Tag) -> None:
    vocabulary = tag.vocabulary
    check_change_vocabulary(user, vocabulary)
    with transaction.atomic():
        tag.delete()
        _mark_changed(vocabulary, all_tags=False)


# -- scoring -------------------------------------------------------------------------------------------
def applicable_vocabularies(collection: Collection):
    return Vocabulary.objects.filter(Q(collection=collection) | Q(collection__isnull=True))


def current_model_id() -> str:
    status = model_status()
    if not status.ready:
        raise TaggingUnavailable(f"the CLIP model is not ready ({status.message})")
    return status.model_id


def _engine(model_id: str):
    from atelier.embeddings.services import ModelChanged, worker_engine

    try:
        return worker_engine(expected_model_id=model_id)
    except ModelChanged as exc:
        raise TaggingUnavailable(str(exc)) from None


def vocabulary_matrix(vocabulary: Vocabulary, tags: list[Tag], model_id: str) -> np.ndarray:
    """[T, D] tag vectors (template ensembles), cached per (model, vocabulary, version, tag set)."""
    from ml_core.zeroshot import TagText, cached_tag_matrix

    engine = _engine(model_id)
    texts = [TagText(t.name, tuple(t.synonyms)) for t in tags]
    key = (vocabulary.pk, tuple((t.pk, t.version) for t in tags))
    return cached_tag_matrix(engine.encode_texts, model_id=model_id, key=key, version=vocabulary.version,
                             tags=texts, templates=vocabulary.templates or None)


def stale_tags(vocabulary: Vocabulary, collection: Collection, model_id: str) -> list[Tag]:
    tags = list(vocabulary.tags.all())
    done = {s.tag_id: s for s in TagScoring.objects.filter(tag__vocabulary=vocabulary, collection=collection)}
    stale = [t for t in tags if t.pk not in done or done[t.pk].version != t.version or done[t.pk].model_id != model_id]
    if stale and vocabulary.mode == Vocabulary.Mode.EXCLUSIVE:
        return tags
    return stale


def _cutoff(tag: Tag, cos: np.ndarray, learned: float | None) -> float:
    """A person's threshold, else the one learned in this collection, else from the distribution."""
    from ml_core.zeroshot import distribution_threshold

    if tag.threshold is not None:
        return tag.threshold
    if learned is not None:
        return learned
    return distribution_threshold(cos, k=settings.ATELIER_TAG_STD_K)


def score_vocabulary(*, vocabulary: Vocabulary, collection: Collection, model_id: str,
                     photo_ids: list[int] | None = None, tags: list[Tag] | None = None) -> int:
    """Writes suggestions of `tags` (default: the stale ones) for the collection's photos, in one step
    and in memory: for small collections (the `tag_photos` job scores any size in shards). With
    `photo_ids` (new photos): the tags already scored over the collection, at their remembered
    cutoffs, through the job's bounded selection and per-tag cap (tagging.scoring). Returns
    suggestions written."""
    from ml_core.zeroshot import select

    from atelier.tagging.scoring import tag_new_photos_of

    if photo_ids is not None:
        return tag_new_photos_of(vocabulary, collection.pk, model_id, photo_ids)
    tags = stale_tags(vocabulary, collection, model_id) if tags is None else tags
    if not tags:
        return 0
    scope = Photo.objects.filter(collection=collection)
    ids, vectors = stored_vectors(model_id, photo_ids=scope.values("pk"))
    all_tags = list(vocabulary.tags.all()) if vocabulary.mode == Vocabulary.Mode.EXCLUSIVE else tags
    matrix = vocabulary_matrix(vocabulary, all_tags, model_id)
    cutoffs = {}
    if vocabulary.mode == Vocabulary.Mode.EXCLUSIVE:
        rows, cols, conf, cut = (select(vectors, matrix, mode="exclusive", min_prob=vocabulary.min_probability)
                                 if len(ids) else ([], [], [], []))
        cutoffs = {t.pk: vocabulary.min_probability for t in all_tags}
    else:
        cos = vectors @ matrix.T if len(ids) else np.zeros((0, len(tags)), np.float32)
        learned = learned_thresholds(collection=collection, tags=tags)
        thresholds = np.array([_cutoff(t, cos[:, j], learned.get(t.pk)) for j, t in enumerate(tags)], np.float32)
        cutoffs = {t.pk: float(c) for t, c in zip(tags, thresholds)}
        rows, cols, conf, cut = (select(vectors, matrix, mode="multi", thresholds=thresholds)
                                 if len(ids) else ([], [], [], []))
    suggestions = [(int(ids[r]), all_tags[c].pk, float(p), float(p - k)) for r, c, p, k in zip(rows, cols, conf, cut)]
    with transaction.atomic():
        written = _write_suggestions(tag_ids=[t.pk for t in all_tags], photo_scope=scope, suggestions=suggestions)
        for t in all_tags:
            TagScoring.objects.update_or_create(tag=t, collection=collection, defaults={
                "version": t.version, "model_id": model_id, "cutoff": cutoffs.get(t.pk)})
    return written


def _write_suggestions(*, tag_ids, photo_scope, suggestions) -> int:
    """Replaces the zero-shot suggestions of these tags on these photos; decisions stay untouched."""
    PhotoTag.objects.filter(tag_id__in=tag_ids, photo__in=photo_scope, state=PhotoTag.State.SUGGESTED,
                            source=PhotoTag.Source.ZERO_SHOT).delete()
    kept = set(PhotoTag.objects.filter(tag_id__in=tag_ids, photo__in=photo_scope).values_list("photo_id", "tag_id"))
    rows = [PhotoTag(photo_id=p, tag_id=t, confidence=c, margin=m) for p, t, c, m in suggestions if (p, t) not in kept]
    PhotoTag.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def stale_vocabularies(collection: Collection, model_id: str) -> list[Vocabulary]:
    return [v for v in applicable_vocabularies(collection) if stale_tags(v, collection, model_id)]


def start_tagging_job(*, user, collection: Collection, force: bool = False) -> int | None:
    """A sharded `gpu` job scoring the collection's stale vocabularies (all of them with `force`)."""
    from django.db.models import Max

    from atelier.jobs.services import create_job
    from atelier.jobs.shards import lanes_for
    from atelier.tagging.scoring import plan_entry, vectors_of
    from atelier.tagging.tasks import tag_photos

    check_admin(user, collection)
    model_id = current_model_id()
    if force:
        TagScoring.objects.filter(collection=collection).delete()
    plan = [plan_entry(v, stale_tags(v, collection, model_id), collection.pk)
            for v in stale_vocabularies(collection, model_id)]
    if not plan:
        return None
    rows = vectors_of(collection.pk, model_id)
    params = {"model_id": model_id, "plan": plan, "max_id": rows.aggregate(m=Max("pk"))["m"] or 0,
              "lanes": lanes_for(rows.count(), settings.ATELIER_TAG_SHARD_SIZE)}
    job = create_job(owner=user, kind="tag_photos", total=len(plan), collection=collection, params=params,
                     message="tagging")
    tag_photos.start(job)
    return job.pk


def tag_new_photos(*, photo_ids: list[int], model_id: str) -> int:
    """Suggestions for freshly embedded photos with every tag already scored over their collection
    (its remembered cutoffs), ATELIER_TAG_BLOCK photos at a time; tags never scored there get a
    tagging job over the whole collection."""
    from atelier.jobs.models import Job

    written, seen, block = 0, set(), settings.ATELIER_TAG_BLOCK
    for start in range(0, len(photo_ids), block):
        by_collection: dict[int, list[int]] = {}
        for pk, collection_id in Photo.objects.filter(pk__in=[int(i) for i in photo_ids[start:start + block]]).values_list(
                "pk", "collection_id"):
            by_collection.setdefault(collection_id, []).append(pk)
        for collection in Collection.objects.filter(pk__in=list(by_collection)):
            for vocabulary in applicable_vocabularies(collection):
                written += score_vocabulary(vocabulary=vocabulary, collection=collection, model_id=model_id,
                                            photo_ids=by_collection[collection.pk])
        seen.update(by_collection)
    for collection in Collection.objects.filter(pk__in=list(seen)).select_related("owner"):
        busy = Job.objects.filter(kind="tag_photos", collection=collection, state__in=[Job.State.QUEUED, Job.State.RUNNING])
        if not busy.exists() and stale_vocabularies(collection, model_id):
            start_tagging_job(user=collection.owner, collection=collection)
    return written


# -- decisions ------------------------------------------------------------------------------------------
DECISION_STATES = (PhotoTag.State.ACCEPTED, PhotoTag.State.REJECTED, PhotoTag.State.SUGGESTED)


def do_decide(*, user, collection: Collection, phototag_ids: list[int], state: str) -> int:
    """Accept or reject suggestions (state "suggested" undoes a decision). Learns thresholds."""
    check_admin(user, collection)
    if state not in DECISION_STATES:
        raise InvalidInput(f"state: one of {', '.join(DECISION_STATES)}")
    phototag_ids = clean_ids(phototag_ids, "ids")
    rows = PhotoTag.objects.filter(pk__in=phototag_ids, photo__collection=collection)
    decided = state != PhotoTag.State.SUGGESTED
    with transaction.atomic():
        tag_ids = set(rows.values_list("tag_id", flat=True))
        count = rows.update(state=state, decided_by=user if decided else None, decided_at=timezone.now() if decided else None)
        for tag in Tag.objects.filter(pk__in=tag_ids).select_related("vocabulary"):
            learn_threshold(tag=tag, collection=collection)
    return count


def do_add_photo_tag(*, user, photo: Photo, tag: Tag) -> PhotoTag:
    """A person tags a photo: accepted, source `person`."""
    check_admin(user, photo.collection)
    if tag.vocabulary.collection_id not in (None, photo.collection_id):
        raise InvalidInput("tag: not a tag of this collection's vocabularies")
    row, _ = PhotoTag.objects.update_or_create(photo=photo, tag=tag, defaults={
        "source": PhotoTag.Source.PERSON, "state": PhotoTag.State.ACCEPTED, "decided_by": user,
        "decided_at": timezone.now()})
    return row


MANUAL_VOCABULARY = "my tags"  # where a tag typed by hand lands when no vocabulary has it


def tag_named(*, user, collection: Collection, name: str) -> Tag:
    """The collection's (or a global) tag of that name, else a new one in its "my tags" vocabulary."""
    found = Tag.objects.filter(vocabulary__in=applicable_vocabularies(collection), name__iexact=name).order_by("pk").first()
    if found is not None:
        return found
    vocabulary, _ = Vocabulary.objects.get_or_create(collection=collection, name=MANUAL_VOCABULARY,
                                                     defaults={"mode": Vocabulary.Mode.MULTI, "created_by": user})
    return Tag.objects.get_or_create(vocabulary=vocabulary, name=name)[0]


def check_tag_photos(*, user, photos: list[Photo], name: str) -> int:
    """A person puts the tag ``name`` on every photo (accepted, source `person`); collection admins only."""
    name = _clean_name(name, "tag")
    groups = _by_collection(user, photos)
    with transaction.atomic():
        for collection, group in groups:
            tag = tag_named(user=user, collection=collection, name=name)
            for photo in group:
                do_add_photo_tag(user=user, photo=photo, tag=tag)
    return len(photos)


def check_untag_photos(*, user, photos: list[Photo], name: str) -> int:
    """A person takes the tag ``name`` off the photos: marked rejected, so tagging does not suggest it again."""
    name = _clean_name(name, "tag")
    _by_collection(user, photos)
    rows = PhotoTag.objects.filter(photo__in=photos, tag__name__iexact=name, state=PhotoTag.State.ACCEPTED)
    return rows.update(state=PhotoTag.State.REJECTED, source=PhotoTag.Source.PERSON, decided_by=user, decided_at=timezone.now())


def _by_collection(user, photos: list[Photo]) -> list[tuple[Collection, list[Photo]]]:
    groups: dict[int, tuple[Collection, list[Photo]]] = {}
    for photo in photos:
        groups.setdefault(photo.collection_id, (photo.collection, []))[1].append(photo)
    for collection, _ in groups.values():
        check_admin(user, collection)
    return list(groups.values())


def decided_examples(tag: Tag, model_id: str, collection: Collection):
    """(vectors, labels) of the photos people decided on for `tag` in `collection` (accepted = True)."""
    rows = PhotoTag.objects.filter(tag=tag, photo__collection=collection,
                                   state__in=[PhotoTag.State.ACCEPTED, PhotoTag.State.REJECTED])
    labels = dict(rows.values_list("photo_id", "state"))
    ids, vectors = stored_vectors(model_id, photo_ids=list(labels))
    return vectors, np.array([labels[int(i)] == PhotoTag.State.ACCEPTED for i in ids], dtype=bool)


def learn_threshold(*, tag: Tag, collection: Collection) -> float | None:
    """Multi-label tags: once a tag has accepted and rejected examples in the collection, its cutoff
    there is the one that maximises F1 on them (the collection's next job selects again with it).
    Only this collection's decisions count and only its cutoff moves: a global tag is shared."""
    from ml_core.zeroshot import f1_threshold

    if tag.vocabulary.mode != Vocabulary.Mode.MULTI:
        return None
    status = model_status()
    if not status.ready:
        return None
    vectors, labels = decided_examples(tag, status.model_id, collection)
    if len(labels) < settings.ATELIER_TAG_MIN_DECISIONS:
        return None
    cos = vectors @ vocabulary_matrix(tag.vocabulary, [tag], status.model_id)[0]
    learned = f1_threshold(cos, labels)
    if learned is not None and learned != learned_thresholds(collection=collection, tags=[tag]).get(tag.pk):
        LearnedThreshold.objects.update_or_create(tag=tag, collection=collection,
                                                  defaults={"value": learned, "examples": len(labels)})
        TagScoring.objects.filter(tag=tag, collection=collection).delete()
    return learned
