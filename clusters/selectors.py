"""Reads for pages and the banner that take more than one query."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Case,
    Count,
    F,
    Func,
    JSONField,
    Min,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import iohealth
from .charts import lag_chart
from .choices import O2CB_MAX_NODES, HostRegistration, IOHealthState
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


def region_lag_chart(
    *, host_id: int, region: str, dead_ms: int, since: datetime, until: datetime, points: int
):
    """A heartbeat region's lag between two times, drawn against its fence deadline."""
    series = health_series(
        host_id=host_id,
        metric="heartbeat_lag_ms",
        subject=region,
        since=since,
        until=until,
        points=points,
    )
    return lag_chart(series, since=since, until=until, dead_ms=dead_ms)


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
                chart = region_lag_chart(
                    host_id=host.pk,
                    region=region["region"],
                    dead_ms=cluster["dead_ms"],
                    since=now - window,
                    until=now,
                    points=points,
                )
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


class JSONKey(Func):
    """One key's value of a JSON object column, the key always taken as text.

    Django's key lookups read a key of digits as an array index, and SCSI WWIDs can be all
    digits; reading the one key in the database spares decoding the whole object.
    """

    output_field = JSONField()

    def __init__(self, column: str, key: str):
        super().__init__(F(column), Value(key))

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="jsonb_extract_path", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        column, key = self.get_source_expressions()
        quoted = Value('$."' + key.value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        clone = self.copy()
        clone.set_source_expressions([column, quoted])
        return clone.as_sql(compiler, connection, function="json_extract", **extra)


def sr_io_overview(sr: SR) -> dict:
    """The SR's LUN as each host of its cluster sees it: paths and heartbeat lag.

    Rows come worst first; each host's view of the LUN is read from the few numbers kept
    per LUN (`HostIOHealth.luns`), not from its whole probe.
    """
    pbds = {pbd.host_id: pbd for pbd in sr.pbds.all()}
    members = Membership.objects.filter(cluster=sr.cluster_id, left__isnull=True)
    wwid = sr.lun.scsi_id
    hosts = (
        Host.objects.filter(Q(pk__in=pbds) | Q(pk__in=members.values("host_id")))
        .select_related("io_health")
        .only("hostname", "io_health__state", "io_health__problems")
        .annotate(lun_view=JSONKey("io_health__luns", wwid))
    )
    rows = []
    for host in hosts:
        health = getattr(host, "io_health", None)
        view = host.lun_view if health else None
        # This LUN's own problems: its map's and its heartbeat region's (named exactly:
        # map mpatha is no part of mpathab).
        subjects = {view["label"], view["region"]} - {None} if view else set()
        problems = health.problems if health else []
        mine = [p for p in problems if p["kind"] == "agent" or p["subject"] in subjects]
        if health is None:
            state = IOHealthState.UNKNOWN
        elif view is None:
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
                paths_up=view["up"] if view else None,
                paths_total=view["total"] if view else None,
                lag_ms=view["lag_ms"] if view else None,
                dead_ms=view["dead_ms"] if view else None,
                plugged=pbds[host.pk].plugged if host.pk in pbds else None,
                problems=mine,
            )
        )
    severity = iohealth.SEVERITY_ORDER.index
    rows.sort(key=lambda r: (-severity(r.state), r.host.hostname))
    counts = {state: 0 for state in reversed(iohealth.SEVERITY_ORDER)}
    for row in rows:
        counts[row.state] += 1
    return {
        "sr": sr,
        "rows": rows,
        "counts": counts,
        "state": iohealth.worst(r.state for r in rows),
    }


AT_RISK_SHOWN = 10


def io_summary() -> dict:
    """The pool's I/O-path health for the dashboard: counts, worst state, hosts at risk
    (the worst first, at most AT_RISK_SHOWN of them)."""
    counts = {state: 0 for state in IOHealthState.values}
    for row in HostIOHealth.objects.values("state").annotate(hosts=Count("pk")).order_by():
        counts[row["state"]] = row["hosts"]
    # Ranked in the database, so a large pool does not load every host to show ten.
    rank = Case(
        *(
            When(state=state, then=Value(i))
            for i, state in enumerate(reversed(iohealth.SEVERITY_ORDER))
        ),
        default=Value(len(iohealth.SEVERITY_ORDER)),
    )
    at_risk = (
        HostIOHealth.objects.exclude(state=IOHealthState.OK)
        .select_related("host")
        .defer("probe", "luns")
        .order_by(rank, F("time_to_fence").asc(nulls_last=True), "host__hostname")
    )
    warnings = HostIOHealth.objects.values_list("config_warnings", flat=True)
    at_risk_count = sum(n for state, n in counts.items() if state != IOHealthState.OK)
    return {
        "state": iohealth.worst(state for state, n in counts.items() if n),
        "counts": counts,
        "at_risk": list(at_risk[:AT_RISK_SHOWN]),
        "at_risk_more": max(0, at_risk_count - AT_RISK_SHOWN),
        "time_to_fence": HostIOHealth.objects.aggregate(t=Min("time_to_fence"))["t"],
        "config_warnings": sum(len(w) for w in warnings),
    }
