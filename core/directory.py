"""Directory sign-in: django-auth-ldap's backend, mozilla-django-oidc's for single sign-on,
and the role a user's directory groups give them, set again at each sign-in (settings:
console/directory.py)."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.shortcuts import resolve_url
from django_auth_ldap.backend import LDAPBackend
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from core.choices import Role
from core.services.users import user_role_from_directory

logger = logging.getLogger(__name__)

# Weakest first: a user in several role groups gets the strongest.
ROLES_WEAKEST_FIRST = [Role.READ_ONLY, Role.POOL_OPERATOR, Role.POOL_ADMIN]


def role_for_groups(groups, role_groups: dict[str, str]) -> Role | None:
    """The strongest role whose directory group (an LDAP DN, or a name in the provider's
    groups claim) the user is in; they compare without regard to case, as LDAP does."""
    held = {str(group).lower() for group in groups}
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


class SingleSignOnBackend(OIDCAuthenticationBackend):
    """OpenID Connect sign-in (the authorization code flow, the ID token checked against
    the provider's published keys). The console's user is the one named by the
    `OIDC_USERNAME_CLAIM` (preferred_username), made at the first sign-in; names, mail and
    role follow the provider's claims at every sign-in, the role from its groups claim."""

    def authenticate(self, request, **kwargs):
        """None, saying why in the log, when the provider refuses the code, does not
        answer, or sends a token that does not verify: the log-in page says it failed."""
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, SuspiciousOperation, ValueError) as exc:
            logger.warning("single sign-on failed: %s", exc)
            return None

    def _username(self, claims) -> str:
        return str(claims.get(settings.OIDC_USERNAME_CLAIM) or "")

    def verify_claims(self, claims) -> bool:
        """A user name the console can keep: 1 to 150 letters, digits and @.+-_."""
        name = self._username(claims)
        try:
            UnicodeUsernameValidator()(name)
        except ValidationError:
            logger.warning("single sign-on refused: the provider named the user %r", name)
            return False
        return len(name) <= 150

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username=self._username(claims))

    def describe_user_by_claims(self, claims) -> str:
        return f"username {self._username(claims)}"

    def create_user(self, claims):
        user = self.UserModel.objects.create_user(self._username(claims))
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        user.first_name = str(claims.get("given_name") or "")[:150]
        user.last_name = str(claims.get("family_name") or "")[:150]
        user.email = str(claims.get("email") or "")[:254]
        user.save(update_fields=["first_name", "last_name", "email"])
        groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
        if isinstance(groups, str):  # a provider may send one group as a string
            groups = [groups]
        user_role_from_directory(user=user, role=role_for_groups(groups, settings.SSO_ROLE_GROUPS))
        return user


def provider_sign_out_url(request) -> str | None:
    """Where a browser signed in by the provider ends its session there too (OpenID
    Connect RP-initiated logout) and comes back to the log-in page; None for a session
    the provider did not sign in, or with no OIDC_OP_LOGOUT_ENDPOINT set."""
    endpoint = getattr(settings, "OIDC_OP_LOGOUT_ENDPOINT", "")
    id_token = request.session.get("oidc_id_token")
    if not (endpoint and id_token):
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri(
                resolve_url(settings.LOGOUT_REDIRECT_URL)
            ),
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
