"""Reads for the I/O-health pages: series, charts, a host's and an SR's view, the summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Case,
    Count,
    F,
    Func,
    IntegerField,
    JSONField,
    Max,
    Min,
    Q,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from clusters.choices import IOHealthState
from clusters.iohealth import rules
from clusters.iohealth.charts import lag_chart
from clusters.models import (
    SR,
    HealthRollup,
    HealthSample,
    Host,
    HostIOHealth,
    Membership,
)


@dataclass(frozen=True)
class SeriesPoint:
    time: datetime
    minimum: float
    maximum: float
    mean: float


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    points: int


def health_series(
    *, host_id: int, metric: str, subject: str, since: datetime, until: datetime, points: int = 120
) -> list[SeriesPoint]:
    """One series between two times in at most `points` buckets, for a chart.

    Full-resolution samples where they are kept, hourly rollups for older times.
    """
    windows = [Window(since, until, points)]
    return health_series_many(host_id=host_id, metric=metric, subjects=[subject], windows=windows)[
        subject
    ][0]


class _Buckets:
    """One series folded into one window's buckets as its samples and rollups arrive."""

    def __init__(self, window: Window):
        self.window = window
        self.width = (window.until - window.since) / window.points
        self.buckets: dict[int, list[float]] = {}
        self.first_sample: datetime | None = None

    def add(self, index: int, low: float, high: float, total: float, count: int) -> None:
        index = max(0, min(index, self.window.points - 1))
        bucket = self.buckets.setdefault(index, [low, high, 0.0, 0])
        bucket[0], bucket[1] = min(bucket[0], low), max(bucket[1], high)
        bucket[2] += total
        bucket[3] += count

    def index(self, time: datetime) -> int:
        return int((time - self.window.since) / self.width)

    def points(self) -> list[SeriesPoint]:
        return [
            SeriesPoint(self.window.since + self.width * index, low, high, total / count)
            for index, (low, high, total, count) in sorted(self.buckets.items())
        ]


class BucketIndex(Func):
    """Which of a window's equal buckets a time column falls in: floor((time - since) /
    width), computed by the database so a day of samples arrives as one row per bucket."""

    output_field = IntegerField()

    def __init__(self, column: str, since: datetime, width: timedelta):
        super().__init__(F(column))
        self.since, self.seconds = since, width.total_seconds()

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return f"FLOOR(EXTRACT(EPOCH FROM ({sql} - %s)) / %s)", [*params, self.since, self.seconds]

    def as_sqlite(self, compiler, connection, **extra):
        # The column holds 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC: whole seconds and the
        # fraction apart, so a time on a bucket's edge lands in it (julianday's days in a
        # double are some tens of microseconds off).
        sql, params = compiler.compile(self.get_source_expressions()[0])
        seconds = f"(CAST(strftime('%%s', {sql}) AS INTEGER) - %s)"
        fraction = f"(CAST('0' || substr({sql}, 20, 7) AS REAL) - %s)"
        whole = int(self.since.timestamp())
        return (
            f"CAST(({seconds} + {fraction}) / %s AS INTEGER)",  # never negative: time >= since
            [*params, whole, *params, self.since.microsecond / 1e6, self.seconds],
        )


def health_series_many(
    *, host_id: int, metric: str, subjects: list[str], windows: list[Window]
) -> dict[str, list[list[SeriesPoint]]]:
    """Several series of one host, each over several windows: subject -> one list of points
    per window. One query per window, whatever the number of subjects (the database folds
    the samples into the window's buckets), and one for the rollups of all of them.

    In each window, full-resolution samples where they are kept, hourly rollups for the
    hours before its first sample.
    """
    folds = {subject: [_Buckets(window) for window in windows] for subject in subjects}
    if not subjects or not windows:
        return {subject: [[] for _ in windows] for subject in subjects}
    series = {"host_id": host_id, "metric": metric, "subject__in": list(subjects)}
    for position, window in enumerate(windows):
        width = (window.until - window.since) / window.points
        buckets = (
            HealthSample.objects.filter(**series, time__gte=window.since, time__lt=window.until)
            .annotate(bucket=BucketIndex("time", window.since, width))
            .values_list("subject", "bucket")
            .annotate(Min("value"), Max("value"), Sum("value"), Count("pk"), Min("time"))
            .order_by()
        )
        for subject, index, low, high, total, count, first in buckets:
            fold = folds[subject][position]
            fold.add(int(index), low, high, total, count)
            fold.first_sample = (
                first if fold.first_sample is None else min(fold.first_sample, first)
            )
    since = min(window.since for window in windows)
    until = max(window.until for window in windows)
    rollups = HealthRollup.objects.filter(**series, hour__gte=since, hour__lt=until)
    for subject, hour, low, high, mean, count in rollups.values_list(
        "subject", "hour", "minimum", "maximum", "mean", "count"
    ):
        for fold in folds[subject]:
            if fold.window.since <= hour < fold.window.until and (
                fold.first_sample is None or hour < fold.first_sample
            ):
                fold.add(fold.index(hour), low, high, mean * count, count)
    return {subject: [fold.points() for fold in folded] for subject, folded in folds.items()}


CHART_WINDOWS = (("last hour", timedelta(hours=1), 120), ("last day", timedelta(days=1), 144))


def _probe_maps(probe: dict) -> list[dict]:
    queueing = {q["map"]: q for q in probe.get("multipath", {}).get("queueing", [])}
    maps = []
    for map_ in probe.get("multipath", {}).get("maps", []):
        paths = [{**p, "ok": rules.path_ok(p)} for p in rules.map_paths(map_)]
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
    """Everything the host's I/O-path page shows, from its last probe and its samples.

    The charts of every heartbeat region come from one query of samples and one of
    rollups, however many regions the host runs (a host with an SR per LUN runs dozens).
    """
    now = timezone.now()
    health = HostIOHealth.objects.filter(host=host).first()
    probe = health.probe if health else {}
    clusters = probe.get("heartbeat", {}).get("clusters", [])
    found = [(cluster, region) for cluster in clusters for region in cluster.get("regions", [])]
    windows = [Window(now - span, now, points) for _label, span, points in CHART_WINDOWS]
    series = health_series_many(
        host_id=host.pk,
        metric="heartbeat_lag_ms",
        subjects=[region["region"] for _cluster, region in found] if charts else [],
        windows=windows,
    )
    regions = []
    for cluster, region in found:
        drawn = (
            [
                (
                    label,
                    lag_chart(points, since=window.since, until=now, dead_ms=cluster["dead_ms"]),
                )
                for (label, _span, _points), window, points in zip(
                    CHART_WINDOWS, windows, series[region["region"]], strict=True
                )
            ]
            if charts
            else []
        )
        regions.append({**region, "cluster": cluster, "charts": drawn})
    return {
        "health": health,
        "maps": _probe_maps(probe),
        "bonds": probe.get("bonds", []),
        "clusters": clusters,
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


def _sr_host_row(host: Host, wwid: str, pbd) -> SRHostRow:
    """One host's line on the SR page: its view of the LUN and the problems that are this
    LUN's own (its map's and its heartbeat region's, named exactly: map mpatha is no part
    of mpathab)."""
    health = getattr(host, "io_health", None)
    view = host.lun_view if health else None
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
        state = rules.worst([IOHealthState.OK, *(p["severity"] for p in mine)])
    return SRHostRow(
        host=host,
        state=state,
        paths_up=view["up"] if view else None,
        paths_total=view["total"] if view else None,
        lag_ms=view["lag_ms"] if view else None,
        dead_ms=view["dead_ms"] if view else None,
        plugged=pbd.plugged if pbd is not None else None,
        problems=mine,
    )


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
    rows = [_sr_host_row(host, wwid, pbds.get(host.pk)) for host in hosts]
    severity = rules.SEVERITY_ORDER.index
    rows.sort(key=lambda r: (-severity(r.state), r.host.hostname))
    counts = {state: 0 for state in reversed(rules.SEVERITY_ORDER)}
    for row in rows:
        counts[row.state] += 1
    return {
        "sr": sr,
        "rows": rows,
        "counts": counts,
        "state": rules.worst(r.state for r in rows),
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
            for i, state in enumerate(reversed(rules.SEVERITY_ORDER))
        ),
        default=Value(len(rules.SEVERITY_ORDER)),
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
        "state": rules.worst(state for state, n in counts.items() if n),
        "counts": counts,
        # The states some host is in, with their counts, for a sentence without gaps.
        "tally": [(n, state) for state, n in counts.items() if n],
        "at_risk": list(at_risk[:AT_RISK_SHOWN]),
        "at_risk_more": max(0, at_risk_count - AT_RISK_SHOWN),
        "time_to_fence": HostIOHealth.objects.aggregate(t=Min("time_to_fence"))["t"],
        "config_warnings": sum(len(w) for w in warnings),
    }
