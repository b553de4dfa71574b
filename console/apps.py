from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The project shell: settings, URLs, the Celery app, the dashboard, demo seeding.

    It has no models of its own; its migrations keep the history of the tables that
    moved to `core`, so databases made before the move carry on."""

    name = "console"
    verbose_name = "Console"

    def ready(self):
        from . import checks  # noqa: F401 - registers the deployment checks
