"""An embedding deleted without its photo (a re-embedding, a model change) leaves the pgvector table too."""
from django.db.models.signals import post_delete
from django.dispatch import receiver

from atelier.embeddings.models import PhotoEmbedding


@receiver(post_delete, sender=PhotoEmbedding, dispatch_uid="pgvectors-forget")
def _embedding_deleted(sender, instance, **kwargs):
    from atelier.pgvectors.models import PhotoVector

    PhotoVector.objects.filter(photo_id=instance.photo_id, model_id=instance.model_id).delete()
