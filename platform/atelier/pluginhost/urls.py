"""Each loaded plugin's `urls.py` (if it has one) is mounted at /plugins/<name>/ (namespace <name>),
and its `api_urls.py` (if any) under /api/ (namespace <name>-api), after Atelier's own API paths so
a plugin can add API endpoints but never replace one of the core's."""
import importlib

from django.conf import settings
from django.urls import include, path

from atelier.pluginhost.views import plugins_page


def _optional(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def plugin_urlpatterns():
    patterns = [path("admin/plugins/", plugins_page, name="plugins")]
    for info in settings.ATELIER_PLUGINS.loaded:
        pages = _optional(f"{info.app}.urls")
        if pages is not None:
            patterns.append(path(f"plugins/{info.name}/", include((pages.urlpatterns, info.name), namespace=info.name)))
        api = _optional(f"{info.app}.api_urls")
        if api is not None:
            patterns.append(path("api/", include((api.urlpatterns, f"{info.name}-api"), namespace=f"{info.name}-api")))
    return patterns
