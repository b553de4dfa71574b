"""Pages at scale: SQL queries and render time per page at 4 hosts and at 255.

    .venv/bin/python bench/pages_at_scale.py --postgres postgres://postgres@127.0.0.1/postgres

Builds a pool of one cluster with 32 SRs, a PBD per host and SR, an I/O probe per host
with 4 paths per LUN, a day of heartbeat samples for the host whose page is drawn and
1,000 crash dumps; measures each page with 4 hosts, grows the pool to 255 hosts and
measures again. Targets: the same number of queries, and render time at 255 within 3x
of 4. Prints figures; asserts nothing.
"""

import argparse
import os
import statistics
import time
import uuid
from datetime import timedelta

from _common import PROGRESS, counted, setup_django

SRS = 32
PATHS_PER_LUN = 4


def probe_for(wwids: list[str]) -> dict:
    maps = []
    for n, wwid in enumerate(wwids):
        paths = [
            {
                "device": f"sd{n}x{p}",
                "hcil": f"{p}:0:0:{n}",
                "dev_t": "8:0",
                "dm_state": "active",
                "checker_state": "ready",
                "online_state": "running",
                "group": p % 2,
                "map": wwid,
            }
            for p in range(PATHS_PER_LUN)
        ]
        maps.append(
            {
                "name": wwid,
                "wwid": wwid,
                "dm": f"dm-{n}",
                "vendor": "NETAPP",
                "product": "LUN",
                "size": "2.0T",
                "size_bytes": 2 << 40,
                "features": "0",
                "path_groups": [
                    {"paths": paths[:2], "status": "active"},
                    {"paths": paths[2:], "status": "enabled"},
                ],
            }
        )
    regions = [
        {"region": f"{n:032X}", "device": f"dm-{n}", "elapsed_ms": 800} for n in range(len(wwids))
    ]
    return {
        "multipath": {"available": True, "maps": maps, "queueing": [], "error": None},
        "bonds": [],
        "heartbeat": {
            "clusters": [
                {
                    "name": "big",
                    "dead_ms": 60000,
                    "dead_threshold": 31,
                    "dead_threshold_source": "default",
                    "fence_method": "panic",
                    "regions": regions,
                }
            ]
        },
        "ha": None,
    }


def grow(cluster, srs, wwids, count: int) -> None:
    from django.utils import timezone

    from clusters.iohealth import rules
    from clusters.models import (
        PBD,
        ClusterHostStatus,
        Host,
        HostIOHealth,
        Membership,
        peers_in_brief,
    )

    start = Host.objects.count()
    PROGRESS.phase(f"the pool: {start} -> {count} hosts on {len(srs)} SRs")
    now = timezone.now()
    hosts = Host.objects.bulk_create(
        Host(
            hostname=f"h{i:03d}",
            registration="accepted",
            addresses=[f"10.1.{i // 250}.{i % 250}"],
            boot_time=now,
            last_heard=now,
        )
        for i in range(start, count)
    )
    Membership.objects.bulk_create(
        Membership(cluster=cluster, host=h, number=start + i, host_uuid=h.uuid, hostname=h.hostname)
        for i, h in enumerate(hosts)
    )
    ClusterHostStatus.objects.bulk_create(
        ClusterHostStatus(cluster=cluster, host=h, reachable=True, running=True, queried=now)
        for h in hosts
    )
    # A healthy cluster: every member sees every member alive, as the monitor records it.
    peers = [
        {"number": m.number, "hostname": m.hostname, "state": "alive", "configured": True}
        for m in Membership.objects.filter(cluster=cluster)
    ]
    ClusterHostStatus.objects.filter(cluster=cluster).update(peers=peers, **peers_in_brief(peers))
    PBD.objects.bulk_create(PBD(host=h, sr=sr, plugged=True) for h in hosts for sr in srs)
    probe = probe_for(wwids)  # every host sees the same LUNs the same way
    luns = rules.lun_views(probe)  # as a collection round stores them
    HostIOHealth.objects.bulk_create(
        HostIOHealth(host=h, state="ok", since=now, checked=now, probe=probe, luns=luns)
        for h in hosts
    )
    PROGRESS.done()


def measure(client, urls: dict[str, str], repeats: int, what: str) -> dict[str, tuple[int, float]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    figures = {}
    for name, url in counted(f"{what}, {repeats} times each", urls.items(), "pages"):
        times, queries = [], 0
        for _ in range(repeats):
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - start)
            assert response.status_code == 200, (url, response.status_code)
            queries = len(captured)
        figures[name] = (queries, statistics.median(times))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="server URL; default a SQLite file")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--profile", metavar="PAGE", help='profile one page at 255, e.g. "SR I/O page"'
    )
    args = parser.parse_args()
    os.environ["ALLOWED_HOSTS"] = "testserver"
    setup_django(args.postgres, "pages")

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.utils import timezone

    from clusters.models import LUN, SR, Cluster, Host
    from core.choices import Role
    from crashes.models import HostCrashdump

    user = get_user_model().objects.create_user("bench", password="x")  # noqa: S106
    user.groups.add(Group.objects.get(name=Role.POOL_ADMIN))
    cluster = Cluster.objects.create(name="Big", cluster_name="big")
    wwids = [f"3600a0980{n:023x}" for n in range(SRS)]
    srs = [
        SR.objects.create(
            name=f"SR {n}", cluster=cluster, lun=LUN.objects.create(scsi_id=wwid, size=2 << 40)
        )
        for n, wwid in enumerate(wwids)
    ]
    grow(cluster, srs, wwids, 4)
    first = Host.objects.order_by("hostname").first()
    now = timezone.now()
    from clusters.models import HealthSample

    PROGRESS.phase("a day of heartbeat samples for one host, 1,000 crash dumps")
    HealthSample.objects.bulk_create(
        HealthSample(
            host=first,
            metric="heartbeat_lag_ms",
            subject=f"{0:032X}",
            time=now - timedelta(seconds=5 * i),
            value=float(i % 2000),
        )
        for i in range(17280)
    )
    hosts = list(Host.objects.all())
    HostCrashdump.objects.bulk_create(
        HostCrashdump(
            uuid=uuid.uuid4(),
            host=hosts[i % len(hosts)],
            hostname=hosts[i % len(hosts)].hostname,
            name=f"dump-{i}",
            source="agent",
            cause=("o2cb", "xhad", "bug")[i % 3],
            explanation="An explanation.",
            signature=f"sig{i % 40}",
        )
        for i in range(1000)
    )
    PROGRESS.done()
    client = Client()
    client.force_login(user)
    urls = {
        "dashboard": "/",
        "cluster page": f"/clusters/{cluster.pk}/",
        "host I/O page": f"/hosts/{first.pk}/io/",
        "SR I/O page": f"/srs/{srs[0].pk}/io/",
        "crash list": "/crashes/",
        "API hosts": "/api/hosts/",
        "API memberships": "/api/memberships/",
        "API io-health": "/api/io-health/",
        "API crashdumps": "/api/crashdumps/",
    }
    small = measure(client, urls, args.repeats, "pages at 4 hosts")
    grow(cluster, srs, wwids, 255)
    large = measure(client, urls, args.repeats, "pages at 255 hosts")
    if args.profile:
        import cProfile
        import pstats

        PROGRESS.say(f"profiling the {args.profile} at 255 hosts")
        profile = cProfile.Profile()
        profile.runcall(client.get, urls[args.profile])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    print(f"{'page':16} {'queries 4':>9} {'queries 255':>11} {'ms 4':>8} {'ms 255':>8} {'x':>5}")
    for name in urls:
        (q4, t4), (q255, t255) = small[name], large[name]
        print(
            f"{name:16} {q4:9d} {q255:11d} {t4 * 1000:8.1f} {t255 * 1000:8.1f} "
            f"{t255 / t4:5.1f}{'  queries grow' if q255 > q4 else ''}"
        )


if __name__ == "__main__":
    main()
