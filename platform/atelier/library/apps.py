from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "atelier.library"
    label = "library"

    def ready(self):
        from atelier.library.image_gate import align_pillow_guard

        align_pillow_guard()
