"""Reads about users and roles that pages, the API and the error pages share."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from core.choices import Role

ADMINISTER_CODENAME = "administer_pool"

# How many pool-admins a user without a role is told to ask.
CONTACTS_SHOWN = 5


def pool_admins():
    """Active users who hold the pool-admin permission, however they hold it."""
    holds = (
        Q(is_superuser=True)
        | Q(groups__permissions__codename=ADMINISTER_CODENAME)
        | Q(user_permissions__codename=ADMINISTER_CODENAME)
    )
    ids = get_user_model().objects.filter(holds).values("pk")
    return get_user_model().objects.filter(is_active=True, pk__in=ids).order_by("username")


# The permission that makes each role, the highest first.
ROLE_BY_PERMISSION = [
    ("administer_pool", Role.POOL_ADMIN),
    ("operate_pool", Role.POOL_OPERATOR),
    ("view_pool", Role.READ_ONLY),
]


def user_role(user) -> Role | None:
    """The role a user's permissions amount to, however they hold them (a role group,
    another group, directly); a superuser counts as a pool-admin. Reads what
    `users_with_roles` prefetches."""
    if user.is_superuser:
        return Role.POOL_ADMIN
    held = {permission.codename for permission in user.user_permissions.all()}
    for group in user.groups.all():
        held.update(permission.codename for permission in group.permissions.all())
    for codename, role in ROLE_BY_PERMISSION:
        if codename in held:
            return role
    return None


def users_with_roles():
    """Every user with their groups and their count of active API tokens, for the list."""
    return (
        get_user_model()
        .objects.prefetch_related("groups__permissions", "user_permissions")
        .annotate(active_tokens=Count("api_tokens", filter=Q(api_tokens__revoked=None)))
        .order_by("username")
    )


def pool_admin_contacts() -> list[str]:
    """Whom a user without a role can ask: active pool-admins, with their e-mail if known."""
    return [
        f"{admin.get_username()} ({admin.email})" if admin.email else admin.get_username()
        for admin in pool_admins()[:CONTACTS_SHOWN]
    ]


def no_role_message(user) -> str:
    """What a signed-in user without a role is told, on a page or by the API."""
    contacts = pool_admin_contacts()
    ask = (
        f"Ask a pool-admin to give you one on the Users page: {', '.join(contacts)}."
        if contacts
        else "No active pool-admin exists; ask whoever runs the console's server to make one."
    )
    return (
        f"Your account '{user.get_username()}' has no role in this console yet, so it may "
        f"see nothing here. {ask}"
    )
