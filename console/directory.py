"""Directory sign-in (LDAP) settings, from the environment: enabled only when
LDAP_SERVER_URI is set. Read by console/settings.py; imports no Django model.

A directory group per role, one variable each (a DN holds commas, so no list would do):
LDAP_GROUP_READ_ONLY, LDAP_GROUP_POOL_OPERATOR, LDAP_GROUP_POOL_ADMIN. A user in several
gets the strongest; in none, no role (core.directory).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

# The role groups' variables, weakest first: core.directory gives the last that matches.
ROLE_GROUP_VARIABLES = {
    "read-only": "LDAP_GROUP_READ_ONLY",
    "pool-operator": "LDAP_GROUP_POOL_OPERATOR",
    "pool-admin": "LDAP_GROUP_POOL_ADMIN",
}
BACKEND = "core.directory.DirectoryBackend"


def _group_types():
    from django_auth_ldap.config import GroupOfNamesType, GroupOfUniqueNamesType, PosixGroupType

    # The group schema, and the filter that finds such groups under the search base.
    return {
        "groupOfNames": (GroupOfNamesType, "(objectClass=groupOfNames)"),
        "groupOfUniqueNames": (GroupOfUniqueNamesType, "(objectClass=groupOfUniqueNames)"),
        "posixGroup": (PosixGroupType, "(objectClass=posixGroup)"),
    }


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"LDAP_SERVER_URI is set, so {name} is needed too.")
    return value


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
        "DIRECTORY_ROLE_GROUPS": {
            role: environ[variable].strip()
            for role, variable in ROLE_GROUP_VARIABLES.items()
            if environ.get(variable, "").strip()
        },
    }
