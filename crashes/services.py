"""Crash dumps: record what the analyser found, alert, and explain each incident.

The analysis itself runs on the host (the agent's `agent.crash`), or here for an
uploaded dump, with the same code. This module stores the verdict, keeps the logs the
analysis read and the host's I/O state before the crash, groups crashes that the evidence
ties together into one incident with what the surviving hosts logged about them, and
explains restarts that left no dump from the peers' logs (never a planned one, and never
from lines another crash was already explained by).
"""

from __future__ import annotations

import re
import shutil
import uuid as uuid_module
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.move import file_move_safe
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agent.contract import encode
from agent.crash.analyse import stopped_early
from agent.crash.peers import BACK, DIED, read_peer_lines
from agent.crashdumps import kept_logs
from clusters.agents import agent, agent_call_many
from clusters.choices import HostRegistration
from clusters.iohealth.services import IO_ALERTS
from clusters.models import HealthSample, Host, HostIOHealth, Membership
from core.choices import AlertName, StepStatus, TaskStatus
from core.errors import ConsoleError
from core.models import Alert, Task
from core.services.alerts import alert_raise, alert_was_open
from core.services.audit import audit_record, target_fields
from core.services.tasks import (
    enqueue_on_commit,
    task_create,
    task_finish,
    task_step_finish,
    task_step_start,
)

from .choices import CrashCause, CrashSource
from .models import CrashIncident, HostCrashdump

CRASH_ALERTS = {
    CrashCause.O2CB: AlertName.HOST_FENCED_BY_O2CB,
    CrashCause.XHAD: AlertName.HOST_FENCED_BY_HA_WATCHDOG,
    CrashCause.BUG: AlertName.HOST_CRASHED_BY_A_BUG,
}
# Hosts one outage fences go down within about one heartbeat dead time (60 s by default)
# of each other: each stops hearing the same storage, or the same network, at once. Two
# crashes are one incident only this close together, and only when their evidence ties them.
INCIDENT_WINDOW = timedelta(minutes=2)
# What survivors logged this long before and after a crash is part of its story.
PEER_LOGS_BEFORE = timedelta(minutes=10)
PEER_LOGS_AFTER = timedelta(minutes=5)
# Of the host's I/O before a crash, what the console keeps with it.
IO_BEFORE = timedelta(minutes=15)
IO_SAMPLES_KEPT = 5000
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
    elif crash.no_signature:
        actions += _unexplained_actions(crash)
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


def missing_evidence(crash: HostCrashdump) -> list[str]:
    """What a crash without a signature lacks to be explained: a dump, its logs, their end."""
    details = crash.details or {}
    missing = list(details.get("missing") or [])
    end = parse_datetime(details.get("logs_end") or "")
    if end and crash.time and not any(item.startswith("the logs' last") for item in missing):
        early = stopped_early(end, crash.time, "the crash")
        if early:
            missing.append(early)
    return missing


def _unexplained_actions(crash: HostCrashdump) -> list[str]:
    missing = missing_evidence(crash)
    actions = [
        "No crash signature was found, so nothing shows this was a software bug, and there "
        "is nothing yet to report as one." + (f" Missing: {'; '.join(missing)}." if missing else "")
    ]
    actions.append(
        "Look where a hard reset or a power loss leaves a trace: the server's management "
        "controller (iLO, iDRAC, IPMI event log) and its serial console."
    )
    actions.append(
        "If the host wrote a crash dump (/var/crash/<time>/ on XenServer), upload that "
        "directory as an archive; otherwise upload its kern.log around the restart, and "
        "state when it happened if the log's lines carry no date."
    )
    return actions


def _alert_name(crash: HostCrashdump) -> str:
    return AlertName.HOST_CRASH_UNEXPLAINED if crash.no_signature else CRASH_ALERTS[crash.cause]


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
            if any(item["file"] == path.name for item in stored):  # same name, other folder
                path = path.with_name(f"{len(stored)}-{path.name}")
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
        crash.io_before = io_state_before(host, crash.time)
        crash.save(update_fields=["stored_logs", "io_before"])
        alert_raise(
            name=_alert_name(crash),
            target=crash,
            message=_alert_message(crash),
        )
        audit_record(
            actor=actor, action="crash.record", target=crash, message=f"{source}: {crash.cause}"
        )
        if host is not None and crash.time is not None:
            # Without a time nothing ties it to other crashes, nor says which lines of the
            # peers' logs are about it.
            _collect_incident_later(crash)
    return crash


# Rounds of one collection: each says which dumps it recorded and gets the next few.
COLLECT_ROUNDS = 10


def host_dumps_collect(*, host: Host) -> list[HostCrashdump]:
    """Fetch the dumps a host has not reported and record each as its report would be
    (a pool host reports nothing unasked: its plugin runs only when XAPI calls it).

    The host forgets a dump only when the next request names it as recorded, so a lost
    answer loses nothing; recording is idempotent, so one asked twice is stored once."""
    recorded: list[HostCrashdump] = []
    received: list[str] = []
    for _round in range(COLLECT_ROUNDS):
        dumps = agent(host).crash_dumps(received)
        for dump in dumps:
            recorded.append(
                crashdump_record(host=host, dump=encode(dump), source=CrashSource.AGENT)
            )
        received = [dump.name for dump in dumps]
        if not dumps:
            break
    return recorded


def io_state_before(host: Host | None, at: datetime | None) -> dict:
    """The host's I/O paths before `at` as the console had them: its last verdict (and
    whether it is from before), the I/O alerts then open and the samples of IO_BEFORE."""
    if host is None or at is None:
        return {}
    since = at - IO_BEFORE
    health = HostIOHealth.objects.filter(host=host).first()
    verdict = None
    if health is not None:
        verdict = {
            "state": health.state,
            "since": health.since.isoformat(),
            "checked": health.checked.isoformat(),
            "from_before_the_crash": health.checked <= at,
            "problems": health.problems,
            "config_warnings": health.config_warnings,
            "time_to_fence": health.time_to_fence,
            "heartbeat": (health.probe or {}).get("heartbeat"),
        }
    target = target_fields(host)
    alerts = (
        Alert.objects.filter(
            name__in=IO_ALERTS.values(),
            target_type=target["target_type"],
            target_id=target["target_id"],
            created__lte=at,
        )
        .filter(Q(cleared__isnull=True) | Q(cleared__gte=since))
        .order_by("created")
    )
    samples = HealthSample.objects.filter(host=host, time__gte=since, time__lte=at).order_by(
        "metric", "subject", "time"
    )
    return {
        "since": since.isoformat(),
        "until": at.isoformat(),
        "verdict": verdict,
        "alerts": [
            {
                "name": alert.name,
                "priority": alert.priority,
                "message": alert.message,
                "raised": alert.created.isoformat(),
                "cleared": alert.cleared.isoformat() if alert.cleared else None,
            }
            for alert in alerts
        ],
        "samples": [
            {"metric": m, "subject": sub, "time": t.isoformat(), "value": v}
            for m, sub, t, v in samples.values_list("metric", "subject", "time", "value")[
                :IO_SAMPLES_KEPT
            ]
        ],
    }


def _collect_incident_later(crash: HostCrashdump) -> None:
    enqueue_on_commit("crashes.collect_incident", args=[crash.pk])


UPLOAD_STEPS = ["Read the dump and explain the crash", "Record the crash and alert"]


def uploads_dir() -> Path:
    return Path(settings.CRASH_STORE) / "uploads"


def _store(uploaded, path: Path) -> None:
    if hasattr(uploaded, "temporary_file_path"):
        # Spooled beside the store (FILE_UPLOAD_TEMP_DIR): a rename, not a copy.
        file_move_safe(uploaded.temporary_file_path(), path)
        return
    with open(path, "wb") as out:
        for chunk in uploaded.chunks():
            out.write(chunk)


def stated_crash_time(value) -> datetime | None:
    """When an admin says a host crashed (ISO 8601; UTC unless it carries an offset)."""
    if value in (None, ""):
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value).strip())
    if parsed is None:
        raise ConsoleError(
            f"'{value}' is not a time: give it as 2026-11-25 06:10:00 (UTC).", status_code=400
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed > timezone.now() + timedelta(minutes=5):
        raise ConsoleError("The crash time is in the future.", status_code=400)
    return parsed.astimezone(UTC)


def crashdump_upload(*, uploaded, host: Host | None, actor, crashed_at=None) -> Task:
    """Keep an admin's dump (a log, or an archive of a dump directory) and analyse it in a
    task: a large dump takes longer to read than a web request may last. `crashed_at` is
    when the admin says it crashed, used only if the dump gives no time of its own."""
    stated = stated_crash_time(crashed_at)
    if uploaded.size > settings.CRASH_UPLOAD_MAX_BYTES:
        raise ConsoleError(
            f"The file is {uploaded.size:,} bytes; uploads are limited to "
            f"{settings.CRASH_UPLOAD_MAX_BYTES:,} bytes. Upload the logs (xen.log, dom0.log) "
            "rather than the memory image.",
            status_code=413,
        )
    if uploaded.size == 0:
        raise ConsoleError("The file is empty.", status_code=400)
    target = uploads_dir() / uuid_module.uuid4().hex
    target.mkdir(parents=True)
    path = target / safe_name(uploaded.name)
    try:
        _store(uploaded, path)
        return task_create(
            name=f"Analyse the uploaded dump {uploaded.name[:120]}",
            kind="crashes.upload",
            celery_task="crashes.analyse_upload",
            steps=UPLOAD_STEPS,
            user=actor,
            target=host,
            params={
                "upload": f"{target.name}/{path.name}",
                "name": uploaded.name[:255],
                "size": uploaded.size,
                "host": host.pk if host else None,
                "crashed_at": stated.isoformat() if stated else None,
            },
        )
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def _analyse_upload(path: Path, name: str) -> dict:
    from agent.crash import analyse_path
    from agent.errors import AgentError

    try:
        analysis = analyse_path(path)
    except AgentError as exc:
        raise ConsoleError(f"{name}: {exc}") from None
    if not any(item.get("read") for item in analysis.get("files", [])):
        raise ConsoleError(
            f"{name} holds no readable log (binary files such as memory images are "
            "skipped): upload xen.log, dom0.log or kern.log, or an archive of the dump directory."
        )
    return analysis


def _with_stated_time(analysis: dict, stated: str | None, user) -> None:
    """The dump's own time stands; the admin's is the crash time only without one."""
    if not stated:
        return
    details = analysis.setdefault("details", {})
    details["stated_time"] = stated
    if not analysis.get("crash_time"):
        analysis["crash_time"] = stated
        details["time_stated_by"] = user.get_username() if user else "the uploader"


def crashdump_upload_analyse(*, task: Task) -> HostCrashdump:
    """Analyse the dump `crashdump_upload` kept and record the crash; on any failure (an
    unreadable dump, an error, a worker stopping) the kept file is removed."""
    params = task.params
    path = uploads_dir() / params["upload"]
    try:
        if not path.is_file():
            raise ConsoleError(f"{params['name']} is no longer in the crash store.")
        task_step_start(task=task, position=1, message=f"{params['size']:,} bytes")
        analysis = _analyse_upload(path, params["name"])
        task_step_finish(
            task=task,
            position=1,
            status=StepStatus.SUCCEEDED,
            message=f"{len(analysis.get('files', []))} file(s) read",
        )
        task_step_start(task=task, position=2)
        host = Host.objects.filter(pk=params["host"]).first() if params.get("host") else None
        _with_stated_time(analysis, params.get("crashed_at"), task.user)
        crash = crashdump_record(
            host=host,
            dump={
                # Named after the upload, not a time: a dump's time is its crash time.
                "name": f"upload-{params['upload'].split('/')[0][:12]}-{path.name}",
                "size": params["size"],
                "files": [{"name": params["name"], "size": params["size"]}],
                "analysis": analysis,
                "logs": kept_logs(path, analysis),
            },
            source=CrashSource.UPLOAD,
            actor=task.user,
        )
        task_step_finish(
            task=task, position=2, status=StepStatus.SUCCEEDED, message=crash.get_cause_display()
        )
    except BaseException:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise
    task_finish(
        task=task,
        status=TaskStatus.SUCCEEDED,
        result={"crash": crash.pk, "page": crash.get_absolute_url()},
    )
    return crash


def crashdump_acknowledge(*, crash: HostCrashdump, actor) -> HostCrashdump:
    if crash.acknowledged is None:
        crash.acknowledged = timezone.now()
        crash.acknowledged_by = actor
        crash.save(update_fields=["acknowledged", "acknowledged_by"])
        audit_record(actor=actor, action="crash.acknowledge", target=crash)
    return crash


# Incidents ---------------------------------------------------------------------------------


def _peers_of(host: Host) -> list[Host]:
    """Hosts that share a cluster with `host` (every other accepted host if it has none)."""
    clusters = Membership.objects.filter(host=host, left__isnull=True).values("cluster")
    peers = Host.objects.filter(registration=HostRegistration.ACCEPTED).exclude(pk=host.pk)
    shared = peers.filter(memberships__cluster__in=clusters, memberships__left__isnull=True)
    return list(shared.distinct() if clusters.exists() else peers)


def _node_numbers(host: Host, peer: Host) -> set[int]:
    """The numbers `host` has (or had) in the clusters `peer` is (or was) in: what the
    peer's kernel calls it. Numbers are per cluster; another cluster's node N is not it."""
    clusters = Membership.objects.filter(host=peer).values("cluster")
    return set(
        Membership.objects.filter(host=host, cluster__in=clusters).values_list("number", flat=True)
    )


def line_key(line: dict) -> tuple:
    """One line of one host's log, however it is quoted: in a timeline or as evidence."""
    where = line["file"] if line.get("role") != "survivor" else f"{line['host']}:{line['file']}"
    return (where, line.get("line"), line.get("text"))


def peer_logs(hosts: list[Host], since: datetime, until: datetime) -> list[dict]:
    """What the other hosts logged between two times about `hosts`: each O2CB, DLM and
    OCFS2 line that names one of them (`about`), with what it says (`kind`: died,
    trouble, left, back; agent.crash.peers), each line once, in time order."""
    peers: dict[int, Host] = {}
    for host in hosts:
        peers.update((peer.pk, peer) for peer in _peers_of(host))
    answers = agent_call_many(
        list(peers.values()),
        lambda peer: agent(peer).crash_peer_logs(since.isoformat(), until.isoformat()),
    )
    lines, seen = [], set()
    for peer, answer in answers.items():
        if isinstance(answer, Exception):
            continue  # a peer that does not answer has nothing to add
        others = [host for host in hosts if host.pk != peer.pk]
        names = {host.hostname for host in others}
        numbers = {n: host.hostname for host in others for n in _node_numbers(host, peer)}
        for item in read_peer_lines([encode(line) for line in answer]):
            said = item.pop("said")
            if said is None:
                continue
            # A line that names a node is about that node only; one with a number only is
            # about the host holding that number in the peer's clusters.
            about = (
                (said["name"] if said["name"] in names else None)
                if "name" in said
                else numbers.get(said.get("number"))
            )
            once = (peer.hostname, item["time"], item["text"])
            if about is None or once in seen:
                continue
            seen.add(once)
            lines.append(
                {
                    **item,
                    "host": peer.hostname,
                    "role": "survivor",
                    "about": about,
                    "about_crashed": True,
                    "kind": said["kind"],
                    "domain": said.get("domain"),
                }
            )
    return sorted(lines, key=lambda e: (e["time"], e["host"], e["line"]))


def _used_lines(since: datetime, until: datetime, *, besides: CrashIncident | None) -> set:
    """Lines of the peers' logs that already tell another incident's story (or explain
    another restart): they never explain a second one."""
    margin = PEER_LOGS_BEFORE + PEER_LOGS_AFTER + INCIDENT_WINDOW
    used = set()
    incidents = CrashIncident.objects.filter(time__gte=since - margin, time__lte=until + margin)
    if besides is not None:
        incidents = incidents.exclude(pk=besides.pk)
    for timeline in incidents.values_list("timeline", flat=True):
        used.update(line_key(e) for e in timeline if e.get("role") == "survivor")
    explained = HostCrashdump.objects.filter(
        source=CrashSource.PEERS, time__gte=since - margin, time__lte=until + margin
    )
    if besides is not None:
        explained = explained.exclude(incident=besides)
    for evidence in explained.values_list("evidence", flat=True):
        used.update(line_key(e) for e in evidence)
    return used


def _regions(crash: HostCrashdump) -> set[str]:
    """The heartbeat regions and lock domains (volume UUIDs) the crash's evidence names."""
    details = crash.details or {}
    found = {details["region"]} if details.get("region") else set()
    found.update(details.get("regions") or [])
    return {str(region).upper() for region in found}


def _same_region(a: set[str], b: set[str]) -> bool:
    # A heartbeat thread's name holds only the region's first 10 characters (o2hb-8F6E1C2D3B).
    return any(
        x.startswith(y) or y.startswith(x) for x in a for y in b if min(len(x), len(y)) >= 10
    )


def _names(crash: HostCrashdump) -> set[str]:
    """The peers a crash's evidence names (the node whose connection went idle)."""
    details = crash.details or {}
    names = set(details.get("peers") or [])
    if details.get("node"):
        names.add(details["node"])
    return names


def _shared_cluster(a: HostCrashdump, b: HostCrashdump) -> bool:
    clusters = Membership.objects.filter(host_id=a.host_id).values("cluster")
    return Membership.objects.filter(host_id=b.host_id, cluster__in=clusters).exists()


def same_incident(a: HostCrashdump, b: HostCrashdump) -> bool:
    """Whether the evidence ties two crashes to one event: hosts fenced within
    INCIDENT_WINDOW of each other on the same heartbeat region, or by a network between
    them (one names the other, or both lost quorum in a cluster they share), or both
    fenced by HA (whose statefile and network the pool shares)."""
    if a.host_id is None or b.host_id is None or a.time is None or b.time is None:
        return False  # an upload of no known host, or of no known time, ties to nothing
    if abs(a.time - b.time) > INCIDENT_WINDOW:
        return False
    if a.cause == b.cause == CrashCause.XHAD:
        return True
    if not a.cause == b.cause == CrashCause.O2CB:
        return False
    if _same_region(_regions(a), _regions(b)):
        return True
    if a.hostname in _names(b) or b.hostname in _names(a):
        return True
    lost_quorum = {"network", "quorum"}
    return (
        (a.details or {}).get("mechanism") in lost_quorum
        and (b.details or {}).get("mechanism") in lost_quorum
        and _shared_cluster(a, b)
    )


def _incident_for(crash: HostCrashdump) -> CrashIncident:
    """The incident of a crash the evidence ties this one to, else a new one."""
    if crash.incident_id is not None:
        return crash.incident
    nearby = (
        HostCrashdump.objects.filter(
            incident__isnull=False,
            time__gte=crash.time - INCIDENT_WINDOW,
            time__lte=crash.time + INCIDENT_WINDOW,
        )
        .exclude(pk=crash.pk)
        .select_related("incident")
    )
    for other in sorted(nearby, key=lambda c: abs(c.time - crash.time)):
        if same_incident(crash, other):
            return other.incident
    return CrashIncident.objects.create(time=crash.time, cause=crash.cause, summary="")


def incident_collect(*, crash: HostCrashdump) -> CrashIncident | None:
    """Put the crash in its incident (the crashes its evidence ties it to) and add what the
    survivors logged about the incident's hosts, on one time axis, each line once. A crash
    of no known host or time has no incident."""
    if crash.host is None or crash.time is None:
        return None
    with transaction.atomic():
        incident = _incident_for(crash)
        crash.incident = incident
        crash.save(update_fields=["incident"])
    crashes = list(incident.crashes.select_related("host").order_by("time", "pk"))
    hosts = [c.host for c in crashes if c.host is not None]
    names = {c.hostname for c in crashes}
    since = min(c.time for c in crashes) - PEER_LOGS_BEFORE
    until = max(c.time for c in crashes) + PEER_LOGS_AFTER
    used = _used_lines(since, until, besides=incident)
    survivors = [
        e for e in incident.timeline if e.get("role") == "survivor" and e.get("about") in names
    ] + peer_logs(hosts, since, until)
    timeline, seen = [], set()
    for event in survivors:
        key = line_key(event)
        if key in seen or key in used:
            continue
        seen.add(key)
        timeline.append(event)
    for other in crashes:
        if other.source == CrashSource.PEERS:
            continue  # its evidence is the survivors' lines, already on the timeline
        for item in other.evidence:
            timeline.append(
                {
                    **item,
                    "time": other.time.isoformat(),
                    "host": other.hostname,
                    "role": "crashed",
                    "crash": other.pk,
                    "about": other.hostname,
                }
            )
    timeline.sort(key=lambda e: (e["time"], e["role"] != "crashed", e["host"]))
    incident.time = crashes[0].time
    incident.cause = crashes[0].cause
    incident.timeline = timeline
    incident.summary = _incident_summary(crashes, timeline)
    incident.save()
    return incident


def _incident_summary(crashes: list[HostCrashdump], timeline: list[dict]) -> str:
    hosts = sorted({c.hostname for c in crashes})
    verdicts = sorted({c.verdict.lower() for c in crashes})
    saw = sorted({e["host"] for e in timeline if e["role"] == "survivor"})
    recovered = any(e["role"] == "survivor" and e.get("kind") == DIED for e in timeline)
    them = "them" if len(hosts) > 1 else "it"
    their = "their" if len(hosts) > 1 else "its"
    text = f"{', '.join(hosts)} went down ({', '.join(verdicts)})"
    if saw and recovered:
        return text + f"; {', '.join(saw)} saw {them} die and recovered {their} locks and journal."
    if saw:
        return text + f"; {', '.join(saw)} saw {them} go."
    return text + "."


# Restarts without a dump ----------------------------------------------------------------------

# How long before a restart the fence method counts as the one the host went down with.
FENCE_SETTING_WINDOW = timedelta(minutes=10)
# A dump's time is when the host crashed, a moment before the boot that followed.
DUMP_BEFORE_BOOT = timedelta(minutes=2)


def _restart_verdict(host: Host, boot: datetime, message: str) -> None:
    audit_record(
        actor=None,
        action="crash.restart_check",
        target=host,
        message=f"{host} restarted at {boot:%Y-%m-%d %H:%M:%S} UTC: {message}",
    )


def reboot_check(
    *, host: Host, previous_boot: datetime, boot: datetime, planned: bool = False
) -> HostCrashdump | None:
    """A host restarted: if it left no dump but its peers saw it die, record that crash.

    A planned restart (the console asked for it, or the admin announced it by putting the
    host into maintenance) is never a crash. The peers' lines must be about this boot's
    end: after the previous boot, and none already told of another crash. Whatever the
    verdict, the audit log says it.
    """
    if planned:
        _restart_verdict(
            host,
            boot,
            "a planned reboot (asked for by the console, or announced by putting it into "
            "maintenance): not a crash.",
        )
        return None
    dump = (
        HostCrashdump.objects.filter(host=host)
        .filter(
            Q(time__gte=previous_boot, time__lte=boot + DUMP_BEFORE_BOOT)
            # A dump its agent found without any time in it: found since the previous boot.
            | Q(time__isnull=True, source=CrashSource.AGENT, received__gte=previous_boot)
        )
        .first()
    )
    if dump is not None:
        _restart_verdict(host, boot, f"explained by its crash dump {dump.name}.")
        return None
    since = max(previous_boot, boot - PEER_LOGS_BEFORE)
    used = _used_lines(since, boot + PEER_LOGS_AFTER, besides=None)
    seen = [
        s
        for s in peer_logs([host], since, boot + PEER_LOGS_AFTER)
        if s["about"] == host.hostname and line_key(s) not in used
    ]
    deaths = [s for s in seen if s["kind"] == DIED]
    if not deaths:
        _restart_verdict(
            host,
            boot,
            "no peer saw it die (a clean restart, or one its peers left no new lines about).",
        )
        return None
    return _record_seen_death(host, boot, seen, deaths)


def _record_seen_death(host: Host, boot: datetime, seen: list[dict], deaths: list[dict]):
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
    death = deaths[0]
    # Its reconnection after the restart is part of the story, not of the evidence.
    seen = [s for s in seen if s["kind"] != BACK]
    return crashdump_record(
        host=host,
        dump={
            "name": f"no-dump-{boot:%Y%m%d-%H%M%S}",
            "analysis": {
                "cause": CrashCause.O2CB,
                "explanation": f"{host} restarted at {boot:%Y-%m-%d %H:%M:%S} UTC and its peers "
                f'saw it die ({death["host"]}: "{death["text"][-160:]}"). {how}',
                "evidence": [
                    {
                        "file": f"{s['host']}:{s['file']}",
                        "line": s["line"],
                        "text": s["text"],
                        "time": s["time"],
                    }
                    for s in seen[:50]
                ],
                "crash_time": seen[0]["time"],
                "details": {
                    "mechanism": "seen_by_peers",
                    "fence_method": "reset" if "reset" in methods else None,
                    "regions": sorted({s["domain"] for s in seen if s.get("domain")}),
                },
            },
        },
        source=CrashSource.PEERS,
    )
