"""Users and roles, managed by pool-admins in the console and the API (issue 15, item 15):
create, change role, deactivate and reactivate, reset a password, tokens for a user; the
last pool-admin is kept; a user without a role is told so, and whom to ask."""

import io
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import AuditEvent
from core.services.auth import api_token_create
from core.services.users import user_create, user_set_role
from tests.conftest import api_client_for, token_client_for


def _token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _audit(action: str, target: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_repr=target).order_by("id"))


def _logs_in(username: str, password: str) -> bool:
    """Whether the console's log-in page lets this user in (as a browser would)."""
    answer = Client().post("/login/", {"username": username, "password": password})
    return answer.status_code == 302


def _link_path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


# A user without a role ------------------------------------------------------------------


def test_a_user_without_a_role_sees_a_page_that_says_so_and_whom_to_ask(
    client, outsider_user, admin_user
):
    admin_user.email = "admin@example.org"
    admin_user.save()
    client.force_login(outsider_user)
    for url in ["/", reverse("task-list"), reverse("host-list")]:
        answer = client.get(url)
        assert answer.status_code == 403
        text = answer.content.decode()
        assert "You have no role yet" in text, url
        assert "outsider" in text and "has no role" in text
        assert "pool-admin (admin@example.org)" in text  # whom to ask
    # The menu leads only to more refusals: it is not shown.
    assert reverse("host-list") not in client.get("/").content.decode()


def test_the_api_tells_a_user_without_a_role_the_same_in_json(outsider_user, admin_user):
    answer = api_client_for(outsider_user).get("/api/hosts/")
    assert answer.status_code == 403
    message = answer.json()["message"]
    assert "has no role" in message and "pool-admin" in message
    # Someone with a role who may not do a thing still hears about their role.
    reader = user_create(actor=admin_user, username="reader2", role="read-only")[0]
    refused = api_client_for(reader).post("/api/hosts/check/", {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["message"] == "Your role does not allow this."


def test_with_no_pool_admin_left_a_user_without_a_role_is_told_who_else_to_ask(
    client, outsider_user
):
    client.force_login(outsider_user)
    answer = client.get("/")
    assert answer.status_code == 403
    assert "ask whoever runs the console" in answer.content.decode()


# Creating users -------------------------------------------------------------------------


def test_a_pool_admin_creates_a_user_with_a_password_and_they_log_in_with_their_role(
    admin_api, client, admin_user
):
    answer = admin_api.post(
        "/api/users/",
        {"username": "dora", "role": "pool-operator", "password": "a-long-Passphrase-42"},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["role"] == "pool-operator"
    assert answer.json()["set_password_url"] is None
    assert _logs_in("dora", "a-long-Passphrase-42")
    dora = User.objects.get(username="dora")
    assert dora.has_perm("core.operate_pool") and not dora.has_perm("core.administer_pool")
    [event] = _audit("user.create", "dora")
    assert event.actor_name == "pool-admin" and "pool-operator" in event.message


def test_a_user_made_without_a_password_sets_it_once_through_the_link(admin_api, client):
    answer = admin_api.post("/api/users/", {"username": "erin", "role": "read-only"}, format="json")
    assert answer.status_code == 201, answer.content
    link = _link_path(answer.json()["set_password_url"])
    assert not _logs_in("erin", "")  # no password before the link

    form = client.get(link, follow=True)
    assert b"Set your password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "erin-Sets-Her-Own-7", "new_password2": "erin-Sets-Her-Own-7"},
        follow=True,
    )
    assert b"Password set" in done.content
    assert _logs_in("erin", "erin-Sets-Her-Own-7")
    # Once used, the link works no more.
    again = client.get(link, follow=True)
    assert b"This link no longer works" in again.content
    assert [e.actor_name for e in _audit("user.password_set", "erin")] == ["erin"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"username": "Pool-Admin", "role": "read-only"}, "exists already"),
        ({"username": "fred", "role": "superhero"}, "role"),
        ({"username": "fred", "role": "read-only", "password": "1234"}, "password"),
        ({"username": "fred bloggs", "role": "read-only"}, "username"),
        ({"username": "fred\u202e", "role": "read-only"}, "username"),
        ({"username": "", "role": "read-only"}, "username"),
        ({"role": "read-only"}, "username"),
    ],
)
def test_a_user_that_cannot_be_made_is_refused_clearly_and_nothing_is_made(admin_api, body, says):
    users_before = set(User.objects.values_list("username", flat=True))
    answer = admin_api.post("/api/users/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert says in answer.json()["message"].lower()
    assert set(User.objects.values_list("username", flat=True)) == users_before
    assert not AuditEvent.objects.filter(action="user.create").exists()


# Roles and the last pool-admin ------------------------------------------------------------


def test_changing_a_role_takes_effect_at_once_and_is_audited(admin_api, readonly_user):
    client = api_client_for(readonly_user)
    assert client.post("/api/hosts/check/", {}, format="json").status_code == 403
    answer = admin_api.post(
        f"/api/users/{readonly_user.pk}/role/", {"role": "pool-admin"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["role"] == "pool-admin"
    client = api_client_for(User.objects.get(pk=readonly_user.pk))
    assert client.post("/api/hosts/check/", {}, format="json").status_code == 202
    # Taking every role away.
    answer = admin_api.post(f"/api/users/{readonly_user.pk}/role/", {"role": None}, format="json")
    assert answer.json()["role"] is None
    assert User.objects.get(pk=readonly_user.pk).get_all_permissions() == set()
    messages = [e.message for e in _audit("user.role", "reader")]
    assert messages == [
        "reader: role read-only → pool-admin.",
        "reader: role pool-admin → no role.",
    ]


def test_an_unknown_role_is_refused_and_the_role_stays(admin_api, readonly_user):
    answer = admin_api.post(f"/api/users/{readonly_user.pk}/role/", {"role": "root"}, format="json")
    assert answer.status_code == 400
    assert "role" in answer.json()["message"]
    assert User.objects.get(pk=readonly_user.pk).has_perm("core.view_pool")


def test_the_last_active_pool_admin_can_neither_demote_nor_deactivate_themselves(
    admin_api, admin_user
):
    me = f"/api/users/{admin_user.pk}"
    demote = admin_api.post(f"{me}/role/", {"role": "read-only"}, format="json")
    assert demote.status_code == 409
    assert "You are the last active pool-admin" in demote.json()["message"]
    deactivate = admin_api.post(f"{me}/deactivate/")
    assert deactivate.status_code == 409
    assert "last active pool-admin" in deactivate.json()["message"]
    admin_user.refresh_from_db()
    assert admin_user.is_active and admin_user.has_perm("core.administer_pool")
    refused = AuditEvent.objects.filter(target_repr="pool-admin", outcome="denied")
    assert sorted(refused.values_list("action", flat=True)) == ["user.deactivate", "user.role"]

    # With a second active pool-admin, the first may step down.
    user_create(actor=admin_user, username="second", role="pool-admin", password="x-Long-Secret-9")
    assert admin_api.post(f"{me}/role/", {"role": "read-only"}, format="json").status_code == 200
    assert not User.objects.get(pk=admin_user.pk).has_perm("core.administer_pool")


def test_a_deactivated_pool_admin_does_not_count_as_the_one_left(admin_user):
    other = user_create(actor=admin_user, username="other", role="pool-admin", password="")[0]
    other.is_active = False
    other.save()
    with pytest.raises(Exception, match="last active pool-admin"):
        user_set_role(actor=admin_user, user=admin_user, role="read-only")


def test_a_superuser_given_a_lesser_role_stops_being_a_superuser(admin_api, db):
    boss = User.objects.create_superuser("boss", password="x-Long-Secret-9")
    answer = admin_api.post(f"/api/users/{boss.pk}/role/", {"role": "read-only"}, format="json")
    assert answer.status_code == 200, answer.content
    boss.refresh_from_db()
    assert not boss.is_superuser and not boss.has_perm("core.operate_pool")
    assert "no longer a superuser" in _audit("user.role", "boss")[0].message


# Deactivation, passwords, tokens ---------------------------------------------------------


def test_deactivating_ends_log_in_sessions_and_tokens_and_reactivating_restores_them(
    admin_api, operator_user, client
):
    _token, key = api_token_create(user=operator_user, name="ci")
    assert _token_client(key).get("/api/tasks/").status_code == 200
    client.force_login(operator_user)
    assert client.get("/").status_code == 200

    assert admin_api.post(f"/api/users/{operator_user.pk}/deactivate/").status_code == 200
    assert _token_client(key).get("/api/tasks/").status_code == 401
    assert client.get("/").status_code == 302  # the session ended: back to the log-in page
    assert not _logs_in("operator", "correct-horse-battery")
    assert User.objects.filter(pk=operator_user.pk).exists()  # never deleted

    answer = admin_api.post(f"/api/users/{operator_user.pk}/reactivate/")
    assert answer.json()["is_active"] is True
    assert _token_client(key).get("/api/tasks/").status_code == 200
    assert _logs_in("operator", "correct-horse-battery")
    actions = [e.action for e in AuditEvent.objects.filter(target_repr="operator").order_by("id")]
    assert actions == ["user.deactivate", "user.reactivate"]


def test_resetting_a_password_to_a_link_ends_the_old_one_at_once(admin_api, readonly_user, client):
    answer = admin_api.post(f"/api/users/{readonly_user.pk}/password/", {}, format="json")
    assert answer.status_code == 200, answer.content
    assert not _logs_in("reader", "correct-horse-battery")
    first = _link_path(answer.json()["set_password_url"])
    second = _link_path(
        admin_api.post(f"/api/users/{readonly_user.pk}/password/", {}, format="json").json()[
            "set_password_url"
        ]
    )
    assert b"This link no longer works" in client.get(first, follow=True).content
    assert b"Set your password" in client.get(second, follow=True).content


def test_a_pool_admin_sets_a_password_and_a_weak_one_is_refused(admin_api, readonly_user, client):
    weak = admin_api.post(
        f"/api/users/{readonly_user.pk}/password/", {"password": "password"}, format="json"
    )
    assert weak.status_code == 400
    assert "too common" in weak.json()["message"]
    assert _logs_in("reader", "correct-horse-battery")  # unchanged
    ok = admin_api.post(
        f"/api/users/{readonly_user.pk}/password/",
        {"password": "Another-long-one-5"},
        format="json",
    )
    assert ok.status_code == 200 and ok.json()["set_password_url"] is None
    assert _logs_in("reader", "Another-long-one-5")
    assert "set by a pool-admin" in _audit("user.password", "reader")[0].message


def test_a_pool_admin_makes_a_token_for_a_user_which_acts_with_their_role(admin_api, readonly_user):
    answer = admin_api.post(
        f"/api/users/{readonly_user.pk}/tokens/", {"name": "nagios"}, format="json"
    )
    assert answer.status_code == 201, answer.content
    client = _token_client(answer.json()["key"])
    assert client.get("/api/tasks/").status_code == 200
    assert client.post("/api/hosts/check/", {}, format="json").status_code == 403
    [event] = AuditEvent.objects.filter(action="token.create")
    assert event.actor_name == "pool-admin" and "of reader" in event.message
    same = admin_api.post(f"/api/users/{readonly_user.pk}/tokens/", {"name": "nagios"})
    assert same.status_code == 409
    assert "reader already has an active token called 'nagios'" in same.json()["message"]
    # Revoked by the pool-admin: refused from then on.
    revoked = admin_api.post(f"/api/tokens/{answer.json()['id']}/revoke/")
    assert revoked.status_code == 200
    assert client.get("/api/tasks/").status_code == 401


def test_users_are_for_pool_admins_only(client, operator_user, readonly_user):
    for user in (operator_user, readonly_user):
        client.force_login(user)
        assert client.get(reverse("user-list")).status_code == 403
        assert client.get(reverse("user-detail", args=[user.pk])).status_code == 403
        assert api_client_for(user).get("/api/users/").status_code == 403
        made = api_client_for(user).post(
            "/api/users/", {"username": "sneaky", "role": "pool-admin"}, format="json"
        )
        assert made.status_code == 403
    assert not User.objects.filter(username="sneaky").exists()


# The pages ------------------------------------------------------------------------------


def test_the_users_page_lists_role_state_last_log_in_and_tokens(client, admin_user, role_users):
    api_token_create(user=role_users["read-only"], name="ci")
    client.force_login(admin_user)
    text = client.get(reverse("user-list")).content.decode()
    rows = dict(re.findall(r'<tr data-user="([^"]+)">(.*?)</tr>', text, re.S))
    assert set(rows) == {"pool-admin", "operator", "reader", "outsider"}
    assert "pool-operator" in rows["operator"] and "no role" in rows["outsider"]
    assert "never" in rows["reader"] and "<td>1</td>" in rows["reader"]
    assert "active" in rows["outsider"]


def test_the_create_form_keeps_what_was_typed_when_it_is_refused(client, admin_user):
    client.force_login(admin_user)
    answer = client.post(
        reverse("user-list"), {"username": "gina", "role": "pool-admin", "password": "123"}
    )
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "The password is refused" in text
    assert 'value="gina"' in text
    assert not User.objects.filter(username="gina").exists()
    made = client.post(reverse("user-list"), {"username": "gina", "role": "pool-admin"})
    assert made.status_code == 200
    assert "/set-password/" in made.content.decode()  # the link, shown this once


def test_the_last_pool_admin_is_told_on_the_page_why_they_cannot_deactivate(client, admin_user):
    client.force_login(admin_user)
    answer = client.post(reverse("user-detail", args=[admin_user.pk]), {"op": "deactivate"})
    assert answer.status_code == 409
    assert "You are the last active pool-admin" in answer.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_the_server_shell_gives_a_role_when_no_pool_admin_is_left(outsider_user):
    out = io.StringIO()
    call_command("user_role", "outsider", "pool-admin", stdout=out)
    assert "outsider is now pool-admin" in out.getvalue()
    assert User.objects.get(pk=outsider_user.pk).has_perm("core.administer_pool")
    [event] = _audit("user.role", "outsider")
    assert event.actor_name == "console"
    with pytest.raises(CommandError, match="last active pool-admin"):
        call_command("user_role", "outsider", "read-only")
    with pytest.raises(CommandError, match="No user called 'nobody'"):
        call_command("user_role", "nobody", "read-only")


def test_a_role_held_directly_is_shown_and_a_new_role_replaces_it(
    client, admin_user, outsider_user
):
    outsider_user.user_permissions.add(Permission.objects.get(codename="view_pool"))
    client.force_login(admin_user)
    text = client.get(reverse("user-list")).content.decode()
    row = re.search(r'<tr data-user="outsider">(.*?)</tr>', text, re.S).group(1)
    assert "read-only" in row and "no role" not in row
    user_set_role(actor=admin_user, user=outsider_user, role="pool-operator")
    fresh = User.objects.get(pk=outsider_user.pk)
    assert fresh.user_permissions.count() == 0
    assert fresh.get_all_permissions() == {"core.view_pool", "core.operate_pool"}


def test_an_upload_by_a_user_without_a_role_is_told_whom_to_ask(outsider_user, admin_user):
    log = SimpleUploadedFile("kern.log", b"Nov 25 06:00:00 h kernel: hello\n")
    answer = token_client_for(outsider_user).post("/api/crashdumps/", {"file": log})
    assert answer.status_code == 403
    assert "has no role" in answer.json()["message"] and "pool-admin" in answer.json()["message"]
