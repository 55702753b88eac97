"""Atelier's hook specifications: what a plugin may contribute. Keep this list short.

Plugins return data and the host acts on it (and checks for clashes). The core's own features
implement these hooks too, as internal plugins (`CORE_PLUGINS` in manager.py); a plugin may publish
hooks of its own (`register_hookspecs`, as the generation plugin does). Every hook is optional;
pluggy lets a hookimpl take only the arguments it needs, so new arguments never break plugins.
Each hook here has a section in docs/plugins.md and a test (a meta-test checks both).
"""
import pluggy

hookspec = pluggy.HookspecMarker("atelier")
hookimpl = pluggy.HookimplMarker("atelier")


@hookspec
def register_nav_items():
    """Return a list of navigation links: dicts with `label`, `url` and optional `order` (int)."""


@hookspec
def extra_page_panels(page, request, context):
    """Return a list of HTML snippets (str, already escaped) to show on `page` ("collection", "photo")."""


@hookspec
def register_job_tasks():
    """Return a list of tasks made with `atelier.jobs.runner.job_task` that the plugin's jobs use."""


@hookspec
def photos_created(photo_ids):
    """Called after new photos are committed, with their ids. Return nothing."""


@hookspec
def photos_embedded(photo_ids, model_id):
    """Called after photos got CLIP vectors of `model_id` stored. Return nothing."""


@hookspec
def photos_deleted(photo_ids):
    """Called after photos were deleted, with their former ids. Return nothing."""


@hookspec
def job_finished(job_id, kind, state, owner_id):
    """Called after a job reached a final state ("succeeded", "failed", "cancelled"). Return nothing."""


@hookspec
def register_search_filters():
    """Return a dict: filter name -> function(photos_queryset, value) -> narrowed queryset."""


@hookspec
def register_hookspecs():
    """Return a list of modules of hook specifications that other plugins may implement (the host adds them)."""
