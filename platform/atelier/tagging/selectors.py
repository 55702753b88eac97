"""Tagging reads: vocabularies a user sees, suggestions by uncertainty, a photo's tags, tag counts."""
from django.db.models import Count, Max, Q
from django.db.models.functions import Abs

from atelier.library.models import Collection, Photo
from atelier.library.permissions import can_admin, can_view, visible_collections
from atelier.tagging.models import LearnedThreshold, PhotoTag, Tag, Vocabulary


def visible_vocabularies(user, collection: Collection | None = None):
    if collection is not None:
        return Vocabulary.objects.filter(Q(collection=collection) | Q(collection__isnull=True))
    if user is None or not user.is_authenticated:
        return Vocabulary.objects.filter(collection__in=visible_collections(user))
    return Vocabulary.objects.filter(Q(collection__isnull=True) | Q(collection__in=visible_collections(user)))


def access_vocabulary(*, user, vocabulary_id) -> Vocabulary | None:
    vocabulary = Vocabulary.objects.select_related("collection").filter(pk=vocabulary_id).first()
    if vocabulary is None:
        return None
    if vocabulary.collection_id is None:
        return vocabulary if user is not None and user.is_authenticated else None
    return vocabulary if can_view(user, vocabulary.collection) else None


def access_tag(*, user, tag_id) -> Tag | None:
    tag = Tag.objects.select_related("vocabulary__collection").filter(pk=tag_id).first()
    if tag is None or access_vocabulary(user=user, vocabulary_id=tag.vocabulary_id) is None:
        return None
    return tag


def learned_thresholds(*, collection: Collection | int | None, tags) -> dict[int, float]:
    """{tag id: cutoff learned in this collection (instance or id)}; none outside a collection."""
    if collection is None:
        return {}
    rows = LearnedThreshold.objects.filter(collection=collection, tag__in=tags)
    return dict(rows.values_list("tag_id", "value"))


def suggestions(*, collection: Collection, tag_id: int | None = None, state: str = "suggested"):
    """The collection's suggestions, most uncertain (confidence nearest the cutoff) first."""
    rows = (PhotoTag.objects.filter(photo__collection=collection, state=state)
            .select_related("tag", "tag__vocabulary", "photo")
            .annotate(uncertainty=Abs("margin")).order_by("uncertainty", "pk"))
    if tag_id is not None:
        rows = rows.filter(tag_id=tag_id)
    return rows


def bulk_preview(rows, *, min_confidence: float) -> dict:
    """How many of these suggestions a bulk accept at ``min_confidence`` would take, and the highest confidence."""
    return {"min_confidence": min_confidence, "count": rows.filter(confidence__gte=min_confidence).count(),
            "max_confidence": _rounded(rows.aggregate(top=Max("confidence"))["top"])}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)  # as the suggestions list shows confidences


def bulk_ids(*, collection: Collection, tag_id: int | None, min_confidence: float) -> list[int]:
    rows = suggestions(collection=collection, tag_id=tag_id).filter(confidence__gte=min_confidence)
    return list(rows.order_by("pk").values_list("pk", flat=True))


def suggested_left(*, collection: Collection, phototag_ids: list[int]) -> dict[str, int]:
    """{tag id: suggestions still waiting in the collection} for the tags of these suggestions."""
    tag_ids = PhotoTag.objects.filter(pk__in=phototag_ids).values("tag_id")
    rows = (PhotoTag.objects.filter(tag_id__in=tag_ids, photo__collection=collection, state="suggested")
            .values("tag_id").annotate(n=Count("id")))
    left = {str(t): 0 for t in tag_ids.values_list("tag_id", flat=True).distinct()}
    left.update({str(r["tag_id"]): r["n"] for r in rows})
    return left


def tag_chips(*, photos, limit: int = 40) -> list[dict]:
    """The accepted tags of these photos with how many photos carry each, most used first (filter chips)."""
    rows = (PhotoTag.objects.filter(photo__in=photos.order_by().values("id"), state=PhotoTag.State.ACCEPTED)
            .values("tag__name").annotate(count=Count("photo_id", distinct=True)).order_by("-count", "tag__name")[:limit])
    return [{"name": r["tag__name"], "count": r["count"]} for r in rows]


def photo_tags(*, user, photo: Photo):
    """Accepted tags for viewers; every state (with confidence) for the collection's admins."""
    rows = PhotoTag.objects.filter(photo=photo).select_related("tag", "tag__vocabulary").order_by("tag__name")
    if not can_admin(user, photo.collection):
        rows = rows.filter(state=PhotoTag.State.ACCEPTED)
    return rows


def tag_counts(*, collection: Collection):
    """Tags of the collection's vocabularies with how many photos are suggested/accepted/rejected."""
    within = Q(phototags__photo__collection=collection)
    return (Tag.objects.filter(Q(vocabulary__collection=collection) | Q(vocabulary__collection__isnull=True))
            .select_related("vocabulary")
            .annotate(suggested=Count("phototags", filter=within & Q(phototags__state="suggested")),
                      accepted=Count("phototags", filter=within & Q(phototags__state="accepted")),
                      rejected=Count("phototags", filter=within & Q(phototags__state="rejected")))
            .order_by("vocabulary__name", "name"))
