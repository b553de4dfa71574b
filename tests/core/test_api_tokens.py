"""API tokens: a token cannot mint tokens, and a revoked token is told so."""

from rest_framework.test import APIClient

from core.services.auth import api_token_create, api_token_revoke


def _token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_cannot_create_tokens(readonly_user):
    _token, key = api_token_create(user=readonly_user, name="ci")
    answer = _token_client(key).post("/api/tokens/", {"name": "child"}, format="json")
    assert answer.status_code == 403
    assert "log in" in answer.json()["message"].lower()
    assert "token" in answer.json()["message"].lower()
    assert list(readonly_user.api_tokens.values_list("name", flat=True)) == ["ci"]


def test_a_revoked_token_is_told_it_was_revoked(readonly_user):
    token, key = api_token_create(user=readonly_user, name="ci")
    client = _token_client(key)
    assert client.get("/api/tasks/").status_code == 200
    api_token_revoke(token=token, actor=readonly_user)
    answer = client.get("/api/tasks/")
    assert answer.status_code == 401
    assert "revoked" in answer.json()["message"]
    unknown = _token_client("not-a-key").get("/api/tasks/")
    assert unknown.status_code == 401
    assert "revoked" not in unknown.json()["message"]
