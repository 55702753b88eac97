"""The pluggy manager, filled once Django is ready, and the host-side actions on hook results."""
import importlib
import logging

import pluggy
from django.conf import settings

from atelier.pluginhost import hookspecs

log = logging.getLogger("atelier.plugins")
QUEUES = {"gpu", "io"}
# The core's features, registered as internal plugins on the same hooks; they win every clash.
CORE_PLUGINS = {"core.library": "atelier.library.hooks", "core.search": "atelier.search.hooks",
                "core.tagging": "atelier.tagging.hooks"}

_manager: pluggy.PluginManager | None = None


def get_manager() -> pluggy.PluginManager:
    global _manager
    if _manager is None:
        _manager = build_manager()
    return _manager


def build_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("atelier")
    pm.add_hookspecs(hookspecs)
    for name, module in CORE_PLUGINS.items():
        pm.register(importlib.import_module(module), name=name)
    for info in settings.ATELIER_PLUGINS.loaded:
        try:
            pm.register(importlib.import_module(f"{info.app}.hooks"), name=info.name)
        except ModuleNotFoundError as exc:
            if exc.name != f"{info.app}.hooks":
                _report(info.name, exc)
        except Exception as exc:  # noqa: BLE001
            _report(info.name, exc)
    for specs in pm.hook.register_hookspecs():
        for module in specs or []:
            pm.add_hookspecs(module)
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


def contributions(hook_name: str, **kwargs):
    """(plugin name, result) of every implementation of a hook: the core's first, then plugins' in
    pluggy's calling order (the last registered first), so "the first one wins" lets the core win."""
    impls = list(reversed(getattr(get_manager().hook, hook_name).get_hookimpls()))
    for impl in sorted(impls, key=lambda i: i.plugin_name not in CORE_PLUGINS):
        yield impl.plugin_name, impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})


def job_tasks() -> dict:
    """kind -> task, the core's and plugins'; refuses a task that takes a kind already registered
    (the core's win) or names an unknown queue."""
    tasks = {}
    for plugin, result in contributions("register_job_tasks"):
        for task in result or []:
            if task.kind in tasks:
                log.error("plugin %s: job kind %r clashes with an existing one: ignored", plugin, task.kind)
            elif task.queue_name not in QUEUES:
                log.error("plugin %s: job kind %r names queue %r (use gpu or io): ignored", plugin, task.kind, task.queue_name)
            else:
                tasks[task.kind] = task
    return tasks


def search_filters() -> dict:
    """name -> filter function, the core's and plugins'; the first of a clash is kept (the core's win)."""
    return first_by_name("register_search_filters", lambda result: (result or {}).items())


def first_by_name(hook_name: str, items) -> dict:
    """name -> contribution over every implementation of `hook_name` (`items(result)` yields
    (name, value) pairs); a name given twice keeps the first and logs the clash."""
    found = {}
    for plugin, result in contributions(hook_name):
        for name, value in items(result):
            if name in found:
                log.error("plugin %s: %s %r registered twice: the first one is kept", plugin, hook_name, name)
            else:
                found[name] = value
    return found


def notify(event: str, **kwargs) -> None:
    """Calls an event hook; one failing plugin is logged and does not stop the others or the caller."""
    hook = getattr(get_manager().hook, event)
    for impl in hook.get_hookimpls():
        try:
            args = {k: v for k, v in kwargs.items() if k in impl.argnames}
            impl.function(**args)
        except Exception:  # noqa: BLE001
            log.exception("plugin %s failed in %s", impl.plugin_name, event)
