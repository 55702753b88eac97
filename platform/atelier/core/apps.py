from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "atelier.core"
    label = "core"

    def ready(self):
        from atelier.core import checks  # noqa: F401  (registers the system checks)
