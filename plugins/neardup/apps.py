from django.apps import AppConfig


class NearDupConfig(AppConfig):
    name = "plugins.neardup"
    label = "neardup"
