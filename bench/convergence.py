"""Convergence: time from a membership change to every host's cluster.conf changed and
verified by the real o2cb. Real Redis, a real console worker and the real agent serving
N sandbox hosts.

    .venv/bin/python scripts/with_redis.py .venv/bin/python bench/convergence.py --hosts 64

Uses a database of its own: a SQLite file, or with --postgres SERVER_URL a fresh
database `o2cb_bench` on that server (never the one DATABASE_URL names), and a sandbox
under a temporary directory. Prints the figures; asserts nothing.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

from _common import PROGRESS, ROOT, counted, setup_django, start_console_worker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--postgres", help="server URL, e.g. postgres://postgres@127.0.0.1/postgres"
    )
    args = parser.parse_args()

    os.environ["CONSOLE_QUEUE"] = f"bench-{os.getpid()}"
    os.environ["MONITOR_INTERVAL"] = "3600"
    work = setup_django(args.postgres, "convergence")
    import django

    from agent.host import hello
    from agent.sandbox.host import create_sandbox_host
    from clusters.models import Host, Membership
    from clusters.services.hosts import host_accept, host_record_report
    from clusters.services.memberships import cluster_create
    from core.models import Task

    sandbox = work / "sandbox"
    roots = [
        create_sandbox_host(sandbox, f"b{i:03d}", address=f"127.0.2.{i % 250 + 1}")
        for i in counted("making the sandbox", range(args.hosts + args.rounds), "hosts")
    ]
    env = dict(os.environ)
    worker = start_console_worker(f"{env['CONSOLE_QUEUE']},{env['CONSOLE_QUEUE']}.rounds", env)
    from clusters.agents import console_public_key

    agent_env = {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"}
    agent_env["AGENT_CONSOLE_KEY"] = console_public_key()
    PROGRESS.say(f"starting the agent serving {len(roots)} sandbox hosts")
    agent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent",
            "serve",
            "--sandbox",
            str(sandbox),
            "--concurrency",
            "16",
            "--report-interval",
            "3600",
        ],
        cwd=ROOT,
        env=agent_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        cluster = cluster_create(name="Bench", cluster_name="bench", hosts=[], actor=None)
        for root in counted("building the pool", roots[: args.hosts], "hosts accepted"):
            host_accept(host=host_record_report(report=hello(root)), actor=None)
        with PROGRESS.running(
            "waiting for the pool's tasks (worker and agent starting)", bound=120
        ):
            wait_idle(Task)
        timings = []
        rounds = counted(
            f"{args.hosts} hosts, one more joining each round",
            range(args.rounds),
            "rounds",
            note=lambda: f"last round {timings[-1][0]:.3f} s",
        )
        for round_ in rounds:
            root = roots[args.hosts + round_]
            members = list(
                Host.objects.filter(memberships__cluster=cluster, memberships__left__isnull=True)
            )
            confs = [sandbox / h.hostname / "etc/ocfs2/cluster.conf" for h in members]
            start = time.perf_counter()
            host_accept(host=host_record_report(report=hello(root)), actor=None)
            number = Membership.objects.get(host__hostname=root.hostname).number
            needle = f"name = {root.hostname}"
            pending = set(confs)
            while pending:
                pending = {c for c in pending if needle not in c.read_text()}
                time.sleep(0.005)
            changed = time.perf_counter() - start
            for conf in confs[:: max(1, len(confs) // 8)]:  # the real o2cb reads a sample
                out = subprocess.run(
                    ["o2cb", f"--config-file={conf}", "list-nodes", "bench"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                assert f"number = {number}" in out
            verified = time.perf_counter() - start
            timings.append((changed, verified))
            wait_idle(Task)
        changed = [t[0] for t in timings]
        print(f"hosts={args.hosts} rounds={args.rounds} db={django.db.connection.vendor}")
        print(
            f"every cluster.conf changed: median {statistics.median(changed):.3f} s, "
            f"max {max(changed):.3f} s"
        )
        print(
            f"changed and sampled by o2cb: median {statistics.median(t[1] for t in timings):.3f} s"
        )
    finally:
        for proc in (agent, worker):
            proc.terminate()
            proc.wait(timeout=30)


def wait_idle(Task, timeout=120.0):
    deadline = time.monotonic() + timeout
    while Task.objects.filter(status__in=["pending", "running"]).exists():
        if time.monotonic() > deadline:
            stuck = Task.objects.filter(status__in=["pending", "running"])
            raise SystemExit(
                "tasks did not finish: "
                + "; ".join(f"{t.name} ({t.status}, attempt {t.attempt})" for t in stuck)
            )
        time.sleep(0.05)


if __name__ == "__main__":
    main()
