"""The search app as an internal plugin: the core filters, through the same hook as plugins' ones."""
from atelier.pluginhost.hookspecs import hookimpl


def _date_from(photos, value):
    return photos.filter(taken_at__gte=value)


def _date_to(photos, value):
    return photos.filter(taken_at__lte=value)


def _formats(photos, value):
    return photos.filter(format__in=[v.lower() for v in value])


@hookimpl
def register_search_filters():
    return {"date_from": _date_from, "date_to": _date_to, "formats": _formats}
