"""Each loaded plugin's `urls.py` (if it has one) is mounted at /plugins/<name>/."""
import importlib

from django.conf import settings
from django.urls import include, path

from atelier.pluginhost.views import plugins_page


def plugin_urlpatterns():
    patterns = [path("admin/plugins/", plugins_page, name="plugins")]
    for info in settings.ATELIER_PLUGINS.loaded:
        try:
            module = importlib.import_module(f"{info.app}.urls")
        except ModuleNotFoundError as exc:
            if exc.name == f"{info.app}.urls":
                continue
            raise
        patterns.append(path(f"plugins/{info.name}/", include((module.urlpatterns, info.name), namespace=info.name)))
    return patterns
