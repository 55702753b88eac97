from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "atelier.search"
    label = "search"

    def ready(self) -> None:
        from atelier.search import signals  # noqa: F401  (allow-list invalidation on delete)
