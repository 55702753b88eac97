"""Filters that narrow the set of photos a vector search may return.

Each filter maps a request value onto a Photo queryset; the search turns the narrowed queryset
into the allow-list the index searches within (so filters never starve results). Plugins add
filters through the ``register_search_filters`` hook; core apps call ``register_filter``; the
tagging app registers ``tags`` (a list of tag names)::

    from atelier.search.filters import register_filter

    @register_filter("tags")
    def by_tags(photos, names):
        return photos.filter(tags__name__in=names).distinct()
"""
from __future__ import annotations

import logging
from typing import Callable

from atelier.library.models import Photo

log = logging.getLogger(__name__)
FilterFn = Callable[[object, object], object]
_FILTERS: dict[str, FilterFn] = {}
CORE = ("date_from", "date_to", "formats")


def register_filter(name: str):
    """Decorator registering ``fn(photos_queryset, value) -> queryset`` under ``name``."""
    def wrap(fn: FilterFn) -> FilterFn:
        if name in _FILTERS and _FILTERS[name] is not fn:
            raise ValueError(f"search filter {name!r} is already registered")
        _FILTERS[name] = fn
        return fn

    return wrap


def unregister_filter(name: str) -> FilterFn | None:
    """Removes a filter; returns it (so a test can put it back with ``register_filter``)."""
    return _FILTERS.pop(name, None)


def _plugin_filters() -> dict[str, FilterFn]:
    """Filters from plugins (the `register_search_filters` hook); core names win a clash."""
    try:
        from atelier.pluginhost.manager import search_filters
    except ImportError:  # pragma: no cover - a platform without the plugin host
        return {}
    found = search_filters()
    for name in set(found) & set(_FILTERS):
        log.error("plugin search filter %r clashes with a core one: ignored", name)
    return {k: v for k, v in found.items() if k not in _FILTERS}


def all_filters() -> dict[str, FilterFn]:
    return {**_plugin_filters(), **_FILTERS}


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


@register_filter("date_from")
def _date_from(photos, value):
    return photos.filter(taken_at__gte=value)


@register_filter("date_to")
def _date_to(photos, value):
    return photos.filter(taken_at__lte=value)


@register_filter("formats")
def _formats(photos, value):
    return photos.filter(format__in=[v.lower() for v in value])


def base_photos(collection_ids):
    return Photo.objects.filter(collection_id__in=collection_ids)
