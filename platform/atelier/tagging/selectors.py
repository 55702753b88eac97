"""Tagging reads: vocabularies a user sees, suggestions by uncertainty, a photo's tags, tag counts."""
from django.db.models import Count, Q
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
