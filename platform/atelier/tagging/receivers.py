"""New photos are tagged as soon as they are embedded; the `tags` search filter (registered by ready())."""
import logging

from django.conf import settings
from django.dispatch import receiver

from atelier.library.signals import photos_embedded

log = logging.getLogger(__name__)


@receiver(photos_embedded, dispatch_uid="atelier.tagging.tag_new_photos")
def tag_new_photos(sender, photo_ids, model_id, **kwargs):
    """Hands the batch to the `io` queue: the GPU worker goes on embedding meanwhile."""
    from atelier.jobs.dispatch import enqueue
    from atelier.tagging.models import Vocabulary
    from atelier.tagging.tasks import tag_embedded_photos

    if not settings.ATELIER_TAG_ON_EMBED or not Vocabulary.objects.exists():
        return
    enqueue(tag_embedded_photos, photo_ids=list(photo_ids), model_id=model_id)


def by_tags(photos, names):
    """Photos with an accepted tag of any of these names (case-insensitive)."""
    if isinstance(names, str):
        names = [names]
    from django.db.models import Q

    match = Q()
    for name in names:
        match |= Q(phototags__tag__name__iexact=str(name).strip())
    return photos.filter(match, phototags__state="accepted").distinct()


def register_search_filter() -> None:
    """Adds `tags` to the search filters (atelier.search.filters.register_filter)."""
    from atelier.search.filters import available_filters, register_filter

    if "tags" not in available_filters():
        register_filter("tags")(by_tags)
