"""Log-in throttling: one mechanism for every log-in form, keyed on the name as the form
reads it and on the client's address, the proxy's word taken only when it is trusted."""

import pytest
from django.contrib.auth.models import User

from core.models import AuditEvent

CONSOLE, ADMIN = "/login/", "/admin/login/"
GOOD = "correct-horse-battery"


def fail(client, url=CONSOLE, username="reader", times=1, **extra):
    for _ in range(times):
        answer = client.post(url, {"username": username, "password": "wrong"}, **extra)
        assert answer.status_code == 200, answer.status_code


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def staff_reader(readonly_user):
    readonly_user.is_staff = True
    readonly_user.save()
    return readonly_user


@pytest.mark.parametrize("typed", [" reader ", "ｒｅａｄｅｒ", "READER", "reader\t"])
def test_a_locked_name_stays_locked_however_it_is_typed(client, readonly_user, typed):
    fail(client, times=5)
    answer = client.post(CONSOLE, {"username": typed, "password": GOOD})
    assert answer.status_code == 429
    assert "Too many failed log-ins; try again in 15 minutes." in answer.content.decode()
    assert not logged_in(client)


def test_spelling_the_name_differently_does_not_dodge_the_count(client, readonly_user):
    for typed in ["reader", " reader", "ｒｅａｄｅｒ", "Reader", "reader "]:
        fail(client, username=typed)
    assert client.post(CONSOLE, {"username": "reader", "password": GOOD}).status_code == 429


def test_the_admin_log_in_is_throttled_and_audited(client, staff_reader):
    fail(client, url=ADMIN, times=5)
    failed = AuditEvent.objects.filter(action="login.failed")
    assert failed.count() == 5
    assert "'reader'" in failed.first().message
    answer = client.post(ADMIN, {"username": "reader", "password": GOOD})
    assert answer.status_code == 429
    assert "Too many failed log-ins" in answer.content.decode()
    assert not logged_in(client)
    assert AuditEvent.objects.filter(action="login.locked_out").count() == 1


def test_failures_on_either_form_count_together(client, staff_reader):
    fail(client, url=CONSOLE, times=3)
    fail(client, url=ADMIN, times=2)
    assert client.post(CONSOLE, {"username": "reader", "password": GOOD}).status_code == 429
    assert client.post(ADMIN, {"username": "reader", "password": GOOD}).status_code == 429


def test_a_success_forgives_the_names_earlier_failures(client, readonly_user):
    fail(client, times=4)
    assert client.post(CONSOLE, {"username": "reader", "password": GOOD}).status_code == 302
    client.logout()
    fail(client, times=4)
    assert client.post(CONSOLE, {"username": "reader", "password": GOOD}).status_code == 302


def test_the_limits_and_lockout_follow_the_settings(client, readonly_user, settings):
    from datetime import timedelta

    settings.LOGIN_FAILURES_PER_USER = 2
    settings.LOGIN_LOCKOUT = timedelta(minutes=3)
    fail(client, times=2)
    answer = client.post(CONSOLE, {"username": "reader", "password": GOOD})
    assert answer.status_code == 429
    assert "try again in 3 minutes" in answer.content.decode()


def test_one_address_trying_many_names_is_locked_out(client, readonly_user, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    for name in ["alice", "bob", "carol"]:
        fail(client, username=name, REMOTE_ADDR="192.0.2.7")
    refused = client.post(
        CONSOLE, {"username": "reader", "password": GOOD}, REMOTE_ADDR="192.0.2.7"
    )
    assert refused.status_code == 429
    elsewhere = client.post(
        CONSOLE, {"username": "reader", "password": GOOD}, REMOTE_ADDR="192.0.2.8"
    )
    assert elsewhere.status_code == 302


def test_behind_a_trusted_proxy_each_client_is_counted_apart(client, readonly_user, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    for name in ["alice", "bob", "carol"]:
        fail(client, username=name, HTTP_X_FORWARDED_FOR="198.51.100.1", **via_proxy)
    attacker = client.post(
        CONSOLE,
        {"username": "reader", "password": GOOD},
        HTTP_X_FORWARDED_FOR="198.51.100.1",
        **via_proxy,
    )
    assert attacker.status_code == 429
    # Another client behind the same proxy is not locked out by the first one.
    other = client.post(
        CONSOLE,
        {"username": "reader", "password": GOOD},
        HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.9",
        **via_proxy,
    )
    assert other.status_code == 302
    assert "198.51.100.1" in AuditEvent.objects.filter(action="login.failed").first().message


def test_a_forged_forwarded_for_is_ignored_without_a_trusted_proxy(client, readonly_user, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    settings.TRUSTED_PROXIES = []
    for number, name in enumerate(["alice", "bob", "carol"]):
        fail(client, username=name, HTTP_X_FORWARDED_FOR=f"10.9.9.{number}")
    answer = client.post(
        CONSOLE, {"username": "reader", "password": GOOD}, HTTP_X_FORWARDED_FOR="10.9.9.99"
    )
    assert answer.status_code == 429


def test_an_over_long_name_is_refused_by_the_form_and_never_recorded_in_full(client, db):
    answer = client.post(CONSOLE, {"username": "v" * 2_000_000, "password": "x"})
    assert answer.status_code == 200
    assert "at most 150 characters" in answer.content.decode()
    assert all(len(e.message) < 1_000 for e in AuditEvent.objects.all())


def test_a_name_with_a_bidi_override_is_refused_at_log_in(client, db):
    User.objects.create_user(username="adm\u202enimi", password=GOOD)
    answer = client.post(CONSOLE, {"username": "adm\u202enimi", "password": GOOD})
    assert answer.status_code == 200
    assert "control or invisible formatting characters" in answer.content.decode()
    assert not logged_in(client)
