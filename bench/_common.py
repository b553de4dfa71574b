"""Shared set-up for the benchmarks: a database of their own and Django, and the reporter
that tells on stderr what a benchmark is doing while its figures wait for stdout."""

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project's packages, for every benchmark

from agent.progress import Progress  # noqa: E402

# One reporter per benchmark: its phases on stderr, stdout keeps only the figures. Never
# told from inside a timed section: between two timed samples at most.
PROGRESS = Progress()


def counted(what: str, items, unit: str = "", note=None):
    """Each of `items` in turn, telling "`what`: k of n `unit`" after each one (between the
    steps, never inside one, so a timed step is not slowed); `note()`, when given, adds to
    the line (the last step's figure, say)."""
    items = list(items)
    total = f"{len(items)} {unit}".rstrip()
    PROGRESS.phase(what)
    for index, item in enumerate(items, 1):
        yield item
        if index < len(items):
            PROGRESS.update(index, total, note=note() if note else None)
    result = f"{len(items)} of {total}"
    PROGRESS.done(f"{result}, {note()}" if note and items else result)


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_postgres(server_url: str, name: str = "o2cb_bench") -> str:
    """Drop and create database `name` on the server; never touches the named database."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def setup_django(postgres: str | None, prefix: str, database: str = "o2cb_bench") -> Path:
    """Point Django at a fresh database (`database` on the PostgreSQL server, else a SQLite
    file), migrate it, and return a scratch directory."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    if postgres:
        PROGRESS.phase(f"a fresh database {database} on the PostgreSQL server")
        os.environ["DATABASE_URL"] = fresh_postgres(postgres, database)
        PROGRESS.done()
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    with PROGRESS.running(f"migrating the {'PostgreSQL' if postgres else 'SQLite'} database"):
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "--no-input", verbosity=0)
    return work


def start_console_worker(queues: str, env: dict | None = None) -> subprocess.Popen:
    """A real console worker process (4 threads) consuming `queues` (comma-separated)."""
    command = [sys.executable, "-m", "celery", "-A", "console", "worker", "-Q", queues]
    command += ["--pool", "threads", "-c", "4", "-l", "warning"]
    PROGRESS.say(f"starting a console worker (4 threads) on {queues}")
    return subprocess.Popen(command, cwd=ROOT, env=dict(os.environ) if env is None else env)
