"""The production path, end to end: `DEBUG=0`, a migrated database, collected static files,
gunicorn with the shipped configuration on a free loopback port, behind a (pretended) TLS
proxy; and without collectstatic, `check --deploy` says what to run."""

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from tests.conftest import ROOT, stop_process, wait_for
from tests.rawhttp import multipart_head, request_head

pytestmark = pytest.mark.usefixtures("redis_url")

PASSWORD = "a-long-deploy-test-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def site_env(tmp: Path, database_url: str) -> dict:
    """What deploy/console.env.example sets, for a site of its own in `tmp`."""
    env = {
        key: value
        for key, value in os.environ.items()
        # The browser tests allow Django's sync ORM under Playwright's loop; a site never does.
        if key not in {"DJANGO_SETTINGS_MODULE", "DB_CONN_MAX_AGE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        BEHIND_TLS_PROXY="1",
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        CACHE_KEY_PREFIX=f"deploy-test-{uuid.uuid4().hex[:8]}",
        CONSOLE_QUEUE=settings.CONSOLE_QUEUE,
        STATIC_ROOT=str(tmp / "static"),
        CRASH_STORE=str(tmp / "crashes"),
        SANDBOX_DIR=str(tmp / "sandbox"),
        CONSOLE_KEY_FILE=str(tmp / "keys" / "console.key"),
    )
    return env


@pytest.fixture(scope="module")
def database_url(tmp_path_factory):
    """A database of the site's own, on the engine the suite runs on."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        yield f"sqlite:///{tmp_path_factory.mktemp('deploy-db') / 'console.sqlite3'}"
        return
    name = f"deploy_test_{uuid.uuid4().hex[:8]}"
    server = dict(
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    with psycopg.connect(**server) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    host = f"{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    yield f"postgres://{credentials}@{host}/{name}"
    with psycopg.connect(**server) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def site(tmp_path_factory, database_url):
    tmp = tmp_path_factory.mktemp("deploy")
    env = site_env(tmp, database_url)
    for step in (
        ["migrate", "--noinput"],
        ["collectstatic", "--noinput"],
        ["check", "--deploy", "--fail-level", "ERROR"],
        [
            "shell",
            "-c",
            "from django.contrib.auth.models import Group, User; "
            f"u = User.objects.create_user('deployer', password='{PASSWORD}'); "
            "u.groups.add(Group.objects.get(name='pool-operator'))",
        ],
    ):
        done = manage(env, *step)
        assert done.returncode == 0, (step, done.stdout[-2000:], done.stderr[-2000:])
    return tmp, env


@pytest.fixture(scope="module")
def gunicorn(site):
    tmp, env = site
    port = free_port()
    log = open(tmp / "gunicorn.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            "deploy/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "console.wsgi",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answers():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            assert proc.poll() is None, (tmp / "gunicorn.log").read_text()[-3000:]
            return False

    wait_for(answers, 30, message="gunicorn never answered")
    yield port, tmp
    stop_process(proc)


class Browser:
    """Enough of a browser behind a TLS proxy: keeps cookies (Secure ones too, since the
    proxy speaks HTTPS to it) and says the request came in over HTTPS."""

    def __init__(self, port: int):
        self.port = port
        self.cookies = SimpleCookie()

    def request(self, method: str, path: str, form: dict | None = None):
        origin = f"https://127.0.0.1:{self.port}"
        headers = {"X-Forwarded-Proto": "https", "Referer": origin + path, "Origin": origin}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        content = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(value)
        connection.close()
        return response, content


def test_gunicorn_with_debug_off_serves_a_login_a_page_and_a_static_file(gunicorn):
    port, _tmp = gunicorn
    browser = Browser(port)
    response, content = browser.request("GET", "/login/")
    assert response.status == 200, content[:500]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', content)[1].decode()
    response, content = browser.request(
        "POST",
        "/login/",
        {"username": "deployer", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status == 302, content[:500]
    response, content = browser.request("GET", response.headers["Location"])
    assert response.status == 200, content[:500]
    assert response.headers["Content-Type"].startswith("text/html")
    assert b"deployer" in content  # logged in: the header names the user
    stylesheet = re.search(rb'href="(/static/css/console\.[0-9a-f]{12}\.css)"', content)
    assert stylesheet, "DEBUG=0 names the hashed file from the manifest"
    response, css = browser.request("GET", stylesheet[1].decode())
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert "immutable" in response.headers["Cache-Control"]  # hashed names are cached for good
    assert css == (ROOT / "static/css/console.css").read_bytes()


def test_under_gunicorn_a_client_gone_mid_upload_leaves_nothing(gunicorn):
    port, tmp = gunicorn
    browser = Browser(port)
    _response, content = browser.request("GET", "/login/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', content)[1].decode()
    browser.request(
        "POST",
        "/login/",
        {"username": "deployer", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    spool = tmp / "crashes" / "incoming"
    cookie = "; ".join(f"{k}={m.value}" for k, m in browser.cookies.items())
    base = f"http://127.0.0.1:{port}"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            request_head(
                base,
                "/api/crashdumps/",
                content_length=8 * 1024 * 1024,
                headers={"Cookie": cookie, "X-Forwarded-Proto": "https"},
            )
        )
        sock.sendall(multipart_head() + b"Nov 25 06:00:00 h kernel: x\n" * 80_000)
        wait_for(lambda: any(spool.glob("*")), 10, message="gunicorn never spooled the upload")
    wait_for(lambda: not any(spool.glob("*")), 15, message="a partial upload was left behind")
    time.sleep(0.5)
    assert not (tmp / "crashes" / "uploads").exists()


def test_without_collectstatic_check_deploy_fails_and_says_what_to_run(tmp_path, database_url):
    env = site_env(tmp_path, database_url)
    done = manage(env, "check", "--deploy")
    assert done.returncode != 0
    assert "console.E001" in done.stderr
    assert "python manage.py collectstatic --noinput" in done.stderr
    started = subprocess.run(
        [sys.executable, "-c", "import console.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    assert "collectstatic" in started.stderr, "the web process warns at start"


def test_a_site_upgraded_with_pool_key_file_set_still_reads_its_pools_passwords(
    tmp_path, database_url
):
    """The key was POOL_KEY_FILE before web-hook secrets shared it (now SECRETS_KEY_FILE)."""
    key_file = tmp_path / "pool.key"
    key_file.write_bytes(Fernet.generate_key())
    password = Fernet(key_file.read_bytes()).encrypt(b"the pool's password").decode()
    env = dict(site_env(tmp_path, database_url), POOL_KEY_FILE=str(key_file))
    env.pop("SECRETS_KEY_FILE", None)

    result = manage(
        env,
        "shell",
        "--verbosity=0",
        "-c",
        f"from core.secrets import secret_decrypt; print(secret_decrypt({password!r}))",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the pool's password"
