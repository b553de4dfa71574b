"""/metrics at scale: SQL queries, render time and size of a scrape at 4 hosts and at 255.

    .venv/bin/python bench/metrics_render.py --postgres postgres://postgres@127.0.0.1/postgres

The pool of bench/pages_at_scale.py (one cluster, 32 SRs on LUNs of 4 paths each, an I/O
probe per host with a heartbeat region per LUN), each host with a bond of two slaves,
open alerts and a few hundred tasks; a scrape as Prometheus makes it (a bearer API token
of a read-only user). Target: the same number of queries at 255 hosts as at 4. Prints
figures; asserts nothing.
"""

import argparse
import os
import statistics
import time

import pages_at_scale
from _common import counted, setup_django

BOND = {
    "name": "bond0",
    "mode": "active-backup",
    "mii_status": "up",
    "active_slave": "eth0",
    "slaves": [
        {"name": "eth0", "mii_status": "up", "link_failures": 0},
        {"name": "eth1", "mii_status": "up", "link_failures": 0},
    ],
    "summary": {"mode": "active-backup", "slaves": 2, "up": 2},
    "error": None,
}


def probe_with_bond(wwids: list[str]) -> dict:
    return {**probe_without_bond(wwids), "bonds": [BOND]}


probe_without_bond = pages_at_scale.probe_for
pages_at_scale.probe_for = probe_with_bond  # grow() builds every host's probe with it


def measure(client, key: str, repeats: int, what: str) -> tuple[int, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries = [], 0
    for _ in counted(what, range(repeats), "scrapes"):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            # As Prometheus asks: its token, and gzip.
            response = client.get(
                "/metrics",
                headers={"Authorization": f"Bearer {key}", "Accept-Encoding": "gzip"},
            )
            times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
        queries = len(captured)
    plain = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    return queries, statistics.median(times), len(plain.content), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="server URL; default a SQLite file")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ["ALLOWED_HOSTS"] = "testserver"
    setup_django(args.postgres, "metrics", database="o2cb_bench_metrics")

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.utils import timezone

    from clusters.models import LUN, SR, Cluster, Host
    from core.choices import AlertPriority, Role, TaskStatus
    from core.models import Alert, Task
    from core.services.auth import api_token_create

    user = get_user_model().objects.create_user("prometheus", password="x")  # noqa: S106
    user.groups.add(Group.objects.get(name=Role.READ_ONLY))
    _token, key = api_token_create(user=user, name="prometheus")
    cluster = Cluster.objects.create(name="Big", cluster_name="big")
    wwids = [f"3600a0980{n:023x}" for n in range(pages_at_scale.SRS)]
    srs = [
        SR.objects.create(
            name=f"SR {n}", cluster=cluster, lun=LUN.objects.create(scsi_id=wwid, size=2 << 40)
        )
        for n, wwid in enumerate(wwids)
    ]
    now = timezone.now()
    kinds = ["clusters.reconcile", "clusters.check_hosts", "maintenance.enter", "storage.add"]
    Task.objects.bulk_create(
        Task(
            name=f"Task {n}",
            kind=kinds[n % len(kinds)],
            status=(TaskStatus.SUCCEEDED, TaskStatus.FAILED)[n % 2],
            started=now - timezone.timedelta(seconds=60 + n),
            finished=now - timezone.timedelta(seconds=n),
        )
        for n in range(400)
    )
    client = Client()
    pages_at_scale.grow(cluster, srs, wwids, 4)
    client.get("/metrics", headers={"Authorization": f"Bearer {key}"})  # the token's first use
    small = measure(client, key, args.repeats, "/metrics at 4 hosts")
    pages_at_scale.grow(cluster, srs, wwids, 255)
    Alert.objects.bulk_create(
        Alert(
            name="HOST_SILENT",
            priority=AlertPriority.MAJOR,
            message="silent",
            target_repr=h.hostname,
        )
        for h in Host.objects.all()[:20]
    )
    large = measure(client, key, args.repeats, "/metrics at 255 hosts")
    print(f"{'hosts':>5} {'queries':>7} {'ms':>8} {'bytes':>9} {'gzipped':>9}")
    for hosts, (queries, took, size, gzipped) in ((4, small), (255, large)):
        print(f"{hosts:5d} {queries:7d} {took * 1000:8.1f} {size:9d} {gzipped:9d}")


if __name__ == "__main__":
    main()
