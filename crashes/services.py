"""Crash dumps: record what the analyser found, alert, and explain each incident.

The analysis itself runs on the host (the agent's `agent.crash`), or here for an
uploaded dump, with the same code. This module stores the verdict, keeps the logs the
evidence cites, groups crashes that happened together into one incident with what the
surviving hosts logged, and explains restarts that left no dump from the peers' logs.
"""

from __future__ import annotations

import re
import shutil
import uuid as uuid_module
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agent.contract import encode
from clusters.agents import agent, agent_call_many
from clusters.choices import HostRegistration
from clusters.iohealth.services import IO_ALERTS
from clusters.models import Host, HostIOHealth, Membership
from core.choices import AlertName
from core.errors import ConsoleError
from core.services.alerts import alert_raise, alert_was_open
from core.services.audit import audit_record
from core.services.tasks import enqueue_on_commit

from .choices import CrashCause, CrashSource
from .models import CrashIncident, HostCrashdump

CRASH_ALERTS = {
    CrashCause.O2CB: AlertName.HOST_FENCED_BY_O2CB,
    CrashCause.XHAD: AlertName.HOST_FENCED_BY_HA_WATCHDOG,
    CrashCause.BUG: AlertName.HOST_CRASHED_BY_A_BUG,
}
# Crashes this close together are one incident (a storage outage fences several hosts).
INCIDENT_WINDOW = timedelta(minutes=5)
# What survivors logged this long before and after a crash is part of its story.
PEER_LOGS_BEFORE = timedelta(minutes=10)
PEER_LOGS_AFTER = timedelta(minutes=5)
SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file name that stays inside its directory whatever the uploader called it."""
    cleaned = SAFE_NAME_RE.sub("_", Path(name.replace("\\", "/")).name).strip("._")
    return cleaned[:120] or "upload"


def signature_repeats(crash: HostCrashdump) -> int:
    """How many recorded crashes share this one's signature (0 without one)."""
    if not crash.signature:
        return 0
    return HostCrashdump.objects.filter(signature=crash.signature).count()


def recommendations(crash: HostCrashdump, repeats: int | None = None) -> list[str]:
    """What the admin should do about this crash, from its cause and details (`repeats`:
    how often its signature was seen, when the caller knows)."""
    details = crash.details or {}
    actions = []
    if crash.cause == CrashCause.O2CB:
        mechanism = details.get("mechanism")
        if mechanism == "disk_heartbeat":
            device = details.get("device") or "the heartbeat device"
            actions.append(
                f"Fix the I/O path to {device}: check its multipath paths, the HBAs, the "
                "switch ports and the array's logs around the crash time; the host's I/O page "
                "shows the paths and the heartbeat lag before the fence."
            )
            actions.append(
                "If the array can stall longer than O2CB's dead time during normal events "
                "(controller failover), raise O2CB_HEARTBEAT_THRESHOLD on every host and "
                "restart the cluster host by host."
            )
        elif mechanism == "network":
            peer = details.get("node") or details.get("peer") or "its peer"
            actions.append(
                f"Fix the cluster network between this host and {peer}: the bond slaves, "
                "cables and switch ports of the storage network; O2CB's idle timeout expired."
            )
        elif mechanism == "quorum":
            actions.append(
                "The host lost its connection to too many peers and fenced to protect the "
                "data: check the cluster network (bonds, switches) shared by the hosts."
            )
        else:
            actions.append("Check the host's storage paths and cluster network.")
        if crash.source == CrashSource.PEERS or details.get("fence_method") == "reset":
            actions.append(
                "Make the next fence leave a crash dump: set the fence method to panic "
                "(echo panic > /sys/kernel/config/cluster/<cluster>/fence_method on every "
                "host) and keep the crash kernel configured."
            )
    elif crash.cause == CrashCause.XHAD:
        actions.append(
            "HA's daemon stopped feeding the Xen watchdog: check the HA statefile SR's "
            "storage path and the management network that carries HA's heartbeat; "
            "`xe pool-param-get param-name=ha-configuration` shows its timeouts."
        )
    else:
        actions.append(
            "This looks like a software bug, not an outage: download the bug report bundle "
            "and send it to your vendor or the project's issue tracker."
        )
        repeats = signature_repeats(crash) if repeats is None else repeats
        if repeats > 1:
            actions.append(
                f"The same failure has happened {repeats} times: mention that in the report."
            )
    return actions


def _alert_message(crash: HostCrashdump) -> str:
    where = crash.hostname or "An uploaded dump"
    when = f" at {crash.time:%Y-%m-%d %H:%M:%S} UTC" if crash.time else ""
    return f"{where}{when}: {crash.explanation} What to do: {' '.join(recommendations(crash))}"


def _analysis_fields(analysis: dict | None, error: str | None) -> dict:
    if not analysis:
        return {
            "cause": CrashCause.BUG,
            "explanation": f"The dump could not be analysed ({error or 'no analysis'}); "
            "it is kept so it can be reported.",
            "evidence": [],
            "details": {},
            "signature": "",
            "time": None,
        }
    crash_time = analysis.get("crash_time")
    parsed = parse_datetime(crash_time) if isinstance(crash_time, str) else None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # hosts log in UTC unless they say otherwise
    return {
        "cause": analysis.get("cause") if analysis.get("cause") in CrashCause.values else "bug",
        "explanation": str(analysis.get("explanation") or ""),
        "evidence": list(analysis.get("evidence") or [])[:200],
        "details": dict(analysis.get("details") or {}),
        "signature": str(analysis.get("signature") or "")[:200],
        "time": parsed,
    }


def crashdump_record(*, host: Host | None, dump: dict, source: str, actor=None) -> HostCrashdump:
    """Store one analysed dump (idempotent per host and name), alert, and explain it."""
    name = str(dump.get("name") or "dump")[:255]
    if host is not None:
        existing = HostCrashdump.objects.filter(host=host, name=name).first()
        if existing is not None:
            return existing
    fields = _analysis_fields(dump.get("analysis"), dump.get("error"))
    with transaction.atomic():
        crash = HostCrashdump.objects.create(
            host=host,
            hostname=host.hostname if host else "",
            name=name,
            source=source,
            size=int(dump.get("size") or 0),
            files=list(dump.get("files") or [])[:1000],
            **fields,
        )
        stored = []
        for log_name, log in (dump.get("logs") or {}).items():
            # A log is its tail and the number of its first line (a bare text: the whole log).
            log = log if isinstance(log, dict) else {"text": log}
            path = crash.store_dir / safe_name(log_name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(log.get("text", "")))
            stored.append(
                {
                    "name": str(log_name),
                    "file": path.name,
                    "first_line": int(log.get("first_line") or 1),
                }
            )
        crash.stored_logs = stored
        crash.save(update_fields=["stored_logs"])
        alert_raise(
            name=CRASH_ALERTS[crash.cause],
            target=crash,
            message=_alert_message(crash),
        )
        audit_record(
            actor=actor, action="crash.record", target=crash, message=f"{source}: {crash.cause}"
        )
        if host is not None:
            _collect_incident_later(crash)
    return crash


def _collect_incident_later(crash: HostCrashdump) -> None:
    enqueue_on_commit("crashes.collect_incident", args=[crash.pk])


def crashdump_upload(*, uploaded, host: Host | None, actor) -> HostCrashdump:
    """An admin's dump (a log, or an archive of a dump directory): kept, analysed, recorded."""
    from agent.crash import analyse_path
    from agent.errors import AgentError

    if uploaded.size > settings.CRASH_UPLOAD_MAX_BYTES:
        raise ConsoleError(
            f"The file is {uploaded.size:,} bytes; uploads are limited to "
            f"{settings.CRASH_UPLOAD_MAX_BYTES:,} bytes. Upload the logs (xen.log, dom0.log) "
            "rather than the memory image."
        )
    if uploaded.size == 0:
        raise ConsoleError("The file is empty.")
    target = Path(settings.CRASH_STORE) / "uploads" / uuid_module.uuid4().hex
    target.mkdir(parents=True)
    path = target / safe_name(uploaded.name)
    with open(path, "wb") as out:
        for chunk in uploaded.chunks():
            out.write(chunk)
    try:
        analysis = analyse_path(path)
    except AgentError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ConsoleError(f"{uploaded.name}: {exc}") from None
    if not any(item.get("read") for item in analysis.get("files", [])):
        shutil.rmtree(target, ignore_errors=True)
        raise ConsoleError(
            f"{uploaded.name} holds no readable log (binary files such as memory images are "
            "skipped): upload xen.log, dom0.log or kern.log, or an archive of the dump directory."
        )
    return crashdump_record(
        host=host,
        dump={
            "name": f"{timezone.now():%Y%m%d-%H%M%S}-{path.name}",
            "size": uploaded.size,
            "files": [{"name": uploaded.name, "size": uploaded.size}],
            "analysis": analysis,
            "logs": {},
        },
        source=CrashSource.UPLOAD,
        actor=actor,
    )


def crashdump_acknowledge(*, crash: HostCrashdump, actor) -> HostCrashdump:
    if crash.acknowledged is None:
        crash.acknowledged = timezone.now()
        crash.acknowledged_by = actor
        crash.save(update_fields=["acknowledged", "acknowledged_by"])
        audit_record(actor=actor, action="crash.acknowledge", target=crash)
    return crash


# Incidents ----------------------------------------------------------------------------------


def _peers_of(host: Host) -> list[Host]:
    """Hosts that share a cluster with `host` (every other accepted host if it has none)."""
    clusters = Membership.objects.filter(host=host, left__isnull=True).values("cluster")
    peers = Host.objects.filter(registration=HostRegistration.ACCEPTED).exclude(pk=host.pk)
    shared = peers.filter(memberships__cluster__in=clusters, memberships__left__isnull=True)
    return list(shared.distinct() if clusters.exists() else peers)


def _node_numbers(host: Host) -> set[int]:
    return set(Membership.objects.filter(host=host).values_list("number", flat=True))


def _mentions(text: str, host: Host, numbers: set[int]) -> bool:
    if host.hostname and re.search(rf"\b{re.escape(host.hostname)}\b", text):
        return True
    for number in numbers:
        if re.search(rf"\(num {number}\)|\bnode {number}\b|dead node {number}\b", text):
            return True
    return False


def peer_logs(host: Host, around: datetime) -> list[dict]:
    """What the other hosts logged about `host` around a time: its death, the DLM's
    recovery of its locks, the replay of its journal."""
    since, until = around - PEER_LOGS_BEFORE, around + PEER_LOGS_AFTER
    answers = agent_call_many(
        _peers_of(host),
        lambda peer: agent(peer).crash_peer_logs(since.isoformat(), until.isoformat()),
    )
    numbers = _node_numbers(host)
    lines = []
    for peer, answer in answers.items():
        if isinstance(answer, Exception):
            continue
        for item in answer:
            lines.append(
                {
                    **encode(item),
                    "host": peer.hostname,
                    "role": "survivor",
                    "about_crashed": _mentions(item.text, host, numbers),
                }
            )
    return sorted(lines, key=lambda item: item["time"])


def incident_collect(*, crash: HostCrashdump) -> CrashIncident:
    """Put the crash in its incident (crashes within minutes of each other) and add what the
    survivors logged around it, on one time axis."""
    around = crash.time or crash.received
    incident = (
        CrashIncident.objects.filter(
            time__gte=around - INCIDENT_WINDOW, time__lte=around + INCIDENT_WINDOW
        )
        .order_by("time")
        .first()
    )
    if incident is None:
        incident = CrashIncident.objects.create(time=around, cause=crash.cause, summary="")
    crash.incident = incident
    crash.save(update_fields=["incident"])
    survivors = peer_logs(crash.host, around) if crash.host else []
    timeline = [e for e in incident.timeline if e.get("crash") != crash.pk]
    for item in crash.evidence:
        timeline.append(
            {
                **item,
                "time": around.isoformat(),
                "host": crash.hostname,
                "role": "crashed",
                "crash": crash.pk,
            }
        )
    known = {(e["host"], e.get("file"), e.get("line")) for e in timeline}
    timeline += [s for s in survivors if (s["host"], s.get("file"), s.get("line")) not in known]
    timeline.sort(key=lambda e: e["time"])
    crashes = list(incident.crashes.order_by("time"))
    incident.time = min(c.time or c.received for c in crashes)
    incident.cause = crashes[0].cause
    incident.timeline = timeline
    names = ", ".join(sorted({c.hostname or "an uploaded dump" for c in crashes}))
    saw = sorted({s["host"] for s in timeline if s["role"] == "survivor" and s["about_crashed"]})
    incident.summary = f"{names} went down ({incident.get_cause_display().lower()})" + (
        f"; {', '.join(saw)} saw it and recovered its locks and journal." if saw else "."
    )
    incident.save()
    return incident


# How long before a restart the fence method counts as the one the host went down with.
FENCE_SETTING_WINDOW = timedelta(minutes=10)


def reboot_check(*, host: Host, previous_boot: datetime, boot: datetime) -> HostCrashdump | None:
    """A host restarted: if it left no dump but its peers saw it die, record that crash."""
    if HostCrashdump.objects.filter(
        Q(time__gte=previous_boot) | Q(time__isnull=True, received__gte=previous_boot),
        host=host,
    ).exists():
        return None
    survivors = [s for s in peer_logs(host, boot) if s["about_crashed"]]
    if not survivors:
        return None  # a clean restart: nobody saw it die
    health = HostIOHealth.objects.filter(host=host).first()
    methods = {
        c.get("fence_method")
        for c in (health.probe if health else {}).get("heartbeat", {}).get("clusters", [])
    }
    # The last probe may already be the restarted host's (or none, while it was down); the
    # alert on the setting tells how it was in the minutes before the restart.
    by_reset = "reset" in methods or alert_was_open(
        name=IO_ALERTS["fence_method"], target=host, since=boot - FENCE_SETTING_WINDOW, until=boot
    )
    how = (
        "O2CB fences by reset on this host, which restarts it at once without a dump."
        if by_reset
        else "It left no crash dump (fence by reset, a power cut or a hardware reset)."
    )
    return crashdump_record(
        host=host,
        dump={
            "name": f"no-dump-{boot:%Y%m%d-%H%M%S}",
            "analysis": {
                "cause": CrashCause.O2CB,
                "explanation": f"{host} restarted at {boot:%Y-%m-%d %H:%M:%S} UTC and its peers "
                f"saw it leave the cluster ({survivors[0]['host']}: "
                f'"{survivors[0]["text"][-160:]}"). {how}',
                "evidence": [
                    {"file": f"{s['host']}:{s['file']}", "line": s["line"], "text": s["text"]}
                    for s in survivors[:50]
                ],
                "crash_time": survivors[0]["time"],
                "details": {
                    "mechanism": "seen_by_peers",
                    "fence_method": "reset" if "reset" in methods else None,
                },
            },
        },
        source=CrashSource.PEERS,
    )
