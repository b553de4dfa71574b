"""Hostile input at the edge gets a clear 400 or 409, never a server error."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import ApiToken, AuditEvent
from core.services.auth import api_token_create
from tests.conftest import api_client_for


def _nested(depth: int) -> str:
    return '{"name": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
def test_deeply_nested_json_is_refused_before_anything_reads_it(readonly_user, depth):
    answer = api_client_for(readonly_user).post(
        "/api/tokens/", _nested(depth), content_type="application/json"
    )
    assert answer.status_code == 400
    assert "nested" in answer.json()["message"]


def test_deeply_nested_json_from_a_session_is_refused_before_the_role_check(readonly_user):
    """Session authentication reads the body for a CSRF token, before any role check."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(readonly_user)
    client.get(reverse("token-list"))  # sets the CSRF cookie
    answer = client.post(
        "/api/clusters/",
        _nested(1_000),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert answer.status_code == 400
    assert "nested" in answer.json()["message"]


def test_ordinary_json_still_parses(readonly_user):
    answer = api_client_for(readonly_user).post("/api/tokens/", {"name": "ci"}, format="json")
    assert answer.status_code == 201


def test_revoking_a_token_that_is_not_a_whole_number_is_a_clear_400(client, readonly_user):
    client.force_login(readonly_user)
    answer = client.post(reverse("token-list"), {"revoke": "abc"})
    assert answer.status_code == 400
    assert "whole number" in answer.content.decode()


@pytest.mark.parametrize(
    ("name", "why"),
    [("nul\x00name", "control"), ("x" * 101, "at most 100"), ("gnp.\u202eexe", "control")],
)
def test_the_token_page_refuses_names_the_database_or_a_reader_cannot_take(
    client, readonly_user, name, why
):
    client.force_login(readonly_user)
    answer = client.post(reverse("token-list"), {"name": name})
    assert answer.status_code == 400
    assert why in answer.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("name", ["nul\x00name", "x" * 101, "gnp.\u202eexe"])
def test_the_token_api_refuses_the_same_names(readonly_user, name):
    answer = api_client_for(readonly_user).post("/api/tokens/", {"name": name}, format="json")
    assert answer.status_code == 400
    assert not ApiToken.objects.exists()


def test_a_nul_in_a_login_name_is_a_form_error(client, readonly_user):
    answer = client.post(reverse("login"), {"username": "reader\x00", "password": "x"})
    assert answer.status_code == 200
    assert "_auth_user_id" not in client.session
    # Looked for in Python: PostgreSQL refuses a NUL even in a query.
    assert not any("\x00" in event.message for event in AuditEvent.objects.all())


def _wait_until_blocked_on_a_lock(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    pytest.fail("the second creation never waited for the first")


def race(create_first, create_second):
    """Run `create_second` while `create_first` holds its insert uncommitted.

    The second passes every "already exists?" check, then waits on the unique index and
    fails when the first commits: the race two admins clicking at once can lose.
    """
    if connection.vendor != "postgresql":
        pytest.skip("racing inserts are checked on PostgreSQL (CI)")
    inserted, release, answers = threading.Event(), threading.Event(), []

    def first():
        try:
            with transaction.atomic():
                create_first()
                inserted.set()
                release.wait(20)
        finally:
            connection.close()

    def second():
        try:
            answers.append(create_second())
        finally:
            connection.close()

    holder = threading.Thread(target=first)
    holder.start()
    assert inserted.wait(20)
    racer = threading.Thread(target=second)
    racer.start()
    _wait_until_blocked_on_a_lock()
    release.set()
    holder.join()
    racer.join()
    return answers[0]


def test_racing_token_creations_with_one_name_answer_409(transactional_db, readonly_user):
    answer = race(
        lambda: api_token_create(user=readonly_user, name="ci"),
        lambda: api_client_for(readonly_user).post("/api/tokens/", {"name": "ci"}, format="json"),
    )
    assert answer.status_code == 409
    assert "already" in answer.json()["message"]
    assert ApiToken.objects.filter(name="ci").count() == 1


def test_racing_cluster_creations_with_one_name_answer_409(transactional_db, admin_user):
    from clusters.models import Cluster
    from clusters.services.memberships import cluster_create

    answer = race(
        lambda: cluster_create(name="Pool", cluster_name="pool", hosts=[], actor=admin_user),
        lambda: api_client_for(admin_user).post(
            "/api/clusters/", {"name": "Pool", "cluster_name": "pool"}, format="json"
        ),
    )
    assert answer.status_code == 409
    assert "already" in answer.json()["message"]
    assert Cluster.objects.count() == 1
