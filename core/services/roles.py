"""The three roles: groups holding the console's permissions."""

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from core.choices import Role
from core.models import Task

ROLE_PERMISSIONS = {
    Role.READ_ONLY: ["view_pool"],
    Role.POOL_OPERATOR: ["view_pool", "operate_pool"],
    Role.POOL_ADMIN: ["view_pool", "operate_pool", "administer_pool"],
}


def roles_ensure() -> None:
    """Create the three role groups with their permissions (idempotent)."""
    task_type = ContentType.objects.get_for_model(Task)
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        perms = [
            Permission.objects.get_or_create(
                content_type=task_type,
                codename=codename,
                defaults={"name": dict(Task._meta.permissions)[codename]},
            )[0]
            for codename in codenames
        ]
        group.permissions.set(perms)
