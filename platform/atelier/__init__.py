"""Atelier's Django core. Lives in `platform/` (a plain folder on sys.path, never a package)."""
# The Celery app is loaded with Django so that @shared_task uses it (Celery's documented layout).
from atelier.celery_app import app as celery_app

__all__ = ["celery_app"]
