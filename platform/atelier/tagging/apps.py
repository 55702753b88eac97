from django.apps import AppConfig


class TaggingConfig(AppConfig):
    name = "atelier.tagging"
    label = "tagging"
    verbose_name = "Tagging"

    def ready(self):
        from django.conf import settings

        from atelier.tagging import receivers, tasks  # noqa: F401 - signal receivers, job task

        if settings.ATELIER_TAG_SEARCH_FILTER:
            receivers.register_search_filter()
