"""The tagging app as an internal plugin: its `tags` search filter and its job task."""
from django.conf import settings

from atelier.pluginhost.hookspecs import hookimpl


@hookimpl
def register_search_filters():
    from atelier.tagging.receivers import by_tags

    return {"tags": by_tags} if settings.ATELIER_TAG_SEARCH_FILTER else {}


@hookimpl
def register_job_tasks():
    from atelier.tagging.tasks import tag_photos

    return [tag_photos]
