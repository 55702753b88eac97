"""Library, embedding and job events, passed on to plugins' event hooks after commit."""
from django.dispatch import receiver

from atelier.jobs.signals import job_finished
from atelier.library.signals import photos_created, photos_deleted, photos_embedded
from atelier.pluginhost.manager import notify


@receiver(photos_created)
def _created(sender, photo_ids, **kwargs):
    notify("photos_created", photo_ids=photo_ids)


@receiver(photos_embedded)
def _embedded(sender, photo_ids, model_id, **kwargs):
    notify("photos_embedded", photo_ids=photo_ids, model_id=model_id)


@receiver(photos_deleted)
def _deleted(sender, photo_ids, **kwargs):
    notify("photos_deleted", photo_ids=photo_ids)


@receiver(job_finished)
def _job_finished(sender, job_id, kind, state, owner_id, **kwargs):
    notify("job_finished", job_id=job_id, kind=kind, state=state, owner_id=owner_id)
