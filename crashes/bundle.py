"""The bug report bundle: what a developer needs to look at a crash, in one zip.

metadata.json (the verdict, its details, the host's facts), evidence.txt, every log the
analysis read (logs/), the incident's timeline of what the peers logged (timeline.txt) and
the host's I/O state before the crash (io-before.json).
"""

from __future__ import annotations

import io
import json
import zipfile

from django.http import HttpResponse

from clusters.models import HostIOHealth, Membership

from .models import HostCrashdump
from .services import io_state_before, missing_evidence


def bundle_response(crash: HostCrashdump) -> HttpResponse:
    """The bundle as a download named after the crash."""
    response = HttpResponse(bug_report_bundle(crash), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="bug-report-{crash.uuid}.zip"'
    return response


def bug_report_bundle(crash: HostCrashdump) -> bytes:
    incident = crash.incident
    # Kept when the crash was recorded; worked out now for one recorded before that.
    io_before = crash.io_before or io_state_before(crash.host, crash.time)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("metadata.json", json.dumps(_metadata(crash), indent=2, sort_keys=True))
        bundle.writestr(
            "evidence.txt",
            "\n".join(f"{e.get('file')}:{e.get('line')}: {e.get('text')}" for e in crash.evidence)
            + "\n",
        )
        for stored in crash.stored_logs:
            path = crash.store_dir / stored["file"]
            if path.is_file():
                bundle.write(path, f"logs/{stored['file']}")
        if incident is not None:
            bundle.writestr("timeline.txt", _timeline_text(incident))
        bundle.writestr("io-before.json", json.dumps(io_before, indent=2, sort_keys=True))
    return buffer.getvalue()


def _metadata(crash: HostCrashdump) -> dict:
    incident = crash.incident
    return {
        "uuid": str(crash.uuid),
        "name": crash.name,
        "source": crash.source,
        "time": crash.time.isoformat() if crash.time else None,
        "received": crash.received.isoformat(),
        "cause": crash.cause,
        "verdict": crash.verdict,
        "explanation": crash.explanation,
        "missing_evidence": missing_evidence(crash) if crash.no_signature else [],
        "signature": crash.signature,
        "details": crash.details,
        "files": crash.files,
        "logs": [stored["name"] for stored in crash.stored_logs],
        "host": _host_facts(crash.host) if crash.host is not None else None,
        "incident": {
            "time": incident.time.isoformat(),
            "summary": incident.summary,
            "hosts": sorted(incident.crashes.values_list("hostname", flat=True)),
        }
        if incident
        else None,
    }


def _host_facts(host) -> dict:
    health = HostIOHealth.objects.filter(host=host).first()
    return {
        "hostname": host.hostname,
        "uuid": str(host.uuid),
        "agent_version": host.agent_version,
        "boot_time": host.boot_time.isoformat() if host.boot_time else None,
        "clusters": [
            {"cluster": m.cluster.cluster_name, "node": m.number}
            for m in Membership.objects.filter(host=host, left__isnull=True).select_related(
                "cluster"
            )
        ],
        "io_state": health.state if health else None,
        "o2cb": (health.probe if health else {}).get("heartbeat", {}).get("clusters"),
    }


def _timeline_text(incident) -> str:
    """The incident on one time axis: each line with when, whose log, and where in it."""
    rows = [f"# {incident.summary}"]
    for event in incident.timeline:
        who = f"{event.get('host')} ({event.get('role')}"
        about = event.get("about") if event.get("role") == "survivor" else None
        who += f", about {about})" if about else ")"
        rows.append(
            f"{event.get('time')} {who} {event.get('file')}:{event.get('line')}: "
            f"{event.get('text')}"
        )
    return "\n".join(rows) + "\n"
