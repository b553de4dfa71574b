"""The agent's footprint on a host: resident memory and CPU, idle and probing every 5 s,
against a bare Celery worker on the same broker, in the same run.

    .venv/bin/python scripts/with_redis.py .venv/bin/python bench/agent_footprint.py

The agent serves one sandbox host (the probe parses real multipathd and bonding text
and reads the heartbeat files, as on a host). Prints figures; asserts nothing.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PROGRESS, ROOT

CLOCK = os.sysconf("SC_CLK_TCK")
BARE_APP = """
import os
from celery import Celery
app = Celery("bare", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
app.conf.update(worker_hijack_root_logger=False)
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK


def measure(what: str, pid: int, seconds: float, during=None) -> tuple[float, float]:
    """(peak RSS MB, share of one core) over `seconds`, calling `during()` every 5 s. What
    is measured is process `pid`; this one tells how far it is between two samples."""
    PROGRESS.phase(what)
    start_cpu, start, peak, next_call = cpu_seconds(pid), time.monotonic(), 0.0, 0.0
    while (elapsed := time.monotonic() - start) < seconds:
        if during and elapsed >= next_call:
            during()
            next_call += 5
        peak = max(peak, rss_mb(pid))
        PROGRESS.update(bound=seconds)
        time.sleep(0.5)
    share = (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start) * 100
    PROGRESS.done(f"{peak:.1f} MB at most, {share:.2f}% of a core")
    return peak, share


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    from agent.sandbox.host import create_sandbox_host
    from agent.sandbox.io import create_sandbox_san
    from agent.worker import app

    work = Path(tempfile.mkdtemp(prefix="bench-footprint-"))
    PROGRESS.phase("a sandbox host with 16 LUNs")
    create_sandbox_san(work / "sandbox", count=16)
    root = create_sandbox_host(work / "sandbox", "fp-1", address="127.0.1.1")
    PROGRESS.done()
    from agent import contract, signing

    console_key = signing.load_or_create_key(work / "console.key")
    env = dict(
        os.environ,
        CONSOLE_QUEUE="bench-footprint",
        AGENT_CONSOLE_KEY=signing.public_text(console_key),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    (work / "bare_app.py").write_text(BARE_APP)
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--sandbox", str(work / "sandbox")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bare = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bare_app",
            "worker",
            "--pool",
            "threads",
            "-c",
            "4",
            "-Q",
            "bench-bare",
            "-l",
            "warning",
        ],
        cwd=work,
        env={**env, "PYTHONPATH": str(work)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def probe():
        sealed = signing.seal(
            console_key,
            signer=contract.CONSOLE_SIGNER,
            purpose=contract.call_purpose("io_probe", root.uuid),
            payload={"contract": contract.CONTRACT_VERSION},
        )
        app.send_task(
            "agent.io_probe",
            kwargs={"host_uuid": root.uuid, "sealed": sealed},
            queue=f"host.{root.uuid}",
        ).get(timeout=30)

    try:
        with PROGRESS.running("the agent and a bare Celery worker starting and settling", bound=8):
            time.sleep(8)
        with PROGRESS.running("the agent's first probe (it imports what probing needs)", bound=30):
            probe()
        bare_rss, bare_cpu = measure("bare Celery worker, idle", bare.pid, args.seconds)
        idle_rss, idle_cpu = measure("agent, idle", agent.pid, args.seconds)
        busy_rss, busy_cpu = measure(
            "agent, probed every 5 s", agent.pid, args.seconds, during=probe
        )
    finally:
        for proc in (agent, bare):
            proc.terminate()
            proc.wait(timeout=30)
    print(f"over {args.seconds:g} s each; one sandbox host with 16 LUNs x 2 paths and a bond")
    print(
        f"bare Celery worker, idle:        {bare_rss:5.1f} MB resident, {bare_cpu:4.2f}% of a core"
    )
    print(
        f"agent, idle (reports every 10 s): {idle_rss:5.1f} MB resident, {idle_cpu:4.2f}% of a core"
    )
    print(
        f"agent, probed every 5 s:         {busy_rss:5.1f} MB resident, {busy_cpu:4.2f}% of a core"
    )
    print("target: under 60 MB resident and under 1% of a core idle")


if __name__ == "__main__":
    main()
