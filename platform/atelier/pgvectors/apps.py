from django.apps import AppConfig


class PgVectorsConfig(AppConfig):
    """Installed only with ATELIER_VECTOR_STORE=pgvector: its migration needs the `vector` extension."""

    name = "atelier.pgvectors"
    label = "pgvectors"

    def ready(self) -> None:
        from atelier.pgvectors import signals  # noqa: F401
