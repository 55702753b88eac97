from django.apps import AppConfig


class EmbeddingsConfig(AppConfig):
    name = "atelier.embeddings"
    label = "embeddings"
