"""Reads for cluster pages and the restart banner that take more than one query."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from django.db.models import (
    Count,
    OuterRef,
    Subquery,
)
from django.db.models.functions import Coalesce

from clusters.choices import O2CB_MAX_NODES
from clusters.models import (
    SR,
    Cluster,
    ClusterHostStatus,
    HostIOHealth,
    Membership,
)

# Above this many members the full who-sees-whom matrix is too big to read (or draw).
MATRIX_MAX_MEMBERS = 16


MEMBERS_PER_PAGE = 50


DISAGREEMENTS_SHOWN = 8


@dataclass
class RestartBanner:
    cluster: Cluster
    hosts: list[str]
    reasons: list[str]
    departed: list[Membership]


def restart_banners() -> list[RestartBanner]:
    """One banner per cluster where any host reports that only a restart can apply a change."""
    statuses = (
        ClusterHostStatus.objects.filter(needs_restart=True)
        .select_related("cluster", "host")
        .order_by("cluster__name", "host__hostname")
    )
    banners: dict[int, RestartBanner] = {}
    for status in statuses:
        banner = banners.setdefault(status.cluster_id, RestartBanner(status.cluster, [], [], []))
        banner.hosts.append(status.host.hostname)
        for reason in status.restart_reasons:
            if reason not in banner.reasons:
                banner.reasons.append(reason)
    if banners:
        for membership in Membership.objects.filter(
            cluster__in=list(banners), left__isnull=False
        ).order_by("left"):
            banners[membership.cluster_id].departed.append(membership)
    return list(banners.values())


@dataclass
class DepartedNode:
    membership: Membership
    waiting_for: list[str]  # members that have not restarted since it left


@dataclass
class ClusterOverview:
    cluster: Cluster
    members: list[Membership]
    departed: list[DepartedNode]
    statuses: dict[int, ClusterHostStatus]
    numbers_used: int
    io_health: dict[int, HostIOHealth]
    srs: list[SR]
    hostnames: dict[int, str]  # of every host that held a number
    numbers_total: int = O2CB_MAX_NODES

    @property
    def config_warnings(self) -> list[tuple[list[str], dict]]:
        """Settings that would turn an outage into a fence, each with the hosts that have it."""
        grouped: dict[tuple[str, str], tuple[list[str], dict]] = {}
        for m in self.members:
            health = self.io_health.get(m.host_id)
            for warning in health.config_warnings if health else []:
                key = (warning["kind"], warning["message"])
                grouped.setdefault(key, ([], warning))[0].append(m.hostname)
        return list(grouped.values())

    @property
    def needs_restart(self) -> bool:
        return any(status.needs_restart for status in self.statuses.values())

    @property
    def timeout_differences(self) -> list[str]:
        return timeout_differences(
            {
                self.hostnames.get(s.host_id, f"host {s.host_id}"): s.timeouts
                for s in self.statuses.values()
                if s.reachable
            }
        )

    @property
    def member_rows(self) -> list[tuple[Membership, ClusterHostStatus | None, HostIOHealth | None]]:
        return [
            (m, self.statuses.get(m.host_id), self.io_health.get(m.host_id)) for m in self.members
        ]

    @property
    def peer_matrix(self) -> list[tuple[Membership, list[str]]]:
        """For each member host, what it believes about every member (by node number)."""
        rows = []
        numbers = [m.number for m in self.members]
        for member in self.members:
            status = self.statuses.get(member.host_id)
            if status is None or not status.reachable or not status.running:
                # A host whose cluster is not running has no view of the others.
                rows.append((member, ["unknown"] * len(numbers)))
                continue
            seen = {p.get("number"): p.get("state") for p in status.peers}
            rows.append((member, [seen.get(n, "unknown") for n in numbers]))
        return rows

    @property
    def show_matrix(self) -> bool:
        return len(self.members) <= MATRIX_MAX_MEMBERS

    @property
    def peer_disagreements(self) -> list[tuple[Membership, list[str], int]]:
        """For large clusters: per host, only the members it does not see alive.

        Each host's view in brief is a few ranges of node numbers; a host that sees every
        member alive is known from counting members inside them, without a walk over
        every pair (255 members make 65,025).
        """
        by_number = {m.number: m for m in self.members}
        numbers = sorted(by_number)
        rows = []
        for member in self.members:
            status = self.statuses.get(member.host_id)
            if status is None or not status.reachable or not status.running:
                odd, states = numbers, {}  # no view of the others
            else:
                ranges, states = status.peers_alive, status.peers_not_alive
                seen = sum(bisect_right(numbers, b) - bisect_left(numbers, a) for a, b in ranges)
                if seen == len(numbers):
                    continue
                alive = {n for a, b in ranges for n in range(a, b + 1)}
                odd = [n for n in numbers if n not in alive]
            shown = [
                f"{n} {by_number[n].hostname}: {states.get(str(n), 'unknown')}"
                for n in odd[:DISAGREEMENTS_SHOWN]
            ]
            rows.append((member, shown, len(odd) - DISAGREEMENTS_SHOWN))
        return rows

    @property
    def member_counts(self) -> dict[str, int]:
        """How many members run the cluster, are stopped, do not answer or need a restart."""
        counts = {"running": 0, "stopped": 0, "no_answer": 0, "unchecked": 0, "restart": 0}
        for m in self.members:
            status = self.statuses.get(m.host_id)
            if status is None:
                counts["unchecked"] += 1
                continue
            if not status.reachable:
                counts["no_answer"] += 1
            elif status.running:
                counts["running"] += 1
            else:
                counts["stopped"] += 1
            counts["restart"] += status.needs_restart
        return counts


TIMEOUT_NAMES = {
    "dead_threshold": "heartbeat dead threshold",
    "idle_timeout_ms": "network idle timeout (ms)",
    "keepalive_delay_ms": "network keepalive delay (ms)",
    "reconnect_delay_ms": "network reconnect delay (ms)",
}


def timeout_differences(timeouts_by_host: dict[str, dict]) -> list[str]:
    """One sentence per O2CB timeout whose value is not the same on every host."""
    sentences = []
    for key, label in TIMEOUT_NAMES.items():
        values: dict[object, list[str]] = {}
        for hostname, timeouts in sorted(timeouts_by_host.items()):
            if timeouts.get(key) is not None:
                values.setdefault(timeouts[key], []).append(hostname)
        if len(values) > 1:
            spread = "; ".join(f"{value} on {', '.join(hosts)}" for value, hosts in values.items())
            sentences.append(f"The {label} differs between hosts: {spread}.")
    return sentences


STATUS_FIELDS = [
    "cluster",
    "host",
    "reachable",
    "running",
    "enabled",
    "needs_restart",
    "restart_reasons",
    "drift",
    "timeouts",
    "error",
    "queried",
    "peers_alive",
    "peers_not_alive",
]


def cluster_overview(cluster: Cluster) -> ClusterOverview:
    # Only the columns the page shows: at 255 members, loading whole rows (and their JSON)
    # was most of the page's time.
    memberships = list(
        cluster.memberships.select_related("host")
        .only(
            *("cluster", "host", "number", "hostname", "left"),
            *("host__hostname", "host__addresses", "host__boot_time"),
        )
        .order_by("number")
    )
    members = [m for m in memberships if m.left is None]
    boot_times = {m.host.hostname: m.host.boot_time for m in members}
    departed = [
        DepartedNode(
            membership=m,
            waiting_for=sorted(
                name for name, boot in boot_times.items() if boot is None or boot <= m.left
            ),
        )
        for m in memberships
        if m.left is not None
    ]
    fields = list(STATUS_FIELDS)
    if len(members) <= MATRIX_MAX_MEMBERS:
        fields.append("peers")  # drawn whole; larger clusters use each view in brief
    statuses = {s.host_id: s for s in cluster.host_statuses.only(*fields)}
    io_health = HostIOHealth.objects.filter(host__in=[m.host_id for m in members]).only(
        "host", "state", "config_warnings"
    )
    return ClusterOverview(
        cluster=cluster,
        members=members,
        departed=departed,
        statuses=statuses,
        numbers_used=len(memberships),
        io_health={h.host_id: h for h in io_health},
        srs=list(cluster.srs.select_related("lun")),
        hostnames={m.host_id: m.hostname for m in memberships if m.host_id},
    )


def _count_per_cluster(model, **filters):
    """A correlated COUNT: two counts joined in one query would multiply their rows
    (255 members x 255 statuses)."""
    rows = model.objects.filter(cluster=OuterRef("pk"), **filters).order_by().values("cluster")
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n")), 0)


def clusters_with_counts():
    return Cluster.objects.annotate(
        member_count=_count_per_cluster(Membership, left__isnull=True),
        held_numbers=_count_per_cluster(Membership),
        restart_hosts=_count_per_cluster(ClusterHostStatus, needs_restart=True),
    )
