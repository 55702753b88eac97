"""WSGI entry (HTTP only; websockets need the ASGI entry)."""
import os

from atelier import paths  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atelier.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
