"""Reads for the crash pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Coalesce

from clusters.iohealth.charts import lag_chart
from clusters.iohealth.selectors import Window, health_series_many

from .choices import CrashCause
from .models import HostCrashdump
from .services import missing_evidence, recommendations, signature_repeats

EXCERPT_CONTEXT = 3
IO_BEFORE = timedelta(minutes=15)


def _seen():
    """When a crash happened, or when it reached the console if nobody knows."""
    return Coalesce("time", "received")


def bug_groups():
    """Bugs grouped by signature: the same failure on several hosts or several times.
    `hosts` counts hosts; a dump uploaded without naming its host is counted apart."""
    return (
        HostCrashdump.objects.filter(cause=CrashCause.BUG)
        .exclude(signature="")
        .values("signature")
        .annotate(
            count=Count("id"),
            first=Min(_seen()),
            last=Max(_seen()),
            hosts=Count("hostname", distinct=True, filter=~Q(hostname="")),
            without_host=Count("id", filter=Q(hostname="")),
        )
        .order_by("-count", "-last")
    )


def signature_key(signature: str) -> str:
    """The signature's hash, which names its group (HostCrashdump.signature_key)."""
    return signature.split(" ", 1)[0]


def bug_group(key: str) -> dict | None:
    """One signature's group: every crash in it, its hosts, when it was first and last seen."""
    if not key:
        return None
    crashes = list(
        HostCrashdump.objects.filter(cause=CrashCause.BUG)
        .filter(Q(signature=key) | Q(signature__startswith=f"{key} "))
        .select_related("host", "incident")
        .order_by("-received", "-id")
    )
    if not crashes:
        return None
    seen = [c.time or c.received for c in crashes]
    crashes.sort(key=lambda c: c.time or c.received, reverse=True)
    return {
        "key": key,
        "signature": crashes[0].signature,
        "crashes": crashes,
        "count": len(crashes),
        "hosts": sorted({c.hostname for c in crashes if c.hostname}),
        "without_host": sum(1 for c in crashes if not c.hostname),
        "first": min(seen),
        "last": max(seen),
        "details": crashes[0].details,
        "actions": recommendations(crashes[0], len(crashes)),
    }


def _excerpts(crash: HostCrashdump) -> list[dict]:
    """Each stored log's lines around the evidence it holds, the evidence marked."""
    excerpts = []
    cited: dict[str, set[int]] = {}
    for item in crash.evidence:
        cited.setdefault(item.get("file", ""), set()).add(int(item.get("line") or 0))
    for stored in crash.stored_logs:
        lines_cited = cited.get(stored["name"], set())
        path = crash.store_dir / stored["file"]
        if not lines_cited or not path.is_file():
            continue
        text = path.read_text(errors="replace").splitlines()
        wanted = set()
        for number in lines_cited:
            wanted.update(range(number - EXCERPT_CONTEXT, number + EXCERPT_CONTEXT + 1))
        rows = []
        # The stored copy may be the log's tail, starting at line `first_line`.
        for index, line in enumerate(text, stored.get("first_line", 1)):
            if index in wanted:
                rows.append({"number": index, "text": line, "cited": index in lines_cited})
        excerpts.append({"name": stored["name"], "rows": rows})
    return excerpts


def io_before(crash: HostCrashdump) -> list[dict]:
    """The host's heartbeat lag in the minutes before the crash, when the console has it."""
    if crash.host_id is None:
        return []
    until = crash.time or crash.received
    since = until - IO_BEFORE
    health = getattr(crash.host, "io_health", None)
    found = [
        (cluster, region)
        for cluster in (health.probe if health else {}).get("heartbeat", {}).get("clusters", [])
        for region in cluster.get("regions", [])
    ]
    lags = health_series_many(  # two queries, however many regions the host ran
        host_id=crash.host_id,
        metric="heartbeat_lag_ms",
        subjects=[region["region"] for _cluster, region in found],
        windows=[Window(since, until, 60)],
    )
    series = []
    for cluster, region in found:
        points = lags[region["region"]][0]
        if points:
            chart = lag_chart(points, since=since, until=until, dead_ms=cluster["dead_ms"])
            series.append({"region": region["region"], "chart": chart})
    return series


def crash_context(crash: HostCrashdump) -> dict:
    incident = crash.incident
    timeline = incident.timeline if incident else []
    start = _time(timeline[0]["time"]) if timeline else None
    for event in timeline:
        moment = _time(event["time"])
        event["offset"] = round((moment - start).total_seconds()) if moment and start else None
    repeats = signature_repeats(crash)
    return {
        "crash": crash,
        "actions": recommendations(crash, repeats),
        "missing": missing_evidence(crash) if crash.no_signature else [],
        "details": {
            key: value
            for key, value in (crash.details or {}).items()
            if value is not None and key not in HIDDEN_DETAILS
        },
        "excerpts": _excerpts(crash),
        "io_before": io_before(crash),
        "incident": incident,
        "timeline": timeline,
        "repeats": repeats,
    }


# Details the page says in words rather than as a key and a value.
HIDDEN_DETAILS = {"missing", "time_stated_by", "stated_time"}


def _time(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
