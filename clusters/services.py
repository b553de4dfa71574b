"""Writes for hosts, clusters and memberships."""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Avg, Count, Max, Min
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agent.contract import encode
from core.choices import AuditOutcome, StepStatus, TaskStatus
from core.errors import ConsoleError
from core.models import Task
from core.services.alerts import alert_clear, alert_raise, alert_sync
from core.services.audit import audit_record
from core.services.tasks import (
    enqueue_on_commit,
    task_create,
    task_finish,
    task_step_finish,
    task_step_start,
)

from . import iohealth
from .agents import agent
from .choices import O2CB_MAX_NODES, HostRegistration, IOHealthState
from .models import Cluster, HealthRollup, HealthSample, Host, HostIOHealth, Membership
from .selectors import cluster_members

# Hosts ---------------------------------------------------------------------------------


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ConsoleError(f"'{value}' is not an ISO 8601 time.")
    return parsed


def host_record_report(*, report: dict) -> Host:
    """An agent said hello: record it, or register a new host waiting for acceptance."""
    try:
        host_uuid = uuid_module.UUID(str(report["uuid"]))
        hostname = str(report["hostname"]).strip()
    except (KeyError, ValueError) as exc:
        raise ConsoleError("An agent report needs a valid 'uuid' and 'hostname'.") from exc
    if not hostname:
        raise ConsoleError("An agent report needs a hostname.")
    taken = Host.objects.filter(hostname=hostname).exclude(uuid=host_uuid).first()
    if taken is not None and not Host.objects.filter(uuid=host_uuid).exists():
        message = (
            f"A host with a new identity ({host_uuid}) says it is {hostname}, but {hostname} "
            f"is already in the pool as {taken.uuid}. If it was reinstalled, remove the old "
            "host first; otherwise rename one of them."
        )
        alert_raise(name="HOST_NAME_TAKEN", target=taken, priority=3, message=message)
        raise ConsoleError(message)
    with transaction.atomic():
        return _host_record(host_uuid, hostname, report)


def _host_record(host_uuid, hostname: str, report: dict) -> Host:
    # A report says only what it knows; what it leaves out stays as it was.
    fields = {"last_heard": timezone.now()}
    if report.get("boot_time"):
        fields["boot_time"] = _parse_time(report["boot_time"])
    if "agent_version" in report:
        fields["agent_version"] = str(report["agent_version"])[:32]
    if "sandbox" in report:
        fields["sandbox"] = bool(report["sandbox"])
    if report.get("addresses"):
        fields["addresses"] = [str(a) for a in report["addresses"]]
    host = Host.objects.select_for_update().filter(uuid=host_uuid).first()
    if host is None:
        host = Host.objects.create(uuid=host_uuid, hostname=hostname, **fields)
        audit_record(
            actor=None,
            action="host.register",
            target=host,
            message="Agent registered; waiting for a pool-admin to accept it.",
        )
        alert_raise(
            name="HOST_WAITING_FOR_ACCEPTANCE",
            target=host,
            priority=4,
            message=f"A new host, {hostname}, wants to join the pool. A pool-admin must accept it.",
        )
        return host
    previous_boot = host.boot_time
    rebooted = previous_boot is not None and fields.get("boot_time", previous_boot) != previous_boot
    for name, value in fields.items():
        setattr(host, name, value)
    host.save(update_fields=list(fields))
    alert_clear(name="HOST_SILENT", target=host)
    if rebooted:
        audit_record(
            actor=None,
            action="host.rebooted",
            target=host,
            message=f"Agent reports a new boot time {host.boot_time:%Y-%m-%d %H:%M:%S}.",
        )
        # A restart may clear a pending removal and free its node number: look now.
        for cluster in Cluster.objects.filter(
            memberships__host=host, memberships__left__isnull=True
        ):
            cluster_reconcile_start(cluster=cluster, reason=f"{host} restarted")
        _check_reboot_later(host, previous_boot)
    return host


def _check_reboot_later(host: Host, previous_boot: datetime) -> None:
    """Was that restart a crash? Asked after a grace period, once the host's agent has had
    time to send any crash dump it found."""
    enqueue_on_commit(
        "crashes.check_reboot",
        args=[host.pk, previous_boot.isoformat(), host.boot_time.isoformat()],
        countdown=settings.CRASH_REBOOT_GRACE,
    )


@transaction.atomic
def host_accept(*, host: Host, actor) -> Host:
    """A pool-admin accepts a registered host: it joins the pool and its auto-join clusters."""
    host = Host.objects.select_for_update().get(pk=host.pk)
    if host.registration == HostRegistration.ACCEPTED:
        return host
    host.registration = HostRegistration.ACCEPTED
    host.save(update_fields=["registration"])
    audit_record(actor=actor, action="host.accept", target=host)
    alert_clear(name="HOST_WAITING_FOR_ACCEPTANCE", target=host)
    pool_join(host=host, actor=actor)
    return host


def pool_join(*, host: Host, actor) -> list[Membership]:
    """The design's Pool.join resync: a membership in every cluster that auto-joins."""
    joined = []
    for cluster in Cluster.objects.filter(auto_join=True):
        if not cluster.memberships.filter(host=host, left__isnull=True).exists():
            membership, _task = membership_create(cluster=cluster, host=host, actor=actor)
            joined.append(membership)
    return joined


# Clusters ------------------------------------------------------------------------------


@transaction.atomic
def cluster_create(
    *, name: str, cluster_name: str, auto_join: bool = True, hosts=None, actor
) -> Cluster:
    """Create an O2CB cluster; `hosts` (default: every accepted host) become members."""
    cluster = Cluster(name=name, cluster_name=cluster_name, auto_join=auto_join)
    cluster.full_clean()
    cluster.save()
    audit_record(actor=actor, action="cluster.create", target=cluster)
    if hosts is None:
        hosts = Host.objects.filter(registration=HostRegistration.ACCEPTED)
    for host in hosts:
        membership_create(cluster=cluster, host=host, actor=actor)
    return cluster


def _lowest_free_number(cluster: Cluster) -> int:
    held = set(Membership.objects.filter(cluster=cluster).values_list("number", flat=True))
    for number in range(O2CB_MAX_NODES):
        if number not in held:
            return number
    raise ConsoleError(
        f"All {O2CB_MAX_NODES} O2CB node numbers of {cluster} are held, some by hosts that "
        "left. Restart the cluster (rolling restart) so their numbers can be freed.",
        detail={"cluster": cluster.pk},
    )


def membership_create(*, cluster: Cluster, host: Host, actor) -> tuple[Membership, Task]:
    """Give `host` the lowest free node number in `cluster` and push it to every member."""
    if host.registration != HostRegistration.ACCEPTED:
        raise ConsoleError(
            f"{host} is waiting for acceptance; accept it before it joins a cluster."
        )
    with transaction.atomic():
        # Serialise allocation per cluster: the row lock queues concurrent creations.
        cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
        existing = cluster.memberships.filter(host=host, left__isnull=True).first()
        if existing is not None:
            return existing, cluster_reconcile_start(cluster=cluster, actor=actor)
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    cluster=cluster,
                    host=host,
                    host_uuid=host.uuid,
                    hostname=host.hostname,
                    number=_lowest_free_number(cluster),
                )
        except IntegrityError as exc:
            raise ConsoleError(
                f"Could not give {host} a node number in {cluster}; try again.",
            ) from exc
        audit_record(
            actor=actor,
            action="membership.create",
            target=membership,
            message=f"{host} joins {cluster} as node {membership.number}.",
        )
        return membership, cluster_reconcile_start(cluster=cluster, actor=actor)


def membership_destroy(*, membership: Membership, actor) -> tuple[Membership, Task]:
    """The host leaves: its number stays held until every member restarted after now."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.left is None:
            membership.left = timezone.now()
            membership.save(update_fields=["left"])
            audit_record(
                actor=actor,
                action="membership.destroy",
                target=membership,
                message=(
                    f"{membership.hostname} leaves {membership.cluster}; node "
                    f"{membership.number} stays reserved until every member restarts."
                ),
            )
        return membership, cluster_reconcile_start(cluster=membership.cluster, actor=actor)


def cluster_reconcile_start(*, cluster: Cluster, actor=None, reason: str = "") -> Task:
    """Queue a monitor run for `cluster`; a run still waiting to start is reused."""
    waiting = Task.objects.filter(
        kind="clusters.reconcile", target_id=str(cluster.pk), status=TaskStatus.PENDING
    ).first()
    if waiting is not None:
        return waiting
    return task_create(
        name=f"Bring {cluster} up to date on every host",
        kind="clusters.reconcile",
        celery_task="clusters.reconcile_cluster",
        steps=[],  # one step per member host, added when the run starts
        user=actor,
        target=cluster,
        params={"reason": reason},
    )


def cluster_check_now(*, cluster: Cluster, actor) -> Task:
    """An admin asks for a monitor run now instead of at the next interval."""
    task = cluster_reconcile_start(cluster=cluster, actor=actor, reason="asked by an admin")
    audit_record(
        actor=actor,
        action="cluster.check",
        target=cluster,
        task=task,
        outcome=AuditOutcome.ACCEPTED,
    )
    return task


@transaction.atomic
def memberships_collect_garbage(*, cluster: Cluster) -> list[Membership]:
    """Forget departed memberships once every current member has started since they left."""
    members = cluster_members(cluster)
    boot_times = [host.boot_time for host in members]
    forgotten = []
    for membership in cluster.memberships.filter(left__isnull=False):
        if all(boot is not None and boot > membership.left for boot in boot_times):
            forgotten.append(membership)
    for membership in forgotten:
        audit_record(
            actor=None,
            action="membership.forget",
            target=cluster,
            message=(
                f"Node {membership.number} ({membership.hostname}) forgotten: every member "
                "restarted since it left, so the number can be given out again."
            ),
        )
        membership.delete()
    return forgotten


def hosts_mark_silent(*, silent_after) -> list[Host]:
    """Raise an alert for every accepted host whose agent has gone quiet."""
    cutoff = timezone.now() - silent_after
    silent = list(
        Host.objects.filter(registration=HostRegistration.ACCEPTED, last_heard__lt=cutoff)
    )
    for host in silent:
        alert_raise(
            name="HOST_SILENT",
            target=host,
            priority=2,
            message=(
                f"{host} has not been heard from since {host.last_heard:%Y-%m-%d %H:%M:%S} UTC. "
                "Check that it is up and that its agent runs and reaches Redis."
            ),
        )
    return silent


# Operations that run as Tasks ------------------------------------------------------------


def cluster_start(*, cluster: Cluster, actor) -> Task:
    """Start the cluster software on every member host (global heartbeat, service enabled)."""
    members = cluster_members(cluster)
    if not members:
        raise ConsoleError(f"{cluster} has no members to start.")
    task = task_create(
        name=f"Start {cluster} on every member",
        kind="clusters.start",
        celery_task="clusters.cluster_start",
        steps=[f"Start on {host}" for host in members],
        user=actor,
        target=cluster,
        params={"hosts": [host.pk for host in members]},
    )
    audit_record(
        actor=actor,
        action="cluster.start",
        target=cluster,
        task=task,
        outcome=AuditOutcome.ACCEPTED,
    )
    return task


def task_hosts(task: Task) -> list[tuple[int, Host | None]]:
    """Each step's position with the host it is about (None if the host is gone since)."""
    hosts = Host.objects.in_bulk(task.params["hosts"])
    return [(position, hosts.get(pk)) for position, pk in enumerate(task.params["hosts"], 1)]


def hosts_check(*, actor) -> Task:
    """Ask every accepted host's agent who it is and when it booted."""
    hosts = list(Host.objects.filter(registration=HostRegistration.ACCEPTED).order_by("hostname"))
    task = task_create(
        name="Check every host's agent",
        kind="clusters.check_hosts",
        celery_task="clusters.check_hosts",
        steps=[f"Ask {host}" for host in hosts],
        user=actor,
        params={"hosts": [host.pk for host in hosts]},
    )
    audit_record(actor=actor, action="hosts.check", task=task, outcome=AuditOutcome.ACCEPTED)
    return task


def hosts_check_run(task: Task) -> None:
    """One host after the other, so the page shows the check moving through the pool."""
    silent = []
    for position, host in task_hosts(task):
        task_step_start(task=task, position=position)
        if host is None:
            task_step_finish(
                task=task,
                position=position,
                status=StepStatus.SKIPPED,
                message="host no longer in the pool",
            )
            continue
        try:
            identity = agent(host).hello()
        except ConsoleError as exc:
            silent.append(host.hostname)
            task_step_finish(
                task=task, position=position, status=StepStatus.FAILED, message=exc.message
            )
            continue
        host_record_report(report=encode(identity))
        task_step_finish(
            task=task,
            position=position,
            status=StepStatus.SUCCEEDED,
            message=f"agent {identity.agent_version}, booted {identity.boot_time}",
        )
    if silent:
        task_finish(
            task=task, status=TaskStatus.FAILED, error=f"No answer from: {', '.join(silent)}."
        )
    else:
        task_finish(task=task, status=TaskStatus.SUCCEEDED)


# I/O-path health samples -----------------------------------------------------------------

SAMPLE_BATCH = 5000


def samples_record(*, host: Host, time, values) -> int:
    """Store one collection round of a host: (metric, subject, value) triples at `time`.

    Samples are many and plain, so they skip model instances: PostgreSQL takes them
    with COPY, other databases with one executemany.
    """
    rows = [(host.pk, metric, subject, time, float(value)) for metric, subject, value in values]
    if not rows:
        return 0
    table = HealthSample._meta.db_table
    columns = "host_id, metric, subject, time, value"
    # Table and column names come from the model, never from input.
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            time_value = connection.ops.adapt_datetimefield_value(time)
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
                [(h, m, s, time_value, v) for h, m, s, _t, v in rows],
            )
    return len(rows)


@transaction.atomic
def samples_roll_up(*, full_resolution_for, keep_rollups_for) -> int:
    """Fold samples older than `full_resolution_for` into hourly rollups, then drop them.

    Whole hours only, so a rollup never sees half an hour; a late sample for an hour
    already rolled up is merged into it. Rollups older than `keep_rollups_for` go.
    """
    now = timezone.now()
    cutoff = (now - full_resolution_for).replace(minute=0, second=0, microsecond=0)
    old = HealthSample.objects.filter(time__lt=cutoff)
    buckets = (
        old.annotate(hour=TruncHour("time"))
        .values("host_id", "metric", "subject", "hour")
        .annotate(n=Count("id"), low=Min("value"), high=Max("value"), avg=Avg("value"))
    )
    rollups = {
        (b["host_id"], b["metric"], b["subject"], b["hour"]): HealthRollup(
            host_id=b["host_id"],
            metric=b["metric"],
            subject=b["subject"],
            hour=b["hour"],
            count=b["n"],
            minimum=b["low"],
            maximum=b["high"],
            mean=b["avg"],
        )
        for b in buckets
    }
    if rollups:
        hours = {key[3] for key in rollups}
        for existing in HealthRollup.objects.filter(hour__in=hours):
            key = (existing.host_id, existing.metric, existing.subject, existing.hour)
            if key in rollups:
                _merge_rollup(rollups[key], existing)
        HealthRollup.objects.bulk_create(
            rollups.values(),
            batch_size=SAMPLE_BATCH,
            update_conflicts=True,
            unique_fields=["host", "metric", "subject", "hour"],
            update_fields=["count", "minimum", "maximum", "mean"],
        )
    old.delete()
    HealthRollup.objects.filter(hour__lt=now - keep_rollups_for).delete()
    return len(rollups)


def _merge_rollup(new: HealthRollup, existing: HealthRollup) -> None:
    total = new.count + existing.count
    new.mean = (new.mean * new.count + existing.mean * existing.count) / total
    new.count = total
    new.minimum = min(new.minimum, existing.minimum)
    new.maximum = max(new.maximum, existing.maximum)


# I/O-path health verdicts ----------------------------------------------------------------

# One alert per kind of finding and host, under XAPI's names where XAPI has one.
IO_ALERTS = {
    "multipath": "MULTIPATH_PERIODIC_ALERT",
    "bonding": "BOND_STATUS_CHANGED",
    "heartbeat": "O2CB_HEARTBEAT_DELAYED",
    "queueing": "MULTIPATH_QUEUEING_OUTLASTS_FENCE",
    "ha_timeout": "HA_TIMEOUT_RACES_O2CB",
    "fence_method": "O2CB_FENCE_LEAVES_NO_DUMP",
}


def _alert_priority(kind: str, severity: str) -> int:
    if kind in iohealth.CONFIG_KINDS:
        return 4
    if severity == IOHealthState.CRITICAL:
        return 1 if kind == "heartbeat" else 2
    return 3


def io_health_record(*, host: Host, probe: dict | None, error: str | None = None) -> HostIOHealth:
    """Store one collection round of a host: samples, the verdict, and its alerts.

    `probe` is the agent's answer; None with `error` means the agent did not answer.
    """
    now = timezone.now()
    verdict = (
        iohealth.unreachable(error or "no answer") if probe is None else iohealth.evaluate(probe)
    )
    if probe is not None:
        samples_record(host=host, time=now, values=iohealth.samples(probe))
    with transaction.atomic():
        health = HostIOHealth.objects.select_for_update().filter(host=host).first()
        if health is None:
            health = HostIOHealth(host=host, since=now)
        if health.state != verdict.state:
            health.since = now
        fields = verdict.as_fields()
        if probe is None:
            # No news: the page keeps the last probe and its settings, the alerts stay open.
            del fields["config_warnings"]
        for name, value in fields.items():
            setattr(health, name, value)
        health.checked = now
        if probe is not None:
            health.probe = probe
            health.luns = iohealth.lun_views(probe)
        health.save()
        if probe is None:
            return health
        findings = verdict.problems + verdict.config_warnings
        for kind, name in IO_ALERTS.items():
            mine = [f for f in findings if f.kind == kind]
            message = "\n".join(f"{f.message} What to do: {f.fix}" for f in mine) if mine else None
            severity = iohealth.worst(f.severity for f in mine) if mine else IOHealthState.OK
            alert_sync(
                name=name,
                target=host,
                priority=_alert_priority(kind, severity),
                message=f"{host}: {message}" if message else None,
            )
    return health


def sandbox_fault_inject(*, host: Host, fault: str, target: str | None, actor) -> dict:
    """Break or mend a sandbox host's I/O paths, for demos and drills (sandbox hosts only)."""
    from agent.sandbox.faults import FAULTS

    if not host.sandbox:
        raise ConsoleError(f"{host} is a real host: faults are only injected into sandbox hosts.")
    if fault not in FAULTS:
        raise ConsoleError(f"Unknown fault '{fault}'; use one of: {', '.join(FAULTS)}.")
    state = encode(agent(host).sandbox_fault(fault, target or None))
    audit_record(
        actor=actor,
        action="sandbox.fault",
        target=host,
        message=f"{fault} {target or ''}".strip(),
    )
    return state
