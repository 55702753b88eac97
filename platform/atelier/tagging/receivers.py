"""New photos are tagged as soon as they are embedded; the `tags` search filter (registered by hooks.py)."""
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

    from atelier.tagging.models import PhotoTag

    match = Q()
    for name in names:
        match |= Q(tag__name__iexact=str(name).strip())
    # A semi-join (no DISTINCT over the photos): the timeline keeps walking its sort index.
    return photos.filter(id__in=PhotoTag.objects.filter(match, state="accepted").values("photo_id"))
