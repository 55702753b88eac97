from django.apps import AppConfig


class PluginHostConfig(AppConfig):
    name = "atelier.pluginhost"
    label = "pluginhost"

    def ready(self):
        from atelier.pluginhost import events  # noqa: F401  (connects library signals to hooks)
