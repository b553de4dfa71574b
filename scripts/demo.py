"""Run the whole console with a simulated pool in the foreground; Ctrl-C stops it all.

web (Django), worker (Celery, queue "console"), beat (Celery beat) and the agent
serving every sandbox host. REDIS_URL must answer (scripts/with_redis.py sees to it).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def run(*args: str) -> None:
    subprocess.run([PY, *args], cwd=ROOT, check=True)


def note_exit(
    exits: list[float], now: float, window: float = 60, limit: int = 3
) -> tuple[list[float], bool]:
    """A process exited at `now`: its recent exits, and whether to stop restarting it (more
    than `limit` within `window` seconds)."""
    recent = [t for t in exits if now - t < window] + [now]
    return recent, len(recent) > limit


CELERY = [PY, "-m", "celery", "-A", "console"]


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
    run("manage.py", "migrate", "--no-input", "-v0")
    run("manage.py", "seed_demo")
    # The sandbox agent trusts this console's key: it refuses every call not sealed with it.
    os.environ["AGENT_CONSOLE_KEY"] = console_key()
    processes = console_processes(addr, os.environ.get("CONSOLE_QUEUE", "console"))
    processes["agent"] = [PY, "-m", "agent", "serve", "--sandbox", sandbox]
    print(f"\nConsole running at http://{addr}/  (Ctrl-C stops everything)\n", flush=True)
    return supervise(processes)


if __name__ == "__main__":
    sys.exit(main())
