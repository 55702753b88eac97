from django.apps import AppConfig


class TaggingConfig(AppConfig):
    name = "atelier.tagging"
    label = "tagging"
    verbose_name = "Tagging"

    def ready(self):
        from atelier.tagging import receivers, tasks  # noqa: F401 - signal receivers, job task
