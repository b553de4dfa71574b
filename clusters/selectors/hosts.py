"""Reads of hosts: who is in which cluster, and the dashboard's hosts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import (
    Count,
    F,
    Prefetch,
    Q,
)
from django.urls import reverse
from django.utils import timezone

from clusters.choices import HostRegistration
from clusters.models import (
    PBD,
    Cluster,
    ClusterHostStatus,
    Host,
    Membership,
    Pool,
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
    """The hosts for the dashboard: every host of a small console; in a large one, the
    counts by state and the hosts that need a look (waiting, silent or disabled). The rows
    come pool by pool, with every pool's connection (`pools`), so the page groups them."""
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
    # Grouped by pool on the page (the hosts with their own agent first): ordered so here.
    hosts = (
        hosts_with_memberships()
        .select_related("pool")
        .order_by(F("pool__name").asc(nulls_first=True), "hostname")
    )
    showing_all = counts["total"] <= limit
    if not showing_all:
        hosts = hosts.filter(pending | silent | disabled)
    pools = list(Pool.objects.only("pk", "name", "state", "error").order_by("name"))
    return {
        "counts": counts,
        "rows": list(hosts[:limit]),
        "showing_all": showing_all,
        "pools": pools,
    }


@dataclass(frozen=True)
class MemberActivity:
    """Why O2CB still counts a member as an active node, from what the console last knew:
    `o2cb remove-node` refuses such a node, so the console does not remove it."""

    host: Host
    cluster: Cluster
    running: bool  # the monitor last saw O2CB run the cluster there...
    running_seen: datetime | None  # ...at this time
    plugged: list[str]  # the cluster's SRs plugged (mounted) on the host

    @property
    def facts(self) -> str:
        """'runs O2CB in Pool (as last seen at 12:00:03 UTC) and has Gold plugged'"""
        facts = []
        if self.running:
            seen = self.running_seen
            facts.append(
                f"runs O2CB in {self.cluster}"
                + (f" (as last seen at {seen:%H:%M:%S} UTC)" if seen else "")
            )
        if self.plugged:
            facts.append(f"has {', '.join(self.plugged)} plugged")
        return " and ".join(facts)

    @property
    def refusal(self) -> str:
        return (
            f"{self.host} still {self.facts}, and O2CB cannot remove a node that is still "
            f"active. Put {self.host} into maintenance first (its VMs move away, its storage "
            "is unplugged and O2CB stops cleanly), then remove it. If it is dead, forget it "
            "from its maintenance page instead."
        )

    @property
    def detail(self) -> dict:
        return {
            "host": self.host.pk,
            "hostname": self.host.hostname,
            "cluster": self.cluster.pk,
            "cluster_name": self.cluster.name,
            "running": self.running,
            "running_seen": self.running_seen,
            "plugged": self.plugged,
            "maintenance_page": reverse("host-maintenance", args=[self.host.pk]),
        }


def host_known_down(host: Host) -> bool:
    """No report from its agent for AGENT_SILENT_AFTER (the silent-host alert's rule): the
    console treats it as dead, whose node may be forgotten whatever it last ran."""
    cutoff = timezone.now() - settings.AGENT_SILENT_AFTER
    return host.last_heard is None or host.last_heard < cutoff


def member_activity(membership: Membership) -> MemberActivity | None:
    """What makes a current member an active O2CB node still: the monitor last saw it run
    the cluster, or one of the cluster's SRs is plugged on it. None once it has stopped and
    unplugged (maintenance does both), has left, is gone, or is known down."""
    host = membership.host
    if host is None or membership.left is not None or host_known_down(host):
        return None
    status = ClusterHostStatus.objects.filter(
        cluster_id=membership.cluster_id, host=host, running=True
    ).first()
    plugged = list(
        PBD.objects.filter(host=host, plugged=True, sr__cluster_id=membership.cluster_id)
        .order_by("sr__name")
        .values_list("sr__name", flat=True)
    )
    if status is None and not plugged:
        return None
    return MemberActivity(
        host=host,
        cluster=membership.cluster,
        running=status is not None,
        running_seen=status.queried if status else None,
        plugged=plugged,
    )


def quorum_impact(host: Host, *, when: str = "") -> list[dict]:
    """For each of the host's clusters, what taking it out of service does to quorum and
    liveness: how many nodes keep heartbeating once it leaves, and which members are not
    heartbeating now (as the monitor last saw them). One impact per cluster, each with
    its `sentence`; `when` opens the sentence ("While node-2 restarts").

    Every preview that takes a host out of service shows these (maintenance, removal,
    the rolling restart), through the template clusters/_impacts.html."""
    impact = []
    for cluster in Cluster.objects.filter(memberships__host=host, memberships__left__isnull=True):
        statuses = {
            s.host_id: s
            for s in ClusterHostStatus.objects.filter(cluster=cluster).select_related("host")
        }
        members = cluster_members(cluster)
        running = {pk for pk, s in statuses.items() if s.reachable and s.running}
        after = len(running - {host.pk})
        not_live = [
            f"{member} ({_not_heartbeating(statuses.get(member.pk))})"
            for member in members
            if member.pk != host.pk and member.pk not in running
        ]
        sentence = (
            (f"{when}, " if when else "")
            + f"{cluster}: {after} of {len(members)} nodes keep heartbeating"
            + (f"; not heartbeating now: {', '.join(not_live)}" if not_live else "")
            + (
                ". A clean departure needs no cluster restart."
                if after
                else ". None would be left to keep the cluster and its storage running."
            )
        )
        impact.append(
            {
                "kind": "quorum",
                "host": host.hostname,
                "cluster": cluster.name,
                "cluster_id": cluster.pk,
                "members": len(members),
                "heartbeating_now": len(running),
                "heartbeating_after": after,
                "not_heartbeating": not_live,
                "has_storage": cluster.srs.exists(),
                "sentence": sentence[:1].upper() + sentence[1:],
            }
        )
    return impact


def _not_heartbeating(status: ClusterHostStatus | None) -> str:
    if status is None:
        return "not checked yet"
    if not status.reachable:
        return "no answer"
    return "cluster stopped"
