"""Deleted photos leave this process's allow-lists at once (other processes recount on a TTL)."""
from django.db.models.signals import post_delete
from django.dispatch import receiver

from atelier.library.models import Photo


@receiver(post_delete, sender=Photo, dispatch_uid="search-allow-invalidate")
def _photo_deleted(sender, instance, **kwargs):
    from atelier.search.allow import allow_cache

    allow_cache.invalidate([instance.collection_id])
