"""API throughput under gunicorn (2 workers) against a bare Django JSON view served the
same way, with the same load generator, in the same run.

    .venv/bin/python scripts/with_redis.py .venv/bin/python bench/api_throughput.py \\
        --postgres postgres://postgres@127.0.0.1/postgres

The console's host and membership lists (64 hosts, token authentication, pagination,
filters) against a one-view Django project reading the same 50 host rows from the same
database. Both keep their database connections (DB_CONN_MAX_AGE, 60 s by default, as
console/wsgi.py sets for the web process). Target: at least half the bare figure.
Prints figures; asserts nothing.
"""

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from _common import PROGRESS, ROOT, counted, free_port, setup_django

BARE_PROJECT = """
import os
import dj_database_url

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "bare"
INSTALLED_APPS = []
MIDDLEWARE = []
USE_TZ = True
DATABASES = {"default": dj_database_url.parse(
    os.environ["DATABASE_URL"], conn_max_age=int(os.environ["DB_CONN_MAX_AGE"]))}
"""
# The least Django can do to answer the same question: one query for the same 50 rows
# (and their count, as a page does), as JSON. No authentication, middleware or framework.
BARE_URLS = """
from django.db import connection
from django.http import JsonResponse
from django.urls import path

COLUMNS = ("id", "uuid", "hostname", "addresses", "enabled", "registration", "sandbox",
           "boot_time", "last_heard", "agent_version", "created")
QUERY = (f"SELECT {', '.join(COLUMNS)}, count(*) OVER () FROM clusters_host "
         "ORDER BY hostname LIMIT 50")


def rows(request):
    with connection.cursor() as cursor:
        cursor.execute(QUERY)
        fetched = cursor.fetchall()
    results = [dict(zip(COLUMNS, row[:-1])) for row in fetched]
    return JsonResponse({"count": fetched[0][-1] if fetched else 0, "results": results})


urlpatterns = [path("rows/", rows)]
"""


def serve(module: str, cwd: Path, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            module,
            "--log-level",
            "warning",
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with PROGRESS.running(f"starting gunicorn -w 2 {module}", bound=10):
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"gunicorn {module} did not start")
    return proc, port


def load(port: int, path: str, headers: dict, seconds: float, clients: int) -> float:
    """Requests per second from `clients` keep-alive connections for `seconds`."""
    done, stop, errors = [0] * clients, time.monotonic() + seconds, []

    def client(index):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"{path}: HTTP {response.status}")
                return
            done[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(errors[0])
    return sum(done) / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="server URL; default a SQLite file")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    work = setup_django(args.postgres, "api")

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from clusters.models import Cluster, Host, Membership
    from core.choices import Role
    from core.services.auth import api_token_create

    user = get_user_model().objects.create_user("bench")
    user.groups.add(Group.objects.get(name=Role.READ_ONLY))
    cluster = Cluster.objects.create(name="Bench", cluster_name="bench")
    for i in counted("building the pool", range(64), "hosts"):
        host = Host.objects.create(
            hostname=f"h{i:03d}", registration="accepted", addresses=[f"10.0.0.{i + 1}"]
        )
        Membership.objects.create(
            cluster=cluster, host=host, number=i, host_uuid=host.uuid, hostname=host.hostname
        )
    _token, key = api_token_create(user=user, name="bench")

    (work / "bare_settings.py").write_text(BARE_PROJECT)
    (work / "bare.py").write_text(BARE_URLS)
    (work / "bare_wsgi.py").write_text(
        "import os\nos.environ['DJANGO_SETTINGS_MODULE'] = 'bare_settings'\n"
        "from django.core.wsgi import get_wsgi_application\n"
        "application = get_wsgi_application()\n"
    )
    env = dict(
        os.environ,
        DB_CONN_MAX_AGE=os.environ.get("DB_CONN_MAX_AGE", "60"),
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",  # production settings, but plain HTTP on loopback
        SECRET_KEY="bench-only-" + "x" * 50,
        PYTHONPATH=f"{work}:{ROOT}",
    )
    console, console_port = serve("console.wsgi:application", ROOT, env)
    bare, bare_port = serve("bare_wsgi:application", work, env)
    auth = {"Authorization": f"Token {key}"}
    targets = {
        "bare Django JSON view": (bare_port, "/rows/", {}),
        "API /api/hosts/": (console_port, "/api/hosts/", auth),
        "API /api/memberships/": (console_port, "/api/memberships/", auth),
    }
    try:
        PROGRESS.phase("warming both up, 1 s each")
        load(bare_port, "/rows/", {}, 1, args.clients)
        load(console_port, "/api/hosts/", auth, 1, args.clients)
        PROGRESS.done()
        figures = {}
        loads = counted(
            f"the load, {args.seconds:g} s each",
            targets.items(),
            "URLs",
            note=lambda: f"the last {list(figures.values())[-1]:.0f} req/s",
        )
        for name, (port, path, headers) in loads:
            figures[name] = load(port, path, headers, args.seconds, args.clients)
    finally:
        for proc in (console, bare):
            proc.terminate()
            proc.wait(timeout=30)
    bare_rate = figures["bare Django JSON view"]
    print(f"gunicorn -w 2, {args.clients} keep-alive clients, {args.seconds:g} s each")
    for name, rate in figures.items():
        print(f"{name:24} {rate:8.0f} req/s  ({rate / bare_rate:.0%} of bare)")
    print("target: at least 50% of bare")


if __name__ == "__main__":
    main()
