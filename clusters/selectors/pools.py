"""Reads for pool pages: the list with its counts, and one pool with its parts."""

from __future__ import annotations

from django.db.models import Count

from clusters.models import Cluster, Host, Pool


def pools_with_counts():
    """Every pool with how many hosts and clusters it has (two subqueries, one query)."""
    return Pool.objects.annotate(
        host_count=Count("hosts", distinct=True), cluster_count=Count("clusters", distinct=True)
    ).order_by("name")


def pool_overview(pool: Pool) -> dict:
    """A pool's page: its hosts, clusters and SRs (every SR XAPI has, with the hosts each
    is plugged on, by name), and its connection."""
    hosts = list(Host.objects.filter(pool=pool).order_by("hostname"))
    names = {host.xapi_ref: host.hostname for host in hosts}
    srs = [
        {
            **{k: v for k, v in sr.items() if k != "pbds"},
            "attached_on": sorted(
                names.get(p["host"], p["host"])
                for p in sr.get("pbds", {}).values()
                if p["attached"]
            ),
        }
        for sr in sorted((pool.srs or {}).values(), key=lambda sr: sr["name"])
    ]
    return {
        "pool": pool,
        "hosts": hosts,
        "clusters": list(Cluster.objects.filter(pool=pool).order_by("name")),
        "srs": srs,
    }
