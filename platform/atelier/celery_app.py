"""The Celery application: `celery -A atelier.celery_app worker -Q gpu,io`."""
import os

from celery import Celery

from atelier import paths  # noqa: F401  (repo root on sys.path for ml_core / plugins)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atelier.settings")

app = Celery("atelier")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
