"""The plugin API: everything a plugin may use from Atelier's core, in one published module.

    from atelier.plugin_api import PluginInfo, hookimpl, plugin_setting, job_task, Step, InvalidInput

A bundled plugin imports nothing else from `atelier` (a test walks their imports); what is not here
is internal and may change without notice. Breaking changes to these names or to the hooks bump
`API_VERSION`. Names load on first use (PEP 562), so `plugin.py` can import `PluginInfo` while the
settings load, before Django's models exist.

- hooks: `hookimpl`, `hookspec`, `first_by_name` (collects a plugin's own hook: see register_hookspecs)
- declaring a plugin: `PluginInfo`, `API_VERSION`, `plugin_setting`
- jobs: `job_task`, `Step`, `Job`, `create_job`, `do_set_progress`, `is_cancelled`, `enqueue`
- library: `Photo`, `Collection`, `access_collection`, `access_photo`, `visible_collections`,
  `can_view`, `can_edit`, `ingest_one`, `start_processing_job`, `Rejected`
- embeddings: `model_status`, `stored_vectors`, `worker_engine` (the platform's CLIP engine), `worker_device`
- errors and input checks: `InvalidInput`, `PermissionDenied`, `found_or_404`, `clean_id`, `clean_text`,
  `body_object` (an API request's JSON object body), `api_page_bounds` (limit/offset of a list)
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "hookimpl": "atelier.pluginhost.hookspecs", "hookspec": "atelier.pluginhost.hookspecs",
    "first_by_name": "atelier.pluginhost.manager",
    "PluginInfo": "atelier.pluginhost.discovery", "API_VERSION": "atelier.pluginhost.discovery",
    "plugin_setting": "atelier.pluginhost.discovery",
    "job_task": "atelier.jobs.runner", "Step": "atelier.jobs.runner", "Job": "atelier.jobs.models",
    "create_job": "atelier.jobs.services", "do_set_progress": "atelier.jobs.services",
    "is_cancelled": "atelier.jobs.services", "enqueue": "atelier.jobs.dispatch",
    "Photo": "atelier.library.models", "Collection": "atelier.library.models",
    "access_collection": "atelier.library.selectors", "access_photo": "atelier.library.selectors",
    "visible_collections": "atelier.library.permissions", "can_view": "atelier.library.permissions",
    "can_edit": "atelier.library.permissions",
    "ingest_one": "atelier.library.ingest", "start_processing_job": "atelier.library.ingest",
    "Rejected": "atelier.library.ingest",
    "model_status": "atelier.embeddings.services", "stored_vectors": "atelier.embeddings.services",
    "worker_engine": "atelier.embeddings.services", "worker_device": "atelier.core.devices",
    "InvalidInput": "atelier.library.services", "PermissionDenied": "atelier.library.services",
    "found_or_404": "atelier.api.errors",
    "clean_id": "atelier.core.validation", "clean_text": "atelier.library.services",
    "body_object": "atelier.api.parsers", "api_page_bounds": "atelier.api.pagination",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"atelier.plugin_api has no {name!r}: plugins may use only {', '.join(__all__)}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
