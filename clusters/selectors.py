"""Reads for pages and the banner that take more than one query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Prefetch, Q

from .choices import O2CB_MAX_NODES
from .models import Cluster, ClusterHostStatus, HealthRollup, HealthSample, Host, Membership


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
    numbers_total: int = O2CB_MAX_NODES

    @property
    def needs_restart(self) -> bool:
        return any(status.needs_restart for status in self.statuses.values())

    @property
    def timeout_differences(self) -> list[str]:
        return timeout_differences(
            {s.host.hostname: s.timeouts for s in self.statuses.values() if s.reachable}
        )

    @property
    def member_rows(self) -> list[tuple[Membership, ClusterHostStatus | None]]:
        return [(m, self.statuses.get(m.host_id)) for m in self.members]

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


def cluster_overview(cluster: Cluster) -> ClusterOverview:
    memberships = list(cluster.memberships.select_related("host").order_by("number"))
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
    statuses = {s.host_id: s for s in cluster.host_statuses.select_related("host")}
    return ClusterOverview(
        cluster=cluster,
        members=members,
        departed=departed,
        statuses=statuses,
        numbers_used=len(memberships),
    )


def clusters_with_counts():
    return Cluster.objects.annotate(
        member_count=Count("memberships", filter=Q(memberships__left__isnull=True), distinct=True),
        held_numbers=Count("memberships", distinct=True),
        restart_hosts=Count(
            "host_statuses", filter=Q(host_statuses__needs_restart=True), distinct=True
        ),
    )


def hosts_with_memberships():
    return Host.objects.prefetch_related(
        Prefetch(
            "memberships",
            queryset=Membership.objects.filter(left__isnull=True).select_related("cluster"),
            to_attr="current_memberships",
        )
    )


@dataclass(frozen=True)
class SeriesPoint:
    time: datetime
    minimum: float
    maximum: float
    mean: float


def health_series(
    *, host_id: int, metric: str, subject: str, since: datetime, until: datetime, points: int = 120
) -> list[SeriesPoint]:
    """One series between two times in at most `points` buckets, for a chart.

    Full-resolution samples where they are kept, hourly rollups for older times.
    """
    width = (until - since) / points
    buckets: dict[int, list[float]] = {}

    def add(time: datetime, low: float, high: float, mean: float, count: int) -> None:
        index = min(int((time - since) / width), points - 1)
        bucket = buckets.setdefault(index, [low, high, 0.0, 0])
        bucket[0], bucket[1] = min(bucket[0], low), max(bucket[1], high)
        bucket[2] += mean * count
        bucket[3] += count

    series = {"host_id": host_id, "metric": metric, "subject": subject}
    samples = HealthSample.objects.filter(**series, time__gte=since, time__lt=until)
    first_sample = None
    for time, value in samples.order_by("time").values_list("time", "value").iterator(2000):
        first_sample = first_sample or time
        add(time, value, value, value, 1)
    rollups = HealthRollup.objects.filter(**series, hour__gte=since, hour__lt=until)
    if first_sample is not None:
        rollups = rollups.filter(hour__lt=first_sample)
    for hour, low, high, mean, count in rollups.values_list(
        "hour", "minimum", "maximum", "mean", "count"
    ):
        add(hour, low, high, mean, count)
    return [
        SeriesPoint(since + width * index, low, high, total / count)
        for index, (low, high, total, count) in sorted(buckets.items())
    ]
