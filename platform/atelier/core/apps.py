from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "atelier.core"
    label = "core"

    def ready(self):
        from ml_core.config import configure

        from atelier.core.ml import ml_config

        configure(ml_config())   # ml_core reads its configuration from here, never from the environment
