"""The pluggy manager, filled once Django is ready, and the host-side actions on hook results."""
import importlib
import logging

import pluggy
from django.conf import settings

from atelier.pluginhost import hookspecs

log = logging.getLogger("atelier.plugins")
CORE_JOB_KINDS = {"process_photos", "embed_photos", "tag_photos"}
QUEUES = {"gpu", "io"}

_manager: pluggy.PluginManager | None = None


def get_manager() -> pluggy.PluginManager:
    global _manager
    if _manager is None:
        _manager = build_manager()
    return _manager


def build_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("atelier")
    pm.add_hookspecs(hookspecs)
    for info in settings.ATELIER_PLUGINS.loaded:
        try:
            pm.register(importlib.import_module(f"{info.app}.hooks"), name=info.name)
        except ModuleNotFoundError as exc:
            if exc.name != f"{info.app}.hooks":
                _report(info.name, exc)
        except Exception as exc:  # noqa: BLE001
            _report(info.name, exc)
    return pm


def _report(name: str, exc: Exception) -> None:
    settings.ATELIER_PLUGINS.problems.append((name, f"hooks failed to load: {type(exc).__name__}: {exc}"))
    log.error("plugin %s: hooks failed to load: %s", name, exc)


def reset_manager() -> None:
    global _manager
    _manager = None


def nav_items() -> list[dict]:
    items = [item for result in get_manager().hook.register_nav_items() for item in (result or [])]
    return sorted(items, key=lambda item: (item.get("order", 100), item["label"]))


def page_panels(page: str, request, context) -> list[str]:
    return [html for result in get_manager().hook.extra_page_panels(page=page, request=request, context=context) for html in (result or [])]


def job_tasks() -> dict:
    """kind -> task for plugin tasks; refuses a task that takes a core kind or an unknown queue."""
    tasks = {}
    for result in get_manager().hook.register_job_tasks():
        for task in result or []:
            if task.kind in CORE_JOB_KINDS or task.kind in tasks:
                log.error("plugin job kind %r clashes with an existing one: ignored", task.kind)
            elif task.queue_name not in QUEUES:
                log.error("plugin job kind %r names queue %r (use gpu or io): ignored", task.kind, task.queue_name)
            else:
                tasks[task.kind] = task
    return tasks


def search_filters() -> dict:
    filters = {}
    for result in get_manager().hook.register_search_filters():
        for name, fn in (result or {}).items():
            if name in filters:
                log.error("search filter %r registered twice: the first one is kept", name)
            else:
                filters[name] = fn
    return filters


def generation_backends() -> dict:
    backends = {}
    for result in get_manager().hook.register_generation_backends():
        for backend in result or []:
            if backend.name in backends:
                log.error("generation backend %r registered twice: the first one is kept", backend.name)
            else:
                backends[backend.name] = backend
    return backends


def notify(event: str, **kwargs) -> None:
    """Calls an event hook; one failing plugin is logged and does not stop the others or the caller."""
    hook = getattr(get_manager().hook, event)
    for impl in hook.get_hookimpls():
        try:
            args = {k: v for k, v in kwargs.items() if k in impl.argnames}
            impl.function(**args)
        except Exception:  # noqa: BLE001
            log.exception("plugin %s failed in %s", impl.plugin_name, event)
