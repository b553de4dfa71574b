"""Run a command with REDIS_URL pointing at a Redis that answers.

With --own (what `make demo` uses), unless REDIS_URL is set, always start a Redis of the
command's own on a free loopback port, with a new random password: nobody else on the
machine can read or write the console's messages.

If nothing answers at REDIS_URL (default redis://127.0.0.1:6379/0), start a private
redis-server on a free loopback port for as long as the command runs. If something does
answer there, use it and say so: whoever else uses that database shares the queues.
There is never a fake broker: without a real Redis the console does not start.
"""

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PR_SET_PDEATHSIG = 1  # prctl(2)


def _detached_from_the_terminal(parent: int):
    """What the private Redis does before it starts: a session of its own, so a terminal's
    Ctrl-C (sent to the whole foreground group) does not stop it under workers still
    finishing their own stop; and SIGTERM when this script ends, however it ends, so it
    never outlives the command."""

    def prepare() -> None:
        os.setsid()
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # gone before the line above: nobody would stop it
            os._exit(1)

    return prepare


def start_private_redis(password: str | None = None) -> tuple[subprocess.Popen, str]:
    server = shutil.which("redis-server")
    if server is None:
        sys.exit(
            "No Redis answers and redis-server is not installed (apt-get install redis-server)."
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="console-redis-")
    proc = subprocess.Popen(
        [
            server,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            *(["--requirepass", password] if password else []),
        ],
        stdout=subprocess.DEVNULL,
        preexec_fn=_detached_from_the_terminal(os.getpid()),  # before any thread starts
    )
    auth = f":{password}@" if password else ""
    url = f"redis://{auth}127.0.0.1:{port}/0"
    for _ in range(100):
        if answers(url):
            return proc, url
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"The private redis-server on port {port} did not start.")


def shared_notice(url: str) -> str:
    """What running on a Redis that was already there means, without its password."""
    where = url.rpartition("@")[2] if "@" in url else url.partition("://")[2]
    return (
        f"Using the Redis that already answers at {where}: anyone else using that database "
        "shares the console's queues (another console's workers would take its tasks). "
        "Give REDIS_URL a database of the console's own, or run with --own for a private "
        "Redis."
    )


def main() -> int:
    argv = sys.argv[1:]
    own = bool(argv) and argv[0] == "--own"
    command = argv[1:] if own else argv
    if not command:
        sys.exit("usage: with_redis.py [--own] COMMAND [ARGS...]")
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    private = None
    if own and "REDIS_URL" not in os.environ:
        private, url = start_private_redis(password=secrets.token_urlsafe(24))
        print(
            f"Started a password-protected Redis of its own on {url.rpartition('@')[2]}",
            file=sys.stderr,
        )
    elif not answers(url):
        private, url = start_private_redis()
        print(f"No Redis answered; started a private one at {url}", file=sys.stderr)
    else:
        print(shared_notice(url), file=sys.stderr)
    env = dict(os.environ, REDIS_URL=url)
    child = subprocess.Popen(command, env=env)
    # Ctrl-C reaches the whole foreground group; wait for the child to finish its own stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        return child.wait()
    finally:
        if private is not None:
            private.terminate()
            private.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
