"""I/O-health rounds fanned out over rounds workers: 1,000 hosts within the 5 s round?

    .venv/bin/python scripts/with_redis.py --own .venv/bin/python bench/io_rounds_scale.py \
        --postgres postgres://postgres@127.0.0.1:5432/postgres

1,000 accepted hosts in 16 groups of 64 (one shard each, IO_HEALTH_SHARD_HOSTS=64), each
reporting 16 LUNs x 4 paths, a bond and a heartbeat region (read by the real multipathd
and bonding parsers), a quarter of them losing a path every other 5 s so alerts open and
clear. Rounds run on 1, 2, ... rounds workers (real `celery worker` processes, real Redis,
PostgreSQL) in turn, round by round, so load from elsewhere falls on each alike: worker i
consumes the queue of every count above i. Each round is what beat sends,
`io_health_round_start`, one task per shard; its time runs from sending the shards to the
last host's verdict stored. The
agents' part is recorded (bench/_rounds_worker.py says what that leaves out). Prints
figures; asserts nothing. `--profile` shows where one shard's time goes (cProfile).
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import PROGRESS, ROOT, counted, setup_django

BENCH = Path(__file__).resolve().parent
DATABASE = "o2cb_bench_rounds"


def recorded_probes(luns: int, paths: int) -> dict:
    """A host's probe healthy and with one path down, as the agent builds it."""
    from io_collection import topology

    from agent.probes.bonding import parse_bonding
    from agent.probes.multipath import parse_multipath
    from agent.probes.multipath_conf import queueing_for
    from agent.sandbox.io import render_bond

    def probe(failed):
        maps = parse_multipath(topology(luns, paths, failed))["maps"]
        return {
            "time": "2026-12-03T12:00:00+00:00",
            "multipath": {
                "available": True,
                "maps": maps,
                "queueing": [queueing_for(None, m) for m in maps],
                "error": None,
            },
            "bonds": [
                parse_bonding(render_bond({"down_slaves": [], "link_failures": {}}), name="bond0")
            ],
            "heartbeat": {
                "clusters": [
                    {
                        "name": "pool",
                        "dead_ms": 60000,
                        "fence_method": "panic",
                        "connected_nodes": list(range(64)),
                        "regions": [{"region": "A" * 32, "device": "dm-0", "elapsed_ms": 700}],
                    }
                ]
            },
            "ha": None,
        }

    return {"healthy": probe(set()), "one_path_down": probe({"sd0x1"})}


def make_hosts(groups: int, per_group: int) -> None:
    from _rounds_worker import bench_host_key

    from agent import signing
    from clusters.models import Host

    hosts = []
    for index in range(groups * per_group):
        host_uuid = uuid.uuid4()
        hosts.append(
            Host(
                uuid=host_uuid,
                hostname=f"g{index // per_group:02d}-h{index % per_group:02d}",
                registration="accepted",
                public_key=signing.public_text(bench_host_key(host_uuid)),
            )
        )
    Host.objects.bulk_create(hosts)


def queue_for(count: int) -> str:
    """The queue of rounds run by `count` workers: workers 0 .. count-1 consume it."""
    return f"{os.environ['CONSOLE_QUEUE']}.rounds-on-{count}"


def start_workers(counts: list[int], concurrency: int, env: dict, logs: Path) -> list:
    workers = []
    for index in range(max(counts)):
        queues = ",".join(queue_for(count) for count in counts if count > index)
        log = open(logs / f"worker-{index}.log", "ab")  # noqa: SIM115 - the child owns it
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "_rounds_worker",
                    "worker",
                    "-Q",
                    queues,
                    "--pool",
                    "threads",
                    "--concurrency",
                    str(concurrency),
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    f"bench-rounds-{index}@%h",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=BENCH,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return workers


def stop(processes) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def workers_ready(count: int, logs: Path, timeout: float = 60) -> None:
    from console.celery import app

    PROGRESS.phase(f"waiting for {count} rounds workers to answer (their logs in {logs})")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        answers = app.control.ping(timeout=1.0) or []
        up = sum(1 for a in answers for name in a if name.startswith("bench-rounds-"))
        if up >= count:
            PROGRESS.done("all up")
            return
        PROGRESS.update(up, count, bound=timeout)
    PROGRESS.done("gave up")
    raise SystemExit(f"{count} rounds workers did not start: see their logs in {logs}")


def cpu_seconds(pids) -> float:
    """User and system CPU the processes used so far (all their threads)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def one_round(total: int, interval: float) -> float:
    """Seconds from sending a round's shards (to settings.ROUNDS_QUEUE) to every host's
    verdict of that round."""
    from django.utils import timezone

    from clusters.iohealth.rounds import io_health_round_start
    from clusters.models import HostIOHealth

    started = timezone.now()
    begin = time.perf_counter()
    io_health_round_start(interval=interval, hosts_per_shard=64)
    while HostIOHealth.objects.filter(checked__gte=started).count() < total:
        if time.perf_counter() - begin > interval:
            raise SystemExit(f"the round did not finish within {interval:g} s")
        time.sleep(0.02)
    return time.perf_counter() - begin


def profile_one_shard(probes: Path) -> None:
    """Where one shard's time goes, under cProfile in this process (its threads' agent
    calls show as waits; the transport is timed alone first)."""
    import cProfile
    import pstats

    import _rounds_worker

    from clusters import agents
    from clusters.iohealth.rounds import io_health_collect_shard, io_health_shards
    from clusters.models import Host

    transport = _rounds_worker.RecordedTransport(str(probes))
    agents.TRANSPORT = transport
    shard = io_health_shards(hosts_per_shard=64)[0]
    hosts = list(Host.objects.filter(pk__in=shard.host_ids))
    begin = time.perf_counter()
    for host in hosts:
        transport.send(host, "io_probe", {}, 60)
    each = (time.perf_counter() - begin) / len(hosts) * 1000
    print(f"recorded transport alone, one after another: {each:.2f} ms per host")
    profile = cProfile.Profile()
    profile.enable()
    io_health_collect_shard(shard=shard.key, host_ids=shard.host_ids, deadline=time.time() + 60)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", required=True, help="server URL (a database is made)")
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--hosts-per-group", type=int, default=64)
    parser.add_argument("--workers", default="1,2,4", help="rounds worker counts to run")
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker")
    parser.add_argument("--rounds", type=int, default=6, help="measured, after one warm-up")
    parser.add_argument("--luns", type=int, default=16)
    parser.add_argument("--paths-per-lun", type=int, default=4)
    parser.add_argument(
        "--profile", action="store_true", help="also profile one shard in this process"
    )
    args = parser.parse_args()
    # Stopped from outside, still stop the workers (the `finally` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    queue = f"bench-rounds-{uuid.uuid4().hex[:8]}"
    os.environ["CONSOLE_QUEUE"] = queue
    os.environ["BENCH_PROBES"] = ""  # this process sends rounds; it reaches no agent
    keys = tempfile.mkdtemp(prefix="bench-rounds-key-")
    os.environ["CONSOLE_KEY_FILE"] = str(Path(keys) / "console.key")
    work = setup_django(args.postgres, "rounds", database=DATABASE)
    import json

    from django.conf import settings
    from django.db import connection

    from clusters.models import HealthSample
    from core.models import Alert

    total = args.groups * args.hosts_per_group
    PROGRESS.phase(f"the pool: {total} hosts in {args.groups} groups, their probes recorded")
    probes = work / "probes.json"
    probes.write_text(json.dumps(recorded_probes(args.luns, args.paths_per_lun)))
    make_hosts(args.groups, args.hosts_per_group)
    PROGRESS.done()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        DATABASE_URL=os.environ["DATABASE_URL"],
        BENCH_PROBES=str(probes),
    )
    interval = 60.0  # a round of one worker may take longer than 5 s: let it finish
    connection.close()
    print(
        f"{total} hosts in {args.groups} shards of {args.hosts_per_group}, "
        f"{args.luns * args.paths_per_lun} paths each; threads per worker {args.concurrency}"
    )
    counts = sorted({int(n) for n in args.workers.split(",")})
    times = {count: [] for count in counts}
    cpu = dict.fromkeys(counts, 0.0)
    loads = []
    PROGRESS.say(f"starting {max(counts)} rounds workers, {args.concurrency} threads each")
    workers = start_workers(counts, args.concurrency, env, work)
    try:
        workers_ready(max(counts), work)
        on = f"on {', '.join(map(str, counts))} workers"
        warm_up = counted(f"{total} hosts: a warm-up round {on}", counts, "rounds")
        for count in warm_up:  # warm-up: connections, first rows, alerts opened
            settings.ROUNDS_QUEUE = queue_for(count)
            one_round(total, interval)
        # Round by round in turn, so a machine shared with other work loads each alike.
        turns = counted(
            f"{total} hosts: a round {on} in turn",
            range(args.rounds),
            "turns",
            note=lambda: ", ".join(f"{times[c][-1]:.2f} s on {c}" for c in counts),
        )
        for _ in turns:
            loads.append(float(load_average()))
            for count in counts:
                settings.ROUNDS_QUEUE = queue_for(count)
                before = cpu_seconds(w.pid for w in workers)
                times[count].append(one_round(total, interval))
                cpu[count] += cpu_seconds(w.pid for w in workers) - before
    finally:
        stop(workers)
    print(f"load average (1 min) before each turn: {', '.join(f'{x:.1f}' for x in loads)}")
    base = statistics.median(times[counts[0]])
    for count in counts:
        median = statistics.median(times[count])
        print(
            f"{count} worker(s): median {median:.2f} s per round (min {min(times[count]):.2f}, "
            f"max {max(times[count]):.2f}), {total / median:.0f} hosts/s, "
            f"x{base / median:.2f} of {counts[0]} worker(s); "
            f"workers' CPU {cpu[count] / (total * args.rounds) * 1000:.2f} ms per host"
        )
    if args.profile:
        PROGRESS.say("profiling one shard in this process")
        profile_one_shard(probes)
    print(
        f"stored {HealthSample.objects.count()} samples, "
        f"{Alert.objects.filter(name='MULTIPATH_PERIODIC_ALERT').count()} multipath alert rows"
    )


if __name__ == "__main__":
    main()
