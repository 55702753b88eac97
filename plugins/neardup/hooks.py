"""The plugin's hook implementations: a panel on collection pages linking to its groups."""
from django.urls import reverse
from django.utils.html import format_html

from atelier.plugin_api import hookimpl


@hookimpl
def extra_page_panels(page, context):
    if page != "collection":
        return []
    url = reverse("neardup:groups", args=[context["collection"].pk])
    return [format_html('<p class="plugin-panel"><a href="{}">Find near-duplicates</a> in this collection</p>', url)]


@hookimpl
def register_job_tasks():
    from plugins.neardup.tasks import scan

    return [scan]
