"""I/O-health collection round at scale: can the console judge 64 hosts every 5 s?

    .venv/bin/python bench/io_collection.py --postgres postgres://postgres@127.0.0.1/postgres

Each host reports 16 LUNs x 4 paths (64 paths), a bond and a heartbeat region, as the
real parsers read them from multipathd's text. Times, per round: the agent's share on
one host (parse the topology, build the probe) and the console's share for every host
(evaluate, store the samples, update the verdict, keep the alerts in step), with a
path failing and recovering on some hosts so alerts are raised and cleared. Prints
figures; asserts nothing.
"""

import argparse
import statistics
import time

from _common import counted, setup_django


def topology(luns: int, paths: int, failed: set[str]) -> str:
    from agent.sandbox.io import render_topology

    described = []
    for index in range(luns):
        described.append(
            {
                "wwid": f"36001405{index:024x}",
                "dm": f"dm-{index}",
                "vendor": "LIO-ORG",
                "model": "bench",
                "size": 1 << 40,
                "index": index,
                "paths": [
                    {"hcil": f"{hba}:0:0:{index}", "device": f"sd{index}x{hba}"}
                    for hba in range(1, paths + 1)
                ],
            }
        )
    return render_topology(described, failed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="server URL; default a SQLite file")
    parser.add_argument("--hosts", type=int, default=64)
    parser.add_argument("--luns", type=int, default=16)
    parser.add_argument("--paths-per-lun", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    setup_django(args.postgres, "io")

    from django.db import connection

    from agent.probes.bonding import parse_bonding
    from agent.probes.multipath import parse_multipath
    from agent.probes.multipath_conf import queueing_for
    from agent.sandbox.io import render_bond
    from clusters.iohealth.services import io_health_record
    from clusters.models import HealthSample, Host
    from core.models import Alert

    hosts = [
        Host.objects.create(hostname=f"h{i:03d}", registration="accepted")
        for i in counted("building the pool", range(args.hosts), "hosts")
    ]
    bond_state = {"down_slaves": [], "link_failures": {}}
    agent_times, console_times = [], []
    rounds = counted(
        f"collecting from {args.hosts} hosts",
        range(args.rounds),
        "rounds",
        note=lambda: f"last round {console_times[-1]:.2f} s for all hosts",
    )
    for round_ in rounds:
        # Every fourth host loses one path on odd rounds: alerts open and clear.
        failed = {"sd0x1"} if round_ % 2 else set()
        start = time.perf_counter()
        maps = parse_multipath(topology(args.luns, args.paths_per_lun, failed))["maps"]
        probe = {
            "multipath": {
                "available": True,
                "maps": maps,
                "queueing": [queueing_for(None, m) for m in maps],
                "error": None,
            },
            "bonds": [parse_bonding(render_bond(bond_state), name="bond0")],
            "heartbeat": {
                "clusters": [
                    {
                        "name": "pool",
                        "dead_ms": 60000,
                        "fence_method": "panic",
                        "regions": [{"region": "A" * 32, "device": "dm-0", "elapsed_ms": 700}],
                    }
                ]
            },
            "ha": None,
        }
        healthy = parse_multipath(topology(args.luns, args.paths_per_lun, set()))["maps"]
        agent_times.append((time.perf_counter() - start) / 2)
        start = time.perf_counter()
        for index, host in enumerate(hosts):
            if index % 4:
                this = {**probe, "multipath": {**probe["multipath"], "maps": healthy}}
            else:
                this = probe
            io_health_record(host=host, probe=this)
        console_times.append(time.perf_counter() - start)

    paths = args.luns * args.paths_per_lun
    print(f"db={connection.vendor} hosts={args.hosts} paths/host={paths} rounds={args.rounds}")
    print(
        f"agent, one host: parse + probe {statistics.median(agent_times) * 1000:.1f} ms "
        "(median per round)"
    )
    print(
        f"console, all hosts: median {statistics.median(console_times):.2f} s per round, "
        f"max {max(console_times):.2f} s (budget: 5 s)"
    )
    print(
        f"stored {HealthSample.objects.count()} samples; "
        f"{Alert.objects.filter(name='MULTIPATH_PERIODIC_ALERT').count()} multipath alert rows "
        f"for {args.hosts // 4} flapping hosts over {args.rounds // 2} incidents each"
    )


if __name__ == "__main__":
    main()
