"""Filters that narrow the set of photos a vector search may return.

Each filter maps a request value onto a Photo queryset; the search turns the narrowed queryset
into the allow-list the index searches within (so filters never starve results). Every filter comes
through the ``register_search_filters`` hook: the core's (``date_from``, ``date_to``, ``formats``
from atelier/search/hooks.py, ``tags`` from atelier/tagging/hooks.py) as internal plugins, which
win a clash, and plugins' ones.
"""
from __future__ import annotations

from atelier.library.models import Photo
from atelier.pluginhost.manager import search_filters

CORE = ("date_from", "date_to", "formats")


def all_filters() -> dict:
    return search_filters()


def available_filters() -> list[str]:
    return sorted(all_filters())


def apply_filters(photos, values: dict):
    """``photos`` narrowed by every filter with a value; unknown names raise KeyError."""
    registry = all_filters()
    for name, value in values.items():
        if value in (None, "", [], ()):
            continue
        photos = registry[name](photos, value)
    return photos


def base_photos(collection_ids):
    return Photo.objects.filter(collection_id__in=collection_ids)
