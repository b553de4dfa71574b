"""Health sample store: samples written per second, and the one-day chart query.

    .venv/bin/python bench/health_store.py --postgres postgres://postgres@127.0.0.1/postgres

Writes collection rounds as the console does (64 hosts x 64 paths, one bulk insert
per host and round), then a full day of 5-second samples for one series, and times
`health_series` over that day. Prints figures; asserts nothing.
"""

import argparse
import time
from datetime import timedelta

from _common import PROGRESS, counted, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="server URL; default a SQLite file")
    parser.add_argument("--hosts", type=int, default=64)
    parser.add_argument("--paths", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    setup_django(args.postgres, "health")

    from django.db import connection
    from django.utils import timezone

    from clusters.iohealth.selectors import health_series
    from clusters.iohealth.services import samples_record
    from clusters.models import Host

    hosts = [
        Host.objects.create(hostname=f"h{i:03d}", registration="accepted")
        for i in counted("building the pool", range(args.hosts), "hosts")
    ]
    now = timezone.now()
    values = [("path_up", f"sd{chr(97 + p % 26)}{p // 26}", 1.0) for p in range(args.paths)]
    # Timed as one: told before and after, never in between.
    PROGRESS.phase(f"writing {args.rounds} rounds of {args.hosts} hosts x {args.paths} paths")
    written, start = 0, time.perf_counter()
    for round_ in range(args.rounds):
        at = now - timedelta(seconds=5 * (args.rounds - round_))
        for host in hosts:
            written += samples_record(host=host, time=at, values=values)
    elapsed = time.perf_counter() - start
    PROGRESS.done(f"{written} samples")
    print(f"db={connection.vendor} hosts={args.hosts} paths={args.paths} rounds={args.rounds}")
    print(
        f"write: {written} samples in {elapsed:.2f} s = {written / elapsed:,.0f} samples/s "
        f"(needed: {args.hosts * args.paths / 5:,.0f}/s for every host every 5 s)"
    )

    PROGRESS.phase("a day of 5-second samples for one series (17,280)")
    day = [("heartbeat_ms", "region0", float(i % 2000)) for i in range(1)]
    series_host = hosts[0]
    step = timedelta(seconds=5)
    batch = []
    from clusters.models import HealthSample

    for i in range(17280):
        batch.append(
            HealthSample(
                host=series_host,
                metric=day[0][0],
                subject=day[0][1],
                time=now - step * i,
                value=float(i % 2000),
            )
        )
    HealthSample.objects.bulk_create(batch, batch_size=5000)
    PROGRESS.done()
    timings = []
    for _ in counted("the one-day chart query", range(5), "runs"):
        start = time.perf_counter()
        points = health_series(
            host_id=series_host.pk,
            metric="heartbeat_ms",
            subject="region0",
            since=now - timedelta(days=1),
            until=now,
            points=288,
        )
        timings.append(time.perf_counter() - start)
    print(
        f"one-day chart (17,280 samples -> {len(points)} points): "
        f"best {min(timings) * 1000:.0f} ms, worst {max(timings) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
