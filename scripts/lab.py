"""Run the console managing real-kernel hosts: QEMU guests on Debian's kernel (make lab).

The console runs as `make demo` runs it (web, workers, beat) with a database of its own
under var/lab/, and no sandbox: its hosts are LAB_HOSTS guests (default 3), each running
the real agent against real O2CB, OCFS2, multipathd and bonding. They register
themselves; the lab accepts them into one auto-join cluster and starts it. A guest that
fences or reboots comes back by itself. Ctrl-C stops everything.

Faults from outside: `python -m lab fault lab-02 stall-lun lun0` (see `python -m lab -h`)
or the console's Faults page.
"""

import fcntl
import os
import subprocess
import sys

from demo import PY, ROOT, announce_ready, console_key, console_processes, run, supervise

sys.path.insert(0, str(ROOT))

from agent.progress import Progress  # noqa: E402
from lab.kernel import GuestKernel, LabError, probe_accel  # noqa: E402
from lab.pool import Lab, LabSettings, guests_note  # noqa: E402

LAB_DIR = ROOT / "var" / "lab"
SEED_WAIT = 600  # seconds seed_lab waits for the guests' agents to report


def main() -> int:
    # Beside `make demo`, on a port of its own.
    addr = os.environ.get("LAB_ADDR", "127.0.0.1:8100")
    hosts = int(os.environ.get("LAB_HOSTS", "3"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{LAB_DIR / 'console.sqlite3'}")
    os.environ.setdefault("SANDBOX_DIR", str(LAB_DIR / "no-sandbox"))
    os.environ["LAB_DIR"] = str(LAB_DIR)
    queue = os.environ.get("CONSOLE_QUEUE", "console")
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    lock = open(LAB_DIR / "lab.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"error: a lab is already running from {LAB_DIR}; stop it first.", file=sys.stderr)
        return 1
    kernel = GuestKernel(LAB_DIR / "kernel")
    progress = Progress()
    try:
        # The first time: Debian's linux-image-amd64 downloaded and unpacked (a minute).
        progress.phase("the guests' kernel (Debian's linux-image-amd64)")
        kernel.prepare()
        progress.done(f"release {kernel.release}")
        with progress.running("probing KVM with a test boot", bound=20):
            accel = probe_accel(kernel)
        progress.say(f"accelerator: {accel}")
    except LabError as exc:
        progress.done("failed")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    progress.phase("migrations")
    run("manage.py", "migrate", "--no-input", "-v0")
    progress.done()
    settings = LabSettings(
        hosts=hosts,
        accel=accel,
        redis_url=os.environ["REDIS_URL"],
        console_key=console_key(),
        console_queue=queue,
    )
    lab = Lab.create(LAB_DIR, settings)
    progress.phase(f"the SAN and {hosts} guests ({accel}), consoles in {LAB_DIR}/lab-NN/")
    lab.start()
    progress.done("started")
    processes = console_processes(addr, queue)
    names = [guest.name for guest in lab.guests]
    seed = subprocess.Popen(
        [PY, "manage.py", "seed_lab", *names, "--wait", str(SEED_WAIT)], cwd=ROOT
    )
    progress.say(f"starting {', '.join(processes)}; seeding the lab pool")

    def lab_ready():
        all_up, note = guests_note(lab.guest_states())
        seeded = seed.poll() == 0
        return all_up and seeded, f"; {note}; hosts {'accepted' if seeded else 'not all accepted'}"

    def tick():
        for line in lab.restart_exited():
            progress.say(line)

    announce_ready(
        progress,
        f"http://{addr}/",
        ["console", "rounds"],
        "lab console",
        also=lab_ready,
        bound=SEED_WAIT + 60,
    )
    try:
        return supervise(processes, tick)
    finally:
        if seed.poll() is None:
            seed.terminate()
        lab.stop()


if __name__ == "__main__":
    sys.exit(main())
