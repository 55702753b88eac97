from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "atelier.api"
    label = "atelier_api"
