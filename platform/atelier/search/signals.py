"""Deleted photos leave this process's allow-lists at once (other processes recount on a TTL), and
every deleted embedding leaves a tombstone that hides it from the shared index snapshots."""
from django.db.models.signals import post_delete
from django.dispatch import receiver

from atelier.embeddings.models import PhotoEmbedding
from atelier.library.models import Photo


@receiver(post_delete, sender=Photo, dispatch_uid="search-allow-invalidate")
def _photo_deleted(sender, instance, **kwargs):
    from atelier.search.allow import allow_cache

    allow_cache.invalidate([instance.collection_id])


@receiver(post_delete, sender=PhotoEmbedding, dispatch_uid="search-tombstone")
def _embedding_deleted(sender, instance, **kwargs):
    from atelier.search.models import Tombstone

    if instance.vector is not None:
        Tombstone.objects.create(photo_id=instance.photo_id, model_id=instance.model_id)
