"""Fixtures shared by every test: role users, API clients, real Celery workers, sandbox pools."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from core.choices import Role

# Fixtures shared by several test packages.
pytest_plugins = ["tests.fencing", "tests.pools"]

ROOT = Path(__file__).resolve().parent.parent

# A queue of our own, so a demo running on the same Redis never takes the tests' work.
settings.CONSOLE_QUEUE = f"console-test-{uuid.uuid4().hex[:8]}"
settings.ROUNDS_QUEUE = f"{settings.CONSOLE_QUEUE}.rounds"
os.environ["CONSOLE_QUEUE"] = settings.CONSOLE_QUEUE
# Likewise for cached state such as log-in failures.
settings.CACHES["default"]["KEY_PREFIX"] = settings.CONSOLE_QUEUE


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """On PostgreSQL, a test database of this run's own, named after its process.

    Two runs on one server (a session's and CI's, say) never drop each other's database,
    and a run killed with its workers still connected does not stop the next one from
    making its own. Databases of runs whose process is gone are dropped first.
    """
    import psycopg

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    prefix = f"test_{database['NAME']}_pid"
    with psycopg.connect(
        host=database["HOST"],
        port=database["PORT"] or None,
        user=database["USER"],
        password=database["PASSWORD"] or None,
        dbname=database["NAME"],
        autocommit=True,
    ) as server:
        names = server.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [prefix]
        ).fetchall()
        for (name,) in names:
            pid = name.removeprefix(prefix)
            if pid.isdigit() and not _pid_alive(int(pid)):
                server.execute(
                    psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        psycopg.sql.Identifier(name)
                    )
                )
    database.setdefault("TEST", {})["NAME"] = f"{prefix}{os.getpid()}"


@pytest.fixture(autouse=True)
def _own_cache_keys(settings):
    """Each test its own cache key prefix: log-in failures of one never lock out another.

    Django drops its cache connections when CACHES changes; the keys expire by themselves.
    """
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"{settings.CONSOLE_QUEUE}-{uuid.uuid4().hex[:8]}"
    settings.CACHES = caches


def redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url():
    if not redis_answers():
        pytest.fail(
            f"No Redis answers at {settings.REDIS_URL}: run the tests with `make test`, "
            "which starts one when none is reachable."
        )
    return settings.REDIS_URL


def _user(username: str, role: Role | None) -> User:
    user = User.objects.create_user(username=username, password="correct-horse-battery")
    if role is not None:
        user.groups.add(Group.objects.get(name=role.value))
    return user


@pytest.fixture
def admin_user(db):
    return _user("pool-admin", Role.POOL_ADMIN)


@pytest.fixture
def operator_user(db):
    return _user("operator", Role.POOL_OPERATOR)


@pytest.fixture
def readonly_user(db):
    return _user("reader", Role.READ_ONLY)


@pytest.fixture
def outsider_user(db):
    return _user("outsider", None)


@pytest.fixture
def role_users(admin_user, operator_user, readonly_user, outsider_user):
    return {
        "pool-admin": admin_user,
        "pool-operator": operator_user,
        "read-only": readonly_user,
        "outsider": outsider_user,
    }


def api_client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def token_client_for(user) -> APIClient:
    """A client that authenticates as a real one does, with an API token. Uploads need it:
    their gate (core/uploads.py) sees who asks before DRF, which alone honours
    force_authenticate."""
    from core.services.auth import api_token_create

    _token, key = api_token_create(user=user, name=f"test-{uuid.uuid4().hex[:8]}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def admin_api(admin_user):
    return api_client_for(admin_user)


def worker_in_this_process(queues: list[str], concurrency: int = 4):
    """A real Celery worker of the console, in this process, consuming `queues`."""
    from console.celery import app

    return start_worker(
        app,
        pool="threads",
        concurrency=concurrency,
        perform_ping_check=False,
        queues=queues,
        shutdown_timeout=30,
    )


@pytest.fixture
def console_worker(redis_url, transactional_db):
    """A real Celery worker consuming the console's queues, workflows and rounds."""
    with worker_in_this_process([settings.CONSOLE_QUEUE, settings.ROUNDS_QUEUE]) as worker:
        yield worker


@pytest.fixture
def sandbox_dir(tmp_path, settings):
    settings.SANDBOX_DIR = tmp_path / "sandbox"
    settings.SANDBOX_DIR.mkdir()
    return settings.SANDBOX_DIR


# Sandboxes an agent served; their host queues are dropped from Redis at the end.
SERVED_SANDBOXES: list[Path] = []


def start_agent(
    sandbox_dir: Path, report_interval: float = 2.0, redis_url: str | None = None
) -> subprocess.Popen:
    """The real agent, as its own process, serving every sandbox host under `sandbox_dir`.

    Its log goes to a file beside the sandbox (a pipe nobody reads would fill and stall it).
    """
    SERVED_SANDBOXES.append(sandbox_dir)
    from clusters.agents import console_public_key

    env = dict(
        os.environ,
        REDIS_URL=redis_url or settings.REDIS_URL,
        CONSOLE_QUEUE=settings.CONSOLE_QUEUE,
        AGENT_CONSOLE_KEY=console_public_key(),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = open(sandbox_dir.parent / "agent.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent",
            "serve",
            "--sandbox",
            str(sandbox_dir),
            "--report-interval",
            str(report_interval),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = ""):
    """Poll until `predicate()` is truthy; fail with `message` when time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(message or f"condition not met within {timeout} s")


@pytest.fixture(scope="session", autouse=True)
def _drop_test_queue_at_exit():
    yield
    if not redis_answers():
        return
    from agent.sandbox.host import iter_sandbox_hosts

    queues = [settings.CONSOLE_QUEUE, settings.ROUNDS_QUEUE]
    for sandbox in SERVED_SANDBOXES:
        for root in iter_sandbox_hosts(sandbox):
            queues += [f"host.{root.uuid}", f"_kombu.binding.host.{root.uuid}"]
    redis.Redis.from_url(settings.REDIS_URL).delete(*queues)


@pytest.fixture(autouse=True)
def _own_secrets_key(tmp_path, settings):
    """Each test encrypts secrets with a key of its own, never the checkout's var/keys."""
    settings.SECRETS_KEY_FILE = tmp_path / "secrets.key"


@pytest.fixture(autouse=True)
def _crash_store(tmp_path, settings):
    """Crash logs and uploads go to the test's own directory, never the checkout's var/."""
    settings.CRASH_STORE = tmp_path / "crash-store"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-spool")
