from django.apps import AppConfig


class CrashesConfig(AppConfig):
    name = "crashes"
