"""Library events other parts react to (embedding, tagging, plugins)."""
from django.dispatch import Signal

photos_created = Signal()  # kwargs: photo_ids
photos_deleted = Signal()  # kwargs: photo_ids
photos_embedded = Signal()  # kwargs: photo_ids, model_id
