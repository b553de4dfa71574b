"""Reads for the crash pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Max, Min

from clusters.iohealth.selectors import region_lag_chart

from .choices import CrashCause
from .models import HostCrashdump
from .services import missing_evidence, recommendations, signature_repeats

EXCERPT_CONTEXT = 3
IO_BEFORE = timedelta(minutes=15)


def bug_groups():
    """Bugs grouped by signature: the same failure on several hosts or several times."""
    return (
        HostCrashdump.objects.filter(cause=CrashCause.BUG)
        .exclude(signature="")
        .values("signature")
        .annotate(
            count=Count("id"),
            first=Min("received"),
            last=Max("received"),
            hosts=Count("hostname", distinct=True),
        )
        .order_by("-count", "-last")
    )


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
    series = []
    for cluster in (health.probe if health else {}).get("heartbeat", {}).get("clusters", []):
        for region in cluster.get("regions", []):
            chart = region_lag_chart(
                host_id=crash.host_id,
                region=region["region"],
                dead_ms=cluster["dead_ms"],
                since=since,
                until=until,
                points=60,
            )
            if not chart.empty:
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
