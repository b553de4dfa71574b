"""The bug report bundle: what a developer needs to look at a crash, in one zip."""

from __future__ import annotations

import io
import json
import zipfile

from django.http import HttpResponse

from clusters.models import HostIOHealth, Membership

from .models import HostCrashdump


def bundle_response(crash: HostCrashdump) -> HttpResponse:
    """The bundle as a download named after the crash."""
    response = HttpResponse(bug_report_bundle(crash), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="bug-report-{crash.uuid}.zip"'
    return response


def bug_report_bundle(crash: HostCrashdump) -> bytes:
    host = crash.host
    facts = None
    if host is not None:
        health = HostIOHealth.objects.filter(host=host).first()
        facts = {
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
    metadata = {
        "uuid": str(crash.uuid),
        "name": crash.name,
        "source": crash.source,
        "time": crash.time.isoformat() if crash.time else None,
        "received": crash.received.isoformat(),
        "cause": crash.cause,
        "explanation": crash.explanation,
        "signature": crash.signature,
        "details": crash.details,
        "files": crash.files,
        "host": facts,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("metadata.json", json.dumps(metadata, indent=2, sort_keys=True))
        bundle.writestr(
            "evidence.txt",
            "\n".join(f"{e.get('file')}:{e.get('line')}: {e.get('text')}" for e in crash.evidence)
            + "\n",
        )
        for stored in crash.stored_logs:
            path = crash.store_dir / stored["file"]
            if path.is_file():
                bundle.write(path, f"logs/{stored['file']}")
    return buffer.getvalue()
