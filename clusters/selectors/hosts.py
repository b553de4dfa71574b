"""Reads of hosts: who is in which cluster, and the dashboard's hosts."""

from __future__ import annotations

from datetime import datetime

from django.db.models import (
    Count,
    Prefetch,
    Q,
)

from clusters.choices import HostRegistration
from clusters.models import (
    Cluster,
    Host,
    Membership,
)


def cluster_members(cluster: Cluster) -> list[Host]:
    """The hosts that are members of the cluster now, by name."""
    return list(
        Host.objects.filter(memberships__cluster=cluster, memberships__left__isnull=True).order_by(
            "hostname"
        )
    )


def host_clusters(host: Host) -> list[Cluster]:
    """The clusters the host is a member of now."""
    return list(Cluster.objects.filter(memberships__host=host, memberships__left__isnull=True))


def hosts_in_no_cluster():
    """Accepted hosts that are a current member of no cluster: the ones a cluster may take
    (a host runs one O2CB cluster)."""
    members = Membership.objects.filter(left__isnull=True, host__isnull=False).values("host")
    return Host.objects.filter(registration=HostRegistration.ACCEPTED).exclude(pk__in=members)


def current_membership(host: Host) -> Membership | None:
    """The host's membership that has not left, in whichever cluster (there is one at most)."""
    return (
        Membership.objects.filter(host=host, left__isnull=True)
        .select_related("cluster")
        .order_by("created", "pk")
        .first()
    )


def hosts_with_memberships():
    return Host.objects.prefetch_related(
        Prefetch(
            "memberships",
            queryset=Membership.objects.filter(left__isnull=True).select_related("cluster"),
            to_attr="current_memberships",
        )
    )


DASHBOARD_HOSTS = 16


def dashboard_hosts(*, silent_before: datetime, limit: int = DASHBOARD_HOSTS) -> dict:
    """The pool's hosts for the dashboard: every host of a small pool; in a large one, the
    counts by state and the hosts that need a look (waiting, silent or disabled)."""
    pending = Q(registration=HostRegistration.PENDING)
    silent = ~pending & (Q(last_heard__isnull=True) | Q(last_heard__lt=silent_before))
    disabled = ~pending & ~silent & Q(enabled=False)
    counts = Host.objects.aggregate(
        total=Count("pk"),
        pending=Count("pk", filter=pending),
        silent=Count("pk", filter=silent),
        disabled=Count("pk", filter=disabled),
    )
    counts["up"] = counts["total"] - counts["pending"] - counts["silent"] - counts["disabled"]
    hosts = hosts_with_memberships()
    showing_all = counts["total"] <= limit
    if not showing_all:
        hosts = hosts.filter(pending | silent | disabled)
    return {"counts": counts, "rows": list(hosts[:limit]), "showing_all": showing_all}
