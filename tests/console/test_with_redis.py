import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PING = (
    "import os, redis; url = os.environ['REDIS_URL']; print(url, redis.Redis.from_url(url).ping())"
)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_private_redis_is_started_when_none_answers_and_stopped_after():
    dead = f"redis://127.0.0.1:{unused_port()}/0"
    result = subprocess.run(
        [sys.executable, "scripts/with_redis.py", sys.executable, "-c", PING],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": dead},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    url, pong = result.stdout.split()
    assert url != dead and pong == "True"
    assert "started a private one" in result.stderr
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # gone with the command


def test_a_reachable_redis_is_used_as_it_is(redis_url):
    result = subprocess.run(
        [sys.executable, "scripts/with_redis.py", sys.executable, "-c", PING],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == [redis_url, "True"]


def test_a_redis_that_already_answers_is_shared_and_the_command_says_so(redis_url):
    result = subprocess.run(
        [sys.executable, "scripts/with_redis.py", sys.executable, "-c", "pass"],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    where = redis_url.rpartition("@")[2].rpartition("://")[2]  # host:port/db, never a password
    assert f"Using the Redis that already answers at {where}" in result.stderr
    assert "shares the console's queues" in result.stderr and "--own" in result.stderr
    if "@" in redis_url:  # its password is no part of what is printed
        assert redis_url.partition("@")[0].rpartition(":")[2] not in result.stderr


def test_own_starts_a_redis_of_its_own_even_when_the_default_one_answers(redis_url):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "scripts/with_redis.py", "--own", sys.executable, "-c", PING],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    url, pong = result.stdout.split()  # stdout is the command's answer alone
    assert pong == "True" and url != redis_url
    assert url.startswith("redis://:") and "@127.0.0.1:" in url  # a password of its own
    assert "already answers" not in result.stderr
    assert "Started a password-protected Redis of its own" in result.stderr


# A command that, like the console's workers, goes on using Redis after its Ctrl-C.
STOPS_SLOWLY = """
import os, signal, time, redis
stopping = []
signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
print(os.environ["REDIS_URL"], flush=True)
while not stopping:
    time.sleep(0.05)
time.sleep(1)
print(redis.Redis.from_url(os.environ["REDIS_URL"]).ping(), flush=True)
"""


def own_redis(command: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "scripts/with_redis.py", "--own", sys.executable, "-c", command],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own, as a terminal's foreground job
    )


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def test_ctrl_c_leaves_the_private_redis_up_until_the_command_has_stopped():
    wrapped = own_redis(STOPS_SLOWLY)
    url = wrapped.stdout.readline().strip()
    os.killpg(wrapped.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    out, err = wrapped.communicate(timeout=60)
    assert out.strip() == "True", err  # the command still reached Redis while it stopped
    assert wrapped.returncode == 0
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port_of(url))) != 0  # then it went too


def test_the_private_redis_never_outlives_the_script_even_killed():
    wrapped = own_redis(
        "import os, time; print(os.environ['REDIS_URL'], flush=True); time.sleep(60)"
    )
    url = wrapped.stdout.readline().strip()
    try:
        wrapped.kill()  # SIGKILL: no chance to stop anything itself
        wrapped.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port_of(url))) != 0:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the private Redis at {url} outlived its script")
    finally:
        os.killpg(wrapped.pid, signal.SIGKILL)  # the command it ran, left behind
