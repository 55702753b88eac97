from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "atelier.accounts"
    label = "accounts"
