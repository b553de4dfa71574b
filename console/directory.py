"""Directory sign-in settings, from the environment: LDAP, enabled only when
LDAP_SERVER_URI is set, and single sign-on through an OpenID Connect provider, enabled only
when OIDC_RP_CLIENT_ID is set. Read by console/settings.py; imports no Django model.

A directory group per role, one variable each (a DN holds commas, so no list would do):
LDAP_GROUP_READ_ONLY, LDAP_GROUP_POOL_OPERATOR, LDAP_GROUP_POOL_ADMIN, and for the
provider's groups claim OIDC_GROUP_READ_ONLY, OIDC_GROUP_POOL_OPERATOR, OIDC_GROUP_POOL_ADMIN.
A user in several gets the strongest; in none, no role (core.directory).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

# The role groups' variables, after LDAP_ or OIDC_, weakest first: core.directory gives
# the last that matches.
ROLE_GROUP_VARIABLES = {
    "read-only": "GROUP_READ_ONLY",
    "pool-operator": "GROUP_POOL_OPERATOR",
    "pool-admin": "GROUP_POOL_ADMIN",
}
BACKEND = "core.directory.DirectoryBackend"
SSO_BACKEND = "core.directory.SingleSignOnBackend"
# What the provider must tell, each from its discovery document (/.well-known/openid-configuration).
OIDC_ENDPOINT_VARIABLES = (
    "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "OIDC_OP_TOKEN_ENDPOINT",
    "OIDC_OP_USER_ENDPOINT",
    "OIDC_OP_JWKS_ENDPOINT",
)


def _group_types():
    from django_auth_ldap.config import GroupOfNamesType, GroupOfUniqueNamesType, PosixGroupType

    # The group schema, and the filter that finds such groups under the search base.
    return {
        "groupOfNames": (GroupOfNamesType, "(objectClass=groupOfNames)"),
        "groupOfUniqueNames": (GroupOfUniqueNamesType, "(objectClass=groupOfUniqueNames)"),
        "posixGroup": (PosixGroupType, "(objectClass=posixGroup)"),
    }


def _required(environ: Mapping[str, str], name: str, because="LDAP_SERVER_URI") -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"{because} is set, so {name} is needed too.")
    return value


def _role_groups(environ: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The group of each role that has one: `prefix`GROUP_POOL_ADMIN and the others."""
    named = {
        role: environ.get(prefix + variable, "").strip()
        for role, variable in ROLE_GROUP_VARIABLES.items()
    }
    return {role: group for role, group in named.items() if group}


def ldap_settings(environ: Mapping[str, str]) -> dict:
    """The django-auth-ldap settings and DIRECTORY_ROLE_GROUPS; {} without a server."""
    uri = environ.get("LDAP_SERVER_URI", "").strip()
    if not uri:
        return {}
    import ldap
    from django_auth_ldap.config import LDAPSearch

    kind = environ.get("LDAP_GROUP_TYPE", "groupOfNames")
    types = _group_types()
    if kind not in types:
        raise ImproperlyConfigured(f"LDAP_GROUP_TYPE '{kind}': choose one of {', '.join(types)}.")
    group_type, group_filter = types[kind]
    return {
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_BIND_DN": environ.get("LDAP_BIND_DN", ""),
        "AUTH_LDAP_BIND_PASSWORD": environ.get("LDAP_BIND_PASSWORD", ""),
        "AUTH_LDAP_START_TLS": environ.get("LDAP_START_TLS", "0").lower() in ("1", "true", "yes"),
        "AUTH_LDAP_USER_SEARCH": LDAPSearch(
            _required(environ, "LDAP_USER_SEARCH_BASE"),
            ldap.SCOPE_SUBTREE,
            environ.get("LDAP_USER_FILTER", "(uid=%(user)s)"),
        ),
        "AUTH_LDAP_GROUP_SEARCH": LDAPSearch(
            _required(environ, "LDAP_GROUP_SEARCH_BASE"),
            ldap.SCOPE_SUBTREE,
            environ.get("LDAP_GROUP_FILTER", group_filter),
        ),
        "AUTH_LDAP_GROUP_TYPE": group_type(),
        "AUTH_LDAP_USER_ATTR_MAP": {"first_name": "givenName", "last_name": "sn", "email": "mail"},
        # Names, mail and role follow the directory at every sign-in.
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        # An unanswering server must not hold the log-in page (local accounts still work).
        "AUTH_LDAP_CONNECTION_OPTIONS": {
            ldap.OPT_NETWORK_TIMEOUT: float(environ.get("LDAP_TIMEOUT", "5")),
            ldap.OPT_TIMEOUT: float(environ.get("LDAP_TIMEOUT", "5")),
        },
        "DIRECTORY_ROLE_GROUPS": _role_groups(environ, "LDAP_"),
    }


def oidc_settings(environ: Mapping[str, str]) -> dict:
    """mozilla-django-oidc's settings and SSO_ROLE_GROUPS; {} without a client id."""
    client_id = environ.get("OIDC_RP_CLIENT_ID", "").strip()
    if not client_id:
        return {}
    because = "OIDC_RP_CLIENT_ID"
    settings = {name: _required(environ, name, because) for name in OIDC_ENDPOINT_VARIABLES}
    return {
        **settings,
        "OIDC_RP_CLIENT_ID": client_id,
        "OIDC_RP_CLIENT_SECRET": _required(environ, "OIDC_RP_CLIENT_SECRET", because),
        # The provider signs its ID tokens with a key published at its JWKS endpoint.
        "OIDC_RP_SIGN_ALGO": environ.get("OIDC_RP_SIGN_ALGO", "RS256"),
        "OIDC_RP_SCOPES": environ.get("OIDC_RP_SCOPES", "openid email profile groups"),
        "OIDC_USERNAME_CLAIM": environ.get("OIDC_USERNAME_CLAIM", "preferred_username"),
        "OIDC_GROUPS_CLAIM": environ.get("OIDC_GROUPS_CLAIM", "groups"),
        "OIDC_PROVIDER_NAME": environ.get("OIDC_PROVIDER_NAME", "single sign-on"),
        "OIDC_TIMEOUT": float(environ.get("OIDC_TIMEOUT", "5")),
        # The provider's end-session endpoint: signing out of the console signs out there
        # too, with the ID token kept in the session as its hint.
        "OIDC_OP_LOGOUT_ENDPOINT": environ.get("OIDC_OP_LOGOUT_ENDPOINT", "").strip(),
        "OIDC_STORE_ID_TOKEN": bool(environ.get("OIDC_OP_LOGOUT_ENDPOINT", "").strip()),
        "OIDC_VERIFY_SSL": environ.get("OIDC_VERIFY_SSL", "1").lower() in ("1", "true", "yes"),
        "SSO_ROLE_GROUPS": _role_groups(environ, "OIDC_"),
    }
