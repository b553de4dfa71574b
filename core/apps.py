from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_roles(sender, **kwargs):
    from .services.roles import roles_ensure

    roles_ensure()


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        # Roles are data every installation needs; (re)create them after each migrate.
        post_migrate.connect(_ensure_roles, sender=self)
