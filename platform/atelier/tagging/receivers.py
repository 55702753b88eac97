"""New photos are tagged as soon as they are embedded; the `tags` search filter (registered by ready())."""
import logging

from django.conf import settings
from django.dispatch import receiver

from atelier.library.signals import photos_embedded

log = logging.getLogger(__name__)


@receiver(photos_embedded, dispatch_uid="atelier.tagging.tag_new_photos")
def tag_new_photos(sender, photo_ids, model_id, **kwargs):
    from atelier.tagging import services
    from atelier.tagging.models import Vocabulary

    if not settings.ATELIER_TAG_ON_EMBED or not Vocabulary.objects.exists():
        return
    try:
        if services.current_model_id() != model_id:
            return
        services.tag_new_photos(photo_ids=list(photo_ids), model_id=model_id)
    except Exception:  # noqa: BLE001 - tagging must never break embedding; the next job catches up
        log.exception("tagging %d new photos failed", len(photo_ids))


def by_tags(photos, names):
    """Photos with an accepted tag of any of these names (case-insensitive)."""
    if isinstance(names, str):
        names = [names]
    from django.db.models import Q

    from atelier.tagging.models import PhotoTag

    match = Q()
    for name in names:
        match |= Q(tag__name__iexact=str(name).strip())
    # A semi-join (no DISTINCT over the photos): the timeline keeps walking its sort index.
    return photos.filter(id__in=PhotoTag.objects.filter(match, state="accepted").values("photo_id"))


def register_search_filter() -> None:
    """Adds `tags` to the search filters (atelier.search.filters.register_filter)."""
    from atelier.search.filters import available_filters, register_filter

    if "tags" not in available_filters():
        register_filter("tags")(by_tags)
