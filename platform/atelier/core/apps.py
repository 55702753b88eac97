from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "atelier.core"
    label = "core"

    def ready(self):
        from ml_core.config import configure

        from atelier.core import checks  # noqa: F401  (registers the system checks)
        from atelier.core.ml import ml_config

        configure(ml_config())   # ml_core reads its configuration from here, never from the environment
