"""Writes for hosts: their reports, acceptance, silence and checks."""

from __future__ import annotations

import logging
import uuid as uuid_module
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agent.contract import encode
from agent.names import node_name_problem
from agent.signing import fingerprint
from clusters.agents import agent, agent_call_many
from clusters.choices import HostRegistration
from clusters.models import Cluster, Host, Membership
from clusters.services.memberships import cluster_reconcile_start, membership_create
from core.choices import AlertName, AuditOutcome, TaskStatus
from core.errors import ConsoleError
from core.models import Task
from core.services.alerts import alert_clear, alert_raise
from core.services.audit import audit_record
from core.services.tasks import (
    enqueue_on_commit,
    task_create,
    task_finish,
)
from core.steps import SkipStep, Step, run_steps

logger = logging.getLogger(__name__)


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
    problem = node_name_problem(hostname)
    if problem:
        message = f"The agent of host {host_uuid} reports a name the console refuses: {problem}."
        alert_raise(name=AlertName.HOST_NAME_INVALID, target=None, message=message)
        raise ConsoleError(message, status_code=400)
    taken = Host.objects.filter(hostname=hostname).exclude(uuid=host_uuid).first()
    if taken is not None and not Host.objects.filter(uuid=host_uuid).exists():
        message = (
            f"A host with a new identity ({host_uuid}) says it is {hostname}, but {hostname} "
            f"is already in the pool as {taken.uuid}. If it was reinstalled, remove the old "
            "host first; otherwise rename one of them."
        )
        alert_raise(name=AlertName.HOST_NAME_TAKEN, target=taken, message=message)
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
    addresses = [str(a) for a in report.get("addresses") or []]
    if addresses:
        fields["addresses"] = addresses
    if report.get("public_key"):
        fields["public_key"] = str(report["public_key"])
    host = Host.objects.select_for_update().filter(uuid=host_uuid).first()
    if host is not None:
        _keep_what_only_the_console_changes(host, fields)
    if host is None:
        host = Host.objects.create(uuid=host_uuid, hostname=hostname, **fields)
        audit_record(
            actor=None,
            action="host.register",
            target=host,
            message="Agent registered; waiting for a pool-admin to accept it.",
        )
        alert_raise(
            name=AlertName.HOST_WAITING_FOR_ACCEPTANCE,
            target=host,
            message=f"A new host, {hostname}, wants to join the pool. A pool-admin must accept it.",
        )
        return host
    previous_boot = host.boot_time
    rebooted = previous_boot is not None and fields.get("boot_time", previous_boot) != previous_boot
    # A reboot asked for (or announced) during the boot that just ended: this restart.
    planned = rebooted and host.reboot_planned is not None and host.reboot_planned > previous_boot
    if rebooted:
        fields["reboot_planned"] = None
    for name, value in fields.items():
        setattr(host, name, value)
    host.save(update_fields=list(fields))
    alert_clear(name=AlertName.HOST_SILENT, target=host)
    if rebooted:
        audit_record(
            actor=None,
            action="host.rebooted",
            target=host,
            message=f"Agent reports a new boot time {host.boot_time:%Y-%m-%d %H:%M:%S}"
            + (": a planned reboot." if planned else "."),
        )
        # A restart may clear a pending removal and free its node number: look now.
        for cluster in Cluster.objects.filter(
            memberships__host=host, memberships__left__isnull=True
        ):
            cluster_reconcile_start(cluster=cluster, reason=f"{host} restarted")
        _check_reboot_later(host, previous_boot, planned=planned)
    return host


def _keep_what_only_the_console_changes(host: Host, fields: dict) -> None:
    """A report never changes the key on record, nor an accepted host's addresses.

    The key was the one a pool-admin accepted; a new one is alerted (a reinstalled host
    is removed and accepted again). O2CB's configuration holds the addresses: a change
    outside maintenance can fence the host, so it is only ever made there
    (maintenance.services.host_addresses_change), and a report that differs is alerted."""
    key = fields.pop("public_key", None)
    if not host.public_key and key:
        fields["public_key"] = key  # a host registered before seals: its first key
    elif key and key != host.public_key:
        alert_raise(
            name=AlertName.HOST_KEY_CHANGED,
            target=host,
            message=f"{host}'s agent reports a new key ({fingerprint(key)}); the console keeps "
            f"the accepted one ({host.key_fingerprint}) and believes nothing sealed with the "
            "new key. If the host was reinstalled, remove it and accept it again.",
        )
    addresses = fields.get("addresses")
    if host.registration != HostRegistration.ACCEPTED or addresses is None or not host.addresses:
        return
    fields.pop("addresses")
    if addresses == host.addresses:
        alert_clear(name=AlertName.HOST_ADDRESSES_DIFFER, target=host)
        return
    alert_raise(
        name=AlertName.HOST_ADDRESSES_DIFFER,
        target=host,
        message=f"{host} reports the addresses {', '.join(addresses)}; its clusters use "
        f"{', '.join(host.addresses) or 'none'}. Network changes are made in maintenance mode "
        "(the host's maintenance page), where they cannot fence it.",
    )


def _check_reboot_later(host: Host, previous_boot: datetime, *, planned: bool) -> None:
    """Was that restart a crash? Asked after a grace period, once the host's agent has had
    time to send any crash dump it found. A planned one (the console asked for it, or the
    admin announced it by putting the host into maintenance) is never a crash; the check
    says so in the audit log."""
    enqueue_on_commit(
        "crashes.check_reboot",
        args=[host.pk, previous_boot.isoformat(), host.boot_time.isoformat(), planned],
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
    alert_clear(name=AlertName.HOST_WAITING_FOR_ACCEPTANCE, target=host)
    pool_join(host=host, actor=actor)
    return host


# The join workflow (maintenance/join.py: it plugs storage through the pool driver), sent
# by name as any task is.
JOIN_KIND = "maintenance.join"


def pool_join(*, host: Host, actor) -> list[Membership]:
    """The design's Pool.join resync: a host in no cluster joins the auto-join cluster,
    and ends running in it with every SR of the cluster plugged (the join workflow), or
    with a step that says why not (a cluster nobody started stays stopped).

    A host runs one O2CB cluster, so it joins one: the oldest auto-join cluster of its
    pool (the console refuses a second per pool, but clusters made before that rule may
    both auto-join)."""
    if Membership.objects.filter(host=host, left__isnull=True).exists():
        return []
    # Per pool: a XAPI pool's hosts join its own auto-join cluster, hosts with their own
    # agent (no pool) the auto-join cluster of no pool.
    cluster = (
        Cluster.objects.filter(auto_join=True, pool_id=host.pool_id)
        .order_by("created", "pk")
        .first()
    )
    if cluster is None:
        return []
    membership, _task = membership_create(cluster=cluster, host=host, actor=actor)
    task = task_create(
        name=f"Join {host} to {cluster}",
        kind=JOIN_KIND,
        celery_task=JOIN_KIND,
        steps=[],  # a step per member and per SR, listed when the run starts
        user=actor,
        target=cluster,
        params={"host": host.pk},
    )
    audit_record(
        actor=actor, action="host.join", target=host, task=task, outcome=AuditOutcome.ACCEPTED
    )
    return [membership]


def host_joining(host: Host) -> bool:
    """Whether a join workflow is still to start the host in its cluster."""
    return Task.objects.filter(
        kind=JOIN_KIND,
        status__in=[TaskStatus.PENDING, TaskStatus.RUNNING],
        params__host=host.pk,
    ).exists()


def hosts_mark_silent(*, silent_after) -> list[Host]:
    """Raise an alert for every accepted host whose agent has gone quiet."""
    cutoff = timezone.now() - silent_after
    silent = list(
        Host.objects.filter(registration=HostRegistration.ACCEPTED, last_heard__lt=cutoff)
    )
    for host in silent:
        alert_raise(
            name=AlertName.HOST_SILENT,
            target=host,
            message=(
                f"{host} has not been heard from since {host.last_heard:%Y-%m-%d %H:%M:%S} UTC. "
                "Check that it is up and that its agent runs and reaches Redis."
            ),
        )
    return silent


def pool_hosts_hello(*, timeout: float) -> dict[Host, object]:
    """Ask every pool host's plugin who it is, and record the answer as a report.

    A pool's host sends nothing unasked (the plugin runs only when XAPI calls it), so this
    poll stands for its reports: last heard, boot time (the reboot check that finds a
    crash, and the collection of the dumps a new boot finds) and agent version. The
    answer came through the pool's XAPI session, so no key is needed to believe it. Each
    value is the identity or the host's exception."""
    hosts = list(Host.objects.filter(pool__isnull=False).select_related("pool"))
    answers = agent_call_many(hosts, lambda host: agent(host, timeout=timeout).hello())
    for host, identity in answers.items():
        if isinstance(identity, Exception):
            continue  # silence is alerted by hosts_mark_silent, as for a quiet agent
        if identity.uuid.lower() != str(host.uuid):
            message = (
                f"The o2cb-agent plugin on {host} says it is {identity.uuid}, not {host.uuid}: "
                "its inventory and the pool disagree; nothing it said was recorded."
            )
            logger.warning(message)
            answers[host] = ConsoleError(message)
            continue
        report = encode(identity)
        report.pop("public_key", None)  # trusted through XAPI, not by a key
        report["hostname"] = host.hostname  # the pool's name for it is the one kept
        try:
            with transaction.atomic():
                # Removed (ejected) while it was asked: a late answer must not register
                # it again. Locked, so a removal under way is waited for.
                if not Host.objects.select_for_update().filter(pk=host.pk).exists():
                    answers[host] = ConsoleError(f"{host} was removed while it was asked.")
                    continue
                recorded = host_record_report(report=report)
        except ConsoleError as exc:
            answers[host] = exc
            continue
        if host.boot_time is not None and recorded.boot_time != host.boot_time:
            # A crash leaves its dump for the next boot to find: fetch it before the
            # reboot check (after CRASH_REBOOT_GRACE) asks whether there was one.
            enqueue_on_commit("crashes.collect_host_dumps", args=[host.pk])
    return answers


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
        steps=[_ask_step(host.pk, host) for host in hosts],
        user=actor,
        params={"hosts": [host.pk for host in hosts]},
    )
    audit_record(actor=actor, action="hosts.check", task=task, outcome=AuditOutcome.ACCEPTED)
    return task


def _ask_step(pk: int, host: Host | None) -> Step:
    # Asked again once if it does not answer: the check is about who answers now.
    return Step(
        f"ask-{pk}",
        f"Ask {host}",
        "Its agent says who it is and when it booted.",
        _ask,
        subject=host,
        stops=False,
        retries=1,
    )


def _ask(context, step: Step) -> str:
    if step.subject is None:
        raise SkipStep("host no longer in the pool")
    identity = agent(step.subject).hello()
    host_record_report(report=encode(identity))
    return f"agent {identity.agent_version}, booted {identity.boot_time}"


def hosts_check_run(task: Task) -> None:
    """One host after the other, so the page shows the check moving through the pool."""
    steps = [
        _ask_step(pk, host)
        for (_position, host), pk in zip(task_hosts(task), task.params["hosts"], strict=True)
    ]
    silent = [step.subject.hostname for step in run_steps(task, steps).failed]
    if silent:
        task_finish(
            task=task, status=TaskStatus.FAILED, error=f"No answer from: {', '.join(silent)}."
        )
    else:
        task_finish(task=task, status=TaskStatus.SUCCEEDED)
