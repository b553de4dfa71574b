"""Reads for pages and the banner that take more than one query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from . import iohealth
from .charts import lag_chart
from .choices import O2CB_MAX_NODES, IOHealthState
from .models import (
    SR,
    Cluster,
    ClusterHostStatus,
    HealthRollup,
    HealthSample,
    Host,
    HostIOHealth,
    Membership,
)

# Above this many members the full who-sees-whom matrix is too big to read (or draw).
MATRIX_MAX_MEMBERS = 16
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
            {s.host.hostname: s.timeouts for s in self.statuses.values() if s.reachable}
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
        """For large clusters: per host, only the members it does not see alive."""
        rows = []
        for member, states in self.peer_matrix:
            odd = [
                f"{m.number} {m.hostname}: {state}"
                for m, state in zip(self.members, states, strict=True)
                if state != "alive"
            ]
            if odd:
                rows.append((member, odd[:DISAGREEMENTS_SHOWN], len(odd) - DISAGREEMENTS_SHOWN))
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
    io_health = HostIOHealth.objects.filter(host__in=[m.host_id for m in members]).defer("probe")
    return ClusterOverview(
        cluster=cluster,
        members=members,
        departed=departed,
        statuses=statuses,
        numbers_used=len(memberships),
        io_health={h.host_id: h for h in io_health},
        srs=list(cluster.srs.select_related("lun")),
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


# I/O-path health -------------------------------------------------------------------------

CHART_WINDOWS = (("last hour", timedelta(hours=1), 120), ("last day", timedelta(days=1), 144))


def _probe_maps(probe: dict) -> list[dict]:
    queueing = {q["map"]: q for q in probe.get("multipath", {}).get("queueing", [])}
    maps = []
    for map_ in probe.get("multipath", {}).get("maps", []):
        paths = [{**p, "ok": iohealth.path_ok(p)} for p in iohealth.map_paths(map_)]
        maps.append(
            {
                **map_,
                "paths": paths,
                "up": sum(p["ok"] for p in paths),
                "queueing": queueing.get(map_["name"]),
            }
        )
    return maps


def host_io_overview(host: Host, *, charts: bool = True) -> dict:
    """Everything the host's I/O-path page shows, from its last probe and its samples."""
    now = timezone.now()
    health = HostIOHealth.objects.filter(host=host).first()
    probe = health.probe if health else {}
    regions = []
    for cluster in probe.get("heartbeat", {}).get("clusters", []):
        for region in cluster.get("regions", []):
            drawn = []
            for label, window, points in CHART_WINDOWS if charts else ():
                series = health_series(
                    host_id=host.pk,
                    metric="heartbeat_lag_ms",
                    subject=region["region"],
                    since=now - window,
                    until=now,
                    points=points,
                )
                chart = lag_chart(series, since=now - window, until=now, dead_ms=cluster["dead_ms"])
                drawn.append((label, chart))
            regions.append({**region, "cluster": cluster, "charts": drawn})
    return {
        "health": health,
        "maps": _probe_maps(probe),
        "bonds": probe.get("bonds", []),
        "clusters": probe.get("heartbeat", {}).get("clusters", []),
        "regions": regions,
        "ha": probe.get("ha"),
        "multipath_available": probe.get("multipath", {}).get("available"),
    }


@dataclass
class SRHostRow:
    host: Host
    state: str
    paths_up: int | None
    paths_total: int | None
    lag_ms: int | None
    dead_ms: int | None
    plugged: bool | None
    problems: list[dict]


def sr_io_overview(sr: SR) -> dict:
    """The SR's LUN as each host of its cluster sees it: paths and heartbeat lag."""
    pbds = {pbd.host_id: pbd for pbd in sr.pbds.all()}
    hosts = (
        Host.objects.filter(
            Q(pk__in=pbds) | Q(memberships__cluster=sr.cluster_id, memberships__left__isnull=True)
        )
        .distinct()
        .select_related("io_health")
    )
    wwid = sr.lun.scsi_id
    rows = []
    for host in hosts:
        health = getattr(host, "io_health", None)
        probe = health.probe if health else {}
        map_ = next((m for m in _probe_maps(probe) if wwid in (m.get("wwid"), m.get("name"))), None)
        lag = dead = None
        subjects = {wwid, map_ and map_.get("name")}
        for cluster in probe.get("heartbeat", {}).get("clusters", []):
            for region in cluster.get("regions", []):
                if map_ and region.get("device") == map_.get("dm"):
                    lag, dead = region.get("elapsed_ms"), cluster.get("dead_ms")
                    subjects.add(f"{cluster['name']}/{region['region']}")
        problems = health.problems if health else []
        mine = [
            p
            for p in problems
            if p["kind"] == "agent" or any(s and s in p["subject"] for s in subjects)
        ]
        if health is None:
            state = IOHealthState.UNKNOWN
        elif map_ is None:
            # A member that cannot see the SR's LUN cannot plug it.
            state = IOHealthState.CRITICAL
            mine = mine or [
                {
                    "kind": "multipath",
                    "subject": wwid,
                    "severity": IOHealthState.CRITICAL,
                    "message": f"{host} does not see LUN {wwid}.",
                    "fix": "Check the LUN's masking and zoning for this host on the array and "
                    "the fabric, then rescan (`rescan-scsi-bus.sh`, `multipath -r`).",
                }
            ]
        else:
            state = iohealth.worst([IOHealthState.OK, *(p["severity"] for p in mine)])
        rows.append(
            SRHostRow(
                host=host,
                state=state,
                paths_up=map_["up"] if map_ else None,
                paths_total=len(map_["paths"]) if map_ else None,
                lag_ms=lag,
                dead_ms=dead,
                plugged=pbds[host.pk].plugged if host.pk in pbds else None,
                problems=mine,
            )
        )
    return {"sr": sr, "rows": rows, "state": iohealth.worst(r.state for r in rows)}


def io_summary() -> dict:
    """The pool's I/O-path health for the dashboard: counts, worst state, hosts at risk."""
    healths = list(
        HostIOHealth.objects.select_related("host").defer("probe").order_by("host__hostname")
    )
    counts = {state: 0 for state in IOHealthState.values}
    for health in healths:
        counts[health.state] += 1
    fences = [h.time_to_fence for h in healths if h.time_to_fence is not None]
    return {
        "state": iohealth.worst(h.state for h in healths),
        "counts": counts,
        "at_risk": [h for h in healths if h.state != IOHealthState.OK],
        "time_to_fence": min(fences, default=None),
        "config_warnings": sum(len(h.config_warnings) for h in healths),
    }
