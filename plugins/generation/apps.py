from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "plugins.generation"
    label = "generation"
    verbose_name = "Creation studio"
