from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "atelier.library"
    label = "library"
