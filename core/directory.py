"""Directory sign-in: django-auth-ldap's backend, and the role a directory user's groups
give them, set again at each sign-in (settings: console/directory.py)."""

from __future__ import annotations

from django.conf import settings
from django_auth_ldap.backend import LDAPBackend

from core.choices import Role
from core.services.users import user_role_from_directory

# Weakest first: a user in several role groups gets the strongest.
ROLES_WEAKEST_FIRST = [Role.READ_ONLY, Role.POOL_OPERATOR, Role.POOL_ADMIN]


def role_for_groups(group_dns, role_groups: dict[str, str]) -> Role | None:
    """The strongest role whose directory group (a DN) the user is in; DNs compare
    without regard to case, as LDAP compares them."""
    held = {dn.lower() for dn in group_dns}
    chosen = None
    for role in ROLES_WEAKEST_FIRST:
        dn = role_groups.get(role.value)
        if dn and dn.lower() in held:
            chosen = role
    return chosen


class DirectoryBackend(LDAPBackend):
    """LDAP sign-in; the user's role follows their directory groups at every sign-in.

    Permissions are read by core.backends.RoleBackend from the role groups set here, so
    this backend grants none itself."""

    def authenticate_ldap_user(self, ldap_user, password):
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is not None:
            role = role_for_groups(ldap_user.group_dns, settings.DIRECTORY_ROLE_GROUPS)
            user_role_from_directory(user=user, role=role)
        return user
