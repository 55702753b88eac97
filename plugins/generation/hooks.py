"""The plugin's hook implementations: its backends, its job task, a nav link, the provenance panel."""
from django.template.loader import render_to_string
from django.urls import reverse

from atelier.plugin_api import hookimpl


@hookimpl
def register_hookspecs():
    from plugins.generation import hookspecs

    return [hookspecs]


@hookimpl
def register_generation_backends():
    from plugins.generation.backends import builtin_backends

    return builtin_backends()


@hookimpl
def register_job_tasks():
    from plugins.generation.tasks import generate

    return [generate]


@hookimpl
def job_finished(kind, owner_id):
    """A generation that ended in any way (also failed or cancelled) frees its owner's place."""
    from plugins.generation.services import JOB_KIND, dispatch_pending

    if kind == JOB_KIND:
        dispatch_pending(owner_id)


@hookimpl
def register_nav_items():
    return [{"label": "Studio", "url": reverse("generation:studio"), "order": 30}]


@hookimpl
def extra_page_panels(page, context):
    if page != "photo":
        return []
    provenance = getattr(context["photo"], "provenance", None) if "photo" in context else None
    if provenance is None:
        return []
    return [render_to_string("generation/_provenance.html", {"p": provenance})]
