"""Crash analysis: `python -m agent analyse-crash FILE --json` against `grep -E` with the
analyser's own needles (agent/crash/rules.py NEEDLES), on the same generated log.

    .venv/bin/python bench/crash_analysis.py [--mb 200] [--rounds 3]

Two logs of about --mb MB each, written to a temporary directory and removed afterwards:
dom0 kernel and daemon noise with a disk heartbeat fence near its end (what a fenced host
leaves), and the same noise with no failure at all (the analyser must read every byte).
Prints the best time of --rounds runs and the throughput of each; asserts only that the
analyser found the fence. No Django, no database.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PROGRESS, ROOT, counted

from agent.crash.rules import NEEDLES

NOISE = [
    "kernel: [{up:12.6f}] device vif{a}.0 entered promiscuous mode",
    "kernel: [{up:12.6f}] xenbr0: port {a}(vif{a}.0) entered forwarding state",
    "kernel: [{up:12.6f}] xen-blkback: backend/vbd/{a}/51712: using 4 queues, protocol 1",
    "kernel: [{up:12.6f}] sd {a}:0:0:1: [sdc] Write cache: enabled, read cache: enabled",
    "kernel: [{up:12.6f}] device-mapper: multipath: Reinstating path 8:{b}.",
    "kernel: [{up:12.6f}] o2dlm: Node {a} joins domain 7B8A63C1E2D94F0A85A2C2C0E0DF1D6E",
    "tapdisk[{pid}]: tapdisk-syslog: {b} messages, {a} overflows",
    "tapdisk[{pid}]: received 'sring connect' message (uuid = {a})",
    "multipathd: 36001405a1b2c3d4e5f6{b:04d}: sdc - tur checker reports path is up",
    "xapi: [ info||{pid} |VM.start R:1b2c3d4e|xenops] Caught Xenops_interface.Xenopsd_error",
    "xapi: [debug||{pid} |xapi events D:5f6a7b8c|xenops] Processing event: ['Vm', '{b}']",
    "SM: [{pid}] ['/usr/sbin/tap-ctl', 'list', '-m', '{a}'] = 0",
    "squeezed: [debug||{a} ||squeeze] total_range = {pid} gamma = 1.0 gamma' = 18.{b}",
    "xcp-rrdd: [ warn||{a} |monitor_write|rrdd_server] Failed to process plugin: xcp-rrdd-iostat",
    "sshd[{pid}]: Accepted publickey for root from 10.0.{a}.{b} port 5{b} ssh2",
    "systemd[1]: Started Session {pid} of user root.",
]
FENCE = [
    "kernel: [{up:12.6f}] (o2hb-6C0D2A4E50,2917,2):o2hb_write_timeout:290 ERROR: Heartbeat "
    "write timeout to device dm-3 after 60000 milliseconds",
    "kernel: [{up:12.6f}] (o2hb-6C0D2A4E50,2917,2):o2hb_stop_all_regions:2519 ERROR: "
    "stopping heartbeat on all active regions.",
    "kernel: [{up:12.6f}] Kernel panic - not syncing: *** ocfs2 is very sorry to be fencing "
    "this system by panicing ***",
]


def write_log(path: Path, megabytes: int, fence_at: float | None) -> int:
    """Noise lines (and the fence at `fence_at` of the size); returns the size in bytes."""
    rng = random.Random(1)
    target = megabytes * 1_000_000
    fence_byte = int(target * fence_at) if fence_at is not None else None
    size, seconds, uptime = 0, 1_732_500_000, 1000.0
    with open(path, "w") as out:
        while size < target:
            lines = []
            for _ in range(5000):
                seconds += rng.random() * 0.2
                uptime += rng.random() * 0.2
                stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(seconds))
                template = rng.choice(NOISE)
                fields = {"up": uptime, "a": rng.randrange(64), "b": rng.randrange(9999)}
                fields["pid"] = rng.randrange(1, 40000)
                lines.append(f"{stamp} xs-host-03 {template.format(**fields)}\n")
            last_chunk = size + sum(len(line) for line in lines) >= target
            if fence_byte is not None and (size >= fence_byte or last_chunk):
                stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(seconds))
                lines += [f"{stamp} xs-host-03 {t.format(up=uptime)}\n" for t in FENCE]
                fence_byte = None
            chunk = "".join(lines)
            out.write(chunk)
            size += len(chunk)
            PROGRESS.update(size // 1_000_000, f"{megabytes} MB")
    return size


def best_of(what: str, rounds: int, command: list[str], env: dict) -> tuple[float, bytes]:
    best, output = float("inf"), b""
    runs = counted(what, range(rounds), "runs", note=lambda: f"best {best:.2f} s")  # noqa: B023
    for _ in runs:
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=env, cwd=ROOT)
        best = min(best, time.perf_counter() - start)
        output = done.stdout
    return best, output


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pattern = "|".join(re.escape(n.decode()).replace("\\ ", " ") for n in NEEDLES)
    with tempfile.TemporaryDirectory(prefix="bench-crash-") as work:
        # Time the analysis, not Python compiling the agent on every run: bytecode is
        # cached (in the temporary directory) as it is on a host.
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONDONTWRITEBYTECODE")
        }
        env["PYTHONPYCACHEPREFIX"] = str(Path(work) / "pycache")
        cases = [("fence near the end", 0.995), ("no failure (whole log read)", None)]
        print(f"grep -E '{pattern}'")
        for label, fence_at in cases:
            log = Path(work) / "kern.log"
            PROGRESS.phase(f"{label}: writing the log")
            size = write_log(log, args.mb, fence_at)
            mb = size / 1e6
            subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # cache it
            PROGRESS.done(f"{mb:.0f} MB")
            ours, output = best_of(
                f"{label}: analyse-crash",
                args.rounds,
                [sys.executable, "-m", "agent", "analyse-crash", str(log), "--json"],
                env,
            )
            result = json.loads(output)
            if fence_at is not None:
                assert result["cause"] == "o2cb", result["explanation"]
            grep_command = ["grep", "-n", "-E", pattern, str(log)]
            grep, _ = best_of(f"{label}: grep -E", args.rounds, grep_command, env)
            print(
                f"{label}: {mb:.0f} MB, cause {result['cause']}\n"
                f"  analyse-crash {ours:6.2f} s {mb / ours:8.0f} MB/s\n"
                f"  grep -E       {grep:6.2f} s {mb / grep:8.0f} MB/s"
            )


if __name__ == "__main__":
    main()
