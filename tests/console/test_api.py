import re

import pytest
import yaml
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import AuditEvent
from core.services.alerts import alert_raise
from core.services.audit import audit_record
from core.services.auth import api_token_create
from tests.conftest import api_client_for, token_client_for


@pytest.fixture
def schema_paths(admin_api):
    response = admin_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    return yaml.safe_load(response.content)["paths"]


def _concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", "1", path)


def test_every_api_url_in_the_schema_refuses_anonymous_access(db, schema_paths):
    anonymous = APIClient()
    assert len(schema_paths) > 10
    for path, operations in schema_paths.items():
        for method in operations:
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            response = getattr(anonymous, method)(_concrete(path))
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["message"].startswith("Log in"), path


def test_every_api_url_refuses_a_user_without_a_role(outsider_user, schema_paths):
    client = api_client_for(outsider_user)
    uploader = token_client_for(outsider_user)  # the upload gate needs real credentials
    for path, operations in schema_paths.items():
        for method in operations:
            if method in {"get", "post", "put", "patch", "delete"}:
                asking = uploader if (method, path) == ("post", "/api/crashdumps/") else client
                response = getattr(asking, method)(_concrete(path))
                assert response.status_code == 403, (method, path)


def test_schema_and_docs_work_without_internet(admin_user, client):
    client.force_login(admin_user)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()


def test_errors_have_one_json_shape(admin_api):
    missing = admin_api.get("/api/tasks/999999/")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not found.", "detail": None}
    invalid = admin_api.post("/api/clusters/", {"name": "x", "cluster_name": "bad name!"})
    assert invalid.status_code == 400
    body = invalid.json()
    assert body["message"].startswith("The request is not valid")
    assert "cluster_name" in body["detail"]


def test_read_only_user_may_read_but_not_acknowledge(readonly_user, operator_user):
    alert = alert_raise(name="HOST_SILENT", target=None, priority=3, message="m")
    reader = api_client_for(readonly_user)
    assert reader.get("/api/alerts/").status_code == 200
    url = f"/api/alerts/{alert.pk}/acknowledge/"
    assert reader.post(url).status_code == 403
    assert api_client_for(operator_user).post(url).status_code == 200


def test_named_tokens_are_made_shown_once_used_and_revoked(readonly_user, admin_user):
    owner = api_client_for(readonly_user)
    made = owner.post("/api/tokens/", {"name": "nagios"}, format="json")
    assert made.status_code == 201
    key = made.json()["key"]
    assert "key" not in owner.get(f"/api/tokens/{made.json()['id']}/").json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/tasks/").status_code == 200
    listed = owner.get("/api/tokens/").json()["results"]
    assert [(t["name"], t["prefix"]) for t in listed] == [("nagios", key[:8])]
    assert listed[0]["last_used"] is not None
    assert owner.post("/api/tokens/", {"name": "nagios"}, format="json").status_code == 409
    # A pool-admin sees every token and can revoke it when someone leaves.
    admin = api_client_for(admin_user)
    assert [t["user"] for t in admin.get("/api/tokens/").json()["results"]] == ["reader"]
    assert admin.post(f"/api/tokens/{made.json()['id']}/revoke/").status_code == 200
    assert client.get("/api/tasks/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert client.get("/api/tasks/").status_code == 401
    assert AuditEvent.objects.filter(action__startswith="token.").count() == 2


def test_users_do_not_see_each_others_tokens(readonly_user, operator_user):
    api_token_create(user=operator_user, name="ci")
    assert api_client_for(readonly_user).get("/api/tokens/").json()["results"] == []


def test_audit_api_filters_by_actor_and_action(admin_user, readonly_user):
    audit_record(actor=admin_user, action="cluster.create")
    audit_record(actor=readonly_user, action="alert.acknowledge")
    client = api_client_for(readonly_user)
    results = client.get("/api/audit/", {"actor": "pool-admin"}).json()["results"]
    assert [e["action"] for e in results] == ["cluster.create"]
    results = client.get("/api/audit/", {"action": "alert"}).json()["results"]
    assert [e["actor_name"] for e in results] == ["reader"]


def test_pages_redirect_anonymous_users_to_login(client, db):
    for name in ["dashboard", "task-list", "audit-list", "alert-list", "host-list", "cluster-list"]:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_pages_refuse_a_user_without_a_role(client, outsider_user):
    client.force_login(outsider_user)
    assert client.get(reverse("dashboard")).status_code == 403


def test_acknowledge_button_only_offered_to_operators(client, readonly_user, operator_user):
    alert_raise(name="HOST_SILENT", target=None, priority=3, message="m")
    client.force_login(readonly_user)
    assert b"Acknowledge</button>" not in client.get(reverse("alert-list")).content
    client.force_login(operator_user)
    assert b"Acknowledge</button>" in client.get(reverse("alert-list")).content


def test_unknown_api_addresses_answer_json_not_html(admin_api):
    response = admin_api.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["message"] == "There is nothing at this address."


def test_pages_send_a_strict_content_security_policy(client, readonly_user):
    client.force_login(readonly_user)
    response = client.get(reverse("dashboard"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "unsafe-inline" in client.get("/api/docs/")["Content-Security-Policy"]


def test_log_ins_are_refused_after_repeated_failures(client, readonly_user):
    for _ in range(5):
        response = client.post(reverse("login"), {"username": "reader", "password": "wrong"})
        assert response.status_code == 200
    response = client.post(
        reverse("login"), {"username": "reader", "password": "correct-horse-battery"}
    )
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    assert AuditEvent.objects.filter(action="login.failed").count() == 5


def test_the_token_page_shows_a_new_key_once_and_revokes(client, readonly_user):
    client.force_login(readonly_user)
    page = client.post(reverse("token-list"), {"name": "backup script"}).content.decode()
    token = readonly_user.api_tokens.get()
    assert 'id="new-key"' in page and token.prefix in page
    page = client.get(reverse("token-list")).content.decode()
    assert 'id="new-key"' not in page and "backup script" in page
    client.post(reverse("token-list"), {"revoke": token.pk})
    token.refresh_from_db()
    assert token.revoked is not None
