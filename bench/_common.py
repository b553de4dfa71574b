"""Shared set-up for the benchmarks: a database of their own and Django."""

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project's packages, for every benchmark


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
    os.environ["DATABASE_URL"] = (
        fresh_postgres(postgres, database) if postgres else f"sqlite:///{work / 'bench.sqlite3'}"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)
    return work


def start_console_worker(queues: str, env: dict | None = None) -> subprocess.Popen:
    """A real console worker process (4 threads) consuming `queues` (comma-separated)."""
    command = [sys.executable, "-m", "celery", "-A", "console", "worker", "-Q", queues]
    command += ["--pool", "threads", "-c", "4", "-l", "warning"]
    return subprocess.Popen(command, cwd=ROOT, env=dict(os.environ) if env is None else env)
