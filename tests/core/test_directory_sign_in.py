"""Directory sign-in against a real slapd: each role group gives its role, a user in no
role group meets the no-role page, a wrong password is refused, a role follows the
directory at the next sign-in, and local accounts keep working."""

import subprocess
import sys

import ldap
import pytest

from console.directory import BACKEND, ldap_settings
from core.models import AuditEvent
from core.selectors import user_role
from tests.directory import CONSOLE_DN, GROUPS, PEOPLE, directory_start, group_dn, person_dn

pytestmark = pytest.mark.django_db

PEOPLE_PASSWORDS = {
    "alice": "alice-directory-pw",
    "bob": "bob-directory-pw",
    "carol": "carol-directory-pw",
    "dave": "dave-directory-pw",
    "erin": "erin-directory-pw",
}
GROUP_MEMBERS = {
    "console-admins": ["alice"],
    "console-operators": ["bob", "erin"],  # a group keeps a member when bob moves
    "console-readers": ["carol"],
    "staff": ["dave", "alice"],  # a group no role maps to
}


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    server = directory_start(
        tmp_path_factory.mktemp("slapd"), people=PEOPLE_PASSWORDS, groups=GROUP_MEMBERS
    )
    yield server
    server.stop()


def environment(directory) -> dict[str, str]:
    return {
        "LDAP_SERVER_URI": directory.uri,
        "LDAP_BIND_DN": CONSOLE_DN,
        "LDAP_BIND_PASSWORD": directory.console_password,
        "LDAP_USER_SEARCH_BASE": PEOPLE,
        "LDAP_GROUP_SEARCH_BASE": GROUPS,
        # Written in another case than the directory's: DNs compare without case.
        "LDAP_GROUP_POOL_ADMIN": group_dn("console-admins").upper(),
        "LDAP_GROUP_POOL_OPERATOR": group_dn("console-operators"),
        "LDAP_GROUP_READ_ONLY": group_dn("console-readers"),
    }


@pytest.fixture
def signed_with_directory(directory, settings):
    for name, value in ldap_settings(environment(directory)).items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        BACKEND,
        "core.backends.RoleBackend",
    ]
    return directory


def sign_in(client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


@pytest.mark.parametrize(
    ("username", "role"),
    [("alice", "pool-admin"), ("bob", "pool-operator"), ("carol", "read-only")],
)
def test_a_directory_group_gives_its_role(client, signed_with_directory, username, role):
    answer = sign_in(client, username, PEOPLE_PASSWORDS[username])
    assert answer.status_code == 302, answer.content[:500]
    page = client.get("/")
    assert page.status_code == 200
    assert username in page.content.decode()
    user = page.wsgi_request.user
    assert user_role(user) == role
    assert user.email == f"{username}@example.org"
    assert not user.has_usable_password()  # the password stays in the directory
    assert AuditEvent.objects.filter(action="user.role", target_repr=username).exists()


def test_a_user_in_no_role_group_signs_in_to_the_no_role_page(client, signed_with_directory):
    assert sign_in(client, "dave", PEOPLE_PASSWORDS["dave"]).status_code == 302
    page = client.get("/")
    assert page.status_code == 403
    assert "has no role in this console yet" in page.content.decode()


def test_a_wrong_password_is_refused(client, signed_with_directory):
    answer = sign_in(client, "alice", "not-alices-password")
    assert answer.status_code == 200  # the form again, with its error
    assert answer.context["form"].non_field_errors()
    assert not answer.wsgi_request.user.is_authenticated
    assert client.get("/").status_code == 302  # still sent to the log-in page


def test_a_role_follows_the_directory_at_the_next_sign_in(client, signed_with_directory):
    assert sign_in(client, "bob", PEOPLE_PASSWORDS["bob"]).status_code == 302
    assert user_role(client.get("/").wsgi_request.user) == "pool-operator"
    client.post("/logout/")
    # The directory's administrator moves bob from the operators to the readers.
    signed_with_directory.modify(
        group_dn("console-operators"), [(ldap.MOD_DELETE, "member", [person_dn("bob").encode()])]
    )
    signed_with_directory.modify(
        group_dn("console-readers"), [(ldap.MOD_ADD, "member", [person_dn("bob").encode()])]
    )
    try:
        assert sign_in(client, "bob", PEOPLE_PASSWORDS["bob"]).status_code == 302
        assert user_role(client.get("/").wsgi_request.user) == "read-only"
    finally:
        signed_with_directory.modify(
            group_dn("console-readers"),
            [(ldap.MOD_DELETE, "member", [person_dn("bob").encode()])],
        )
        signed_with_directory.modify(
            group_dn("console-operators"), [(ldap.MOD_ADD, "member", [person_dn("bob").encode()])]
        )


def test_a_local_account_keeps_working(client, signed_with_directory, readonly_user):
    assert sign_in(client, "reader", "correct-horse-battery").status_code == 302
    assert client.get("/").status_code == 200


def test_a_local_account_still_works_when_the_directory_does_not_answer(
    client, settings, readonly_user, directory
):
    env = environment(directory) | {"LDAP_SERVER_URI": "ldap://127.0.0.1:9", "LDAP_TIMEOUT": "2"}
    for name, value in ldap_settings(env).items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = [BACKEND, "core.backends.RoleBackend"]
    assert sign_in(client, "reader", "correct-horse-battery").status_code == 302
    assert sign_in(client, "alice", PEOPLE_PASSWORDS["alice"]).status_code == 200


def test_the_directory_is_on_only_with_a_server_uri(directory):
    assert ldap_settings({"LDAP_USER_SEARCH_BASE": PEOPLE}) == {}
    code = "from django.conf import settings; print(settings.AUTHENTICATION_BACKENDS)"
    for env, expected in ((environment(directory), True), ({}, False)):
        shown = subprocess.run(  # noqa: S603
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env={"DJANGO_SETTINGS_MODULE": "console.settings", "PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert (BACKEND in shown) is expected, shown
