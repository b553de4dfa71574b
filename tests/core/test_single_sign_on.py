"""Single sign-on through a real OpenID Connect provider (django-oauth-toolkit, run by
tests/oidc_provider as a process of its own): the authorization code flow end to end,
the ID token checked against the provider's published key, each groups-claim group
giving its role, the role following the provider at the next sign-in, refusals landing
on the log-in page, and password accounts working beside it."""

import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from console.directory import SSO_BACKEND, oidc_settings
from core.models import AuditEvent
from core.selectors import user_role
from tests.conftest import wait_for
from tests.notifications.servers import free_port

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CLIENT = {"id": "o2cb-console", "secret": "console-client-secret"}
# The test client's host: the provider sends the browser back to it.
CALLBACK = "http://testserver/oidc/callback/"
SIGNED_OUT = "http://testserver/login/"


def person(password, groups, **claims):
    return {"password": password, "claims": {"email": "x@example.org", "groups": groups, **claims}}


USERS = {
    "alice": person("alice-pw", ["storage-admins", "staff"], given_name="Alice"),
    "bob": person("bob-pw", ["storage-operators"]),
    "carol": person("carol-pw", ["NOC"]),  # another case than the mapping's: still matches
    "dave": person("dave-pw", ["staff"]),  # a group no role maps to
}


class Provider:
    def __init__(self, directory: Path):
        self.setup_file = directory / "setup.json"
        self.users = json.loads(json.dumps(USERS))
        self.write()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            "PATH": "/usr/bin:/bin",
            "OIDC_PROVIDER_DB": str(directory / "provider.sqlite3"),
            "OIDC_PROVIDER_KEY": pem,
            "OIDC_PROVIDER_SETUP": str(self.setup_file),
        }
        self.log = open(directory / "provider.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tests.oidc_provider", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, timeout=60, message="the OpenID Connect provider answers")

    def _answers(self) -> bool:
        assert self.process.poll() is None, (Path(self.log.name).read_text())[-3000:]
        try:
            requests.get(f"{self.url}/o/.well-known/openid-configuration", timeout=2)
        except requests.ConnectionError:
            return False
        return True

    def write(self):
        client = {**CLIENT, "redirect_uri": CALLBACK, "post_logout_redirect_uri": SIGNED_OUT}
        self.setup_file.write_text(json.dumps({"users": self.users, "client": client}))

    def environment(self) -> dict[str, str]:
        discovery = requests.get(f"{self.url}/o/.well-known/openid-configuration", timeout=5)
        document = discovery.json()
        return {
            "OIDC_RP_CLIENT_ID": CLIENT["id"],
            "OIDC_RP_CLIENT_SECRET": CLIENT["secret"],
            "OIDC_OP_AUTHORIZATION_ENDPOINT": document["authorization_endpoint"],
            "OIDC_OP_TOKEN_ENDPOINT": document["token_endpoint"],
            "OIDC_OP_USER_ENDPOINT": document["userinfo_endpoint"],
            "OIDC_OP_JWKS_ENDPOINT": document["jwks_uri"],
            "OIDC_OP_LOGOUT_ENDPOINT": document["end_session_endpoint"],
            "OIDC_PROVIDER_NAME": "Example SSO",
            "OIDC_GROUP_POOL_ADMIN": "storage-admins",
            "OIDC_GROUP_POOL_OPERATOR": "storage-operators",
            "OIDC_GROUP_READ_ONLY": "noc",
        }

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log.close()


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    server = Provider(tmp_path_factory.mktemp("oidc-provider"))
    yield server
    server.stop()


@pytest.fixture
def signed_with_provider(provider, settings):
    for name, value in oidc_settings(provider.environment()).items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        SSO_BACKEND,
        "core.backends.RoleBackend",
    ]
    provider.users = json.loads(json.dumps(USERS))
    provider.write()
    return provider


def sso_sign_in(client, provider: Provider, username: str, password: str, browser=None):
    """What a browser does: the console sends it to the provider, the provider asks for
    the password and sends it back with a code; the console's answer to that. `browser`
    keeps the provider's cookies, where a test needs its session there afterwards."""
    start = client.get("/oidc/authenticate/?next=/alerts/")
    assert start.status_code == 302, start.content[:300]
    browser = browser or requests.Session()
    login_page = browser.get(start["Location"], timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)[1]
    next_url = unescape(re.search(r'name="next" value="([^"]*)"', login_page.text)[1])
    signed = browser.post(
        f"{provider.url}/login/",
        {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token,
            "next": next_url,
        },  # fmt: skip
        allow_redirects=False,
        timeout=10,
    )
    assert signed.status_code == 302, signed.text[:500]
    authorized = browser.get(provider.url + signed.headers["Location"], allow_redirects=False)
    back = authorized.headers["Location"]
    assert back.startswith(CALLBACK), back
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}")


@pytest.mark.parametrize(
    ("username", "role"),
    [("alice", "pool-admin"), ("bob", "pool-operator"), ("carol", "read-only")],
)
def test_a_provider_group_gives_its_role(client, signed_with_provider, username, role):
    answer = sso_sign_in(client, signed_with_provider, username, USERS[username]["password"])
    assert answer.status_code == 302 and answer["Location"] == "/alerts/"
    page = client.get("/alerts/")
    assert page.status_code == 200
    user = page.wsgi_request.user
    assert user.username == username and user_role(user) == role
    assert user.email == "x@example.org"
    assert not user.has_usable_password()  # the password stays with the provider
    assert AuditEvent.objects.filter(action="user.role", target_repr=username).exists()


def test_the_log_in_page_offers_the_provider_beside_the_password(client, signed_with_provider):
    page = client.get("/login/").content.decode()
    assert "Sign in with Example SSO" in page and 'name="password"' in page


def test_a_user_in_no_role_group_signs_in_to_the_no_role_page(client, signed_with_provider):
    assert sso_sign_in(client, signed_with_provider, "dave", "dave-pw").status_code == 302
    page = client.get("/")
    assert page.status_code == 403
    assert "has no role in this console yet" in page.content.decode()


def test_a_role_follows_the_provider_at_the_next_sign_in(client, signed_with_provider):
    sso_sign_in(client, signed_with_provider, "bob", "bob-pw")
    assert user_role(client.get("/").wsgi_request.user) == "pool-operator"
    client.post("/logout/")
    signed_with_provider.users["bob"]["claims"]["groups"] = ["noc"]  # moved by its admin
    signed_with_provider.write()
    sso_sign_in(client, signed_with_provider, "bob", "bob-pw")
    assert user_role(client.get("/").wsgi_request.user) == "read-only"


def test_signing_out_of_the_console_signs_out_of_the_provider_too(client, signed_with_provider):
    browser = requests.Session()
    sso_sign_in(client, signed_with_provider, "alice", "alice-pw", browser)

    out = client.post("/logout/")

    assert out.status_code == 302
    assert out["Location"].startswith(f"{signed_with_provider.url}/o/logout/?id_token_hint=")
    assert not client.get("/").wsgi_request.user.is_authenticated
    back = browser.get(out["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"] == SIGNED_OUT
    # The provider asks for the password again: its own session ended too.
    start = client.get("/oidc/authenticate/")
    again = browser.get(start["Location"], allow_redirects=False, timeout=10)
    assert again.status_code == 302
    assert urlsplit(again.headers["Location"]).path == "/login/"


def test_a_password_account_signs_out_to_the_log_in_page(client, signed_with_provider, admin_user):
    client.post("/login/", {"username": admin_user.username, "password": "correct-horse-battery"})
    out = client.post("/logout/")
    assert out.status_code == 302 and out["Location"] == "/login/"
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_a_provider_that_names_no_usable_user_lands_on_the_log_in_page(
    client, signed_with_provider
):
    signed_with_provider.users["carol"]["claims"]["preferred_username"] = "carol smith!"
    signed_with_provider.write()
    answer = sso_sign_in(client, signed_with_provider, "carol", "carol-pw")
    assert answer.status_code == 302 and answer["Location"] == "/login/?sso=failed"
    page = client.get(answer["Location"]).content.decode()
    assert "Example SSO did not sign you in" in page
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_a_forged_callback_signs_nobody_in(client, signed_with_provider):
    nothing_asked = client.get("/oidc/callback/?code=forged&state=forged")
    assert nothing_asked["Location"] == "/login/?sso=failed"
    client.get("/oidc/authenticate/")
    (state,) = client.session["oidc_states"]  # a real state, but a code the provider never gave
    answer = client.get(f"/oidc/callback/?code=forged&state={state}")
    assert answer.status_code == 302 and answer["Location"] == "/login/?sso=failed"
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_a_provider_that_does_not_answer_the_code_lands_on_the_log_in_page(
    client, signed_with_provider, settings
):
    settings.OIDC_OP_TOKEN_ENDPOINT = f"http://127.0.0.1:{free_port()}/o/token/"  # nobody
    answer = sso_sign_in(client, signed_with_provider, "alice", "alice-pw")
    assert answer.status_code == 302 and answer["Location"] == "/login/?sso=failed"
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_password_accounts_keep_working_beside_it(client, signed_with_provider, admin_user):
    password = "correct-horse-battery"  # tests.conftest's users
    answer = client.post("/login/", {"username": admin_user.username, "password": password})
    assert answer.status_code == 302
    assert client.get("/").status_code == 200


def test_without_a_provider_the_sign_on_urls_are_404(client):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert "Sign in with" not in client.get("/login/").content.decode()
