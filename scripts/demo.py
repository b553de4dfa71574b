"""Run the whole console with a simulated pool in the foreground; Ctrl-C stops it all.

web (Django), worker (Celery, queue "console"), beat (Celery beat) and the agent
serving every sandbox host. REDIS_URL must answer (scripts/with_redis.py sees to it).
"""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
sys.path.insert(0, str(ROOT))

from agent.progress import Progress  # noqa: E402

# Seconds the console's processes may take to answer before the demo says they did not.
READY_BOUND = 120


def run(*args: str) -> None:
    subprocess.run([PY, *args], cwd=ROOT, check=True)


def note_exit(
    exits: list[float], now: float, window: float = 60, limit: int = 3
) -> tuple[list[float], bool]:
    """A process exited at `now`: its recent exits, and whether to stop restarting it (more
    than `limit` within `window` seconds)."""
    recent = [t for t in exits if now - t < window] + [now]
    return recent, len(recent) > limit


# -q: no start-up banner per worker; the demo says itself when the workers answer.
CELERY = [PY, "-m", "celery", "-A", "console", "-q"]


def celery_worker(queue: str, name: str) -> list[str]:
    # Warnings and errors only: health rounds every 5 s would bury everything else.
    return [
        *CELERY,
        "worker",
        "-Q",
        queue,
        "--pool",
        "threads",
        "-c",
        "4",
        "-l",
        "warning",
        "-n",
        f"{name}@%h",
    ]


def console_processes(addr: str, queue: str) -> dict[str, list[str]]:
    """The console's own processes: web, the two workers and beat."""
    return {
        "web": [PY, "manage.py", "runserver", addr, "--noreload"],
        "worker": celery_worker(queue, "console"),
        # Rounds (I/O health, sweeps) and reports on a worker of their own: no workflow
        # can hold them up.
        "rounds": celery_worker(f"{queue}.rounds", "rounds"),
        "beat": [*CELERY, "beat", "-l", "warning", "-s", str(ROOT / "var" / "celerybeat-schedule")],
    }


def console_key() -> str:
    """This console's public key, which the agents it starts trust."""
    return subprocess.check_output([PY, "manage.py", "console_key"], cwd=ROOT, text=True).strip()


def web_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own http URL
            return answer.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def workers_answering(names: list[str]) -> list[str]:
    """Which of the Celery workers named (their name before "@") answer a ping now."""
    from celery import Celery

    app = Celery(broker=os.environ["REDIS_URL"], set_as_current=False)
    try:
        replies = app.control.ping(timeout=1.0) or []
    except Exception:  # the broker not up yet: nobody answers
        return []
    finally:
        app.close()
    up = {name.partition("@")[0] for reply in replies for name in reply}
    return [name for name in names if name in up]


def announce_ready(
    progress: Progress, url: str, workers: list[str], what: str, also=None, bound=READY_BOUND
):
    """Wait (in a thread) until the web answers and every worker pings back, then say
    "ready". `also`, when given, is one more condition: (done, its state)."""

    def wait():
        deadline = time.monotonic() + bound
        progress.phase(f"waiting for the web at {url} and workers {', '.join(workers)}")
        while time.monotonic() < deadline:
            web = web_answers(url)
            up = workers_answering(workers)
            extra_done, extra_note = also() if also else (True, "")
            if web and len(up) == len(workers) and extra_done:
                progress.ready(f"{what} at {url}  (Ctrl-C stops everything)")
                return
            note = f"web {'up' if web else 'starting'}, {len(up)} of {len(workers)} workers"
            progress.update(bound=bound, note=f"{note}{extra_note}")
            time.sleep(1)
        progress.done(f"not ready within {bound} s; see the processes' output above")

    threading.Thread(target=wait, daemon=True).start()


def supervise(processes: dict[str, list[str]], tick=None) -> int:
    """Run the processes until Ctrl-C, restarting one that exits (as a service manager
    does: a Celery worker can give up when Redis restarts under it) unless it keeps
    exiting. `tick`, when given, is called twice a second."""
    children = {name: subprocess.Popen(cmd, cwd=ROOT) for name, cmd in processes.items()}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    exits: dict[str, list[float]] = {name: [] for name in processes}
    while not stopping:
        for name, child in children.items():
            if child.poll() is None:
                continue
            exits[name], give_up = note_exit(exits[name], time.monotonic())
            if give_up:
                print(f"{name} keeps exiting; stopping the rest.", file=sys.stderr)
                exit_code, stopping = 1, True
                break
            print(f"{name} exited with {child.returncode}; starting it again.", file=sys.stderr)
            children[name] = subprocess.Popen(processes[name], cwd=ROOT)
        if tick is not None:
            tick()
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    for child in children.values():
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code


def main() -> int:
    addr = os.environ.get("DEMO_ADDR", "127.0.0.1:8000")
    sandbox = os.environ.get("SANDBOX_DIR", str(ROOT / "var" / "sandbox"))
    progress = Progress()
    progress.phase("migrations")
    run("manage.py", "migrate", "--no-input", "-v0")
    progress.done()
    progress.phase("seeding the sandbox pool")
    run("manage.py", "seed_demo")
    progress.done()
    # The sandbox agent trusts this console's key: it refuses every call not sealed with it.
    progress.phase("the console's key")
    os.environ["AGENT_CONSOLE_KEY"] = console_key()
    progress.done()
    processes = console_processes(addr, os.environ.get("CONSOLE_QUEUE", "console"))
    processes["agent"] = [PY, "-m", "agent", "serve", "--sandbox", sandbox]
    progress.say(f"starting {', '.join(processes)}")
    announce_ready(progress, f"http://{addr}/", ["console", "rounds", "agent-sandbox"], "console")
    return supervise(processes)


if __name__ == "__main__":
    sys.exit(main())
