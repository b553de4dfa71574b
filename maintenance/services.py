"""Maintenance mode: take a host out of service so it is safe to work on, and back.

Enter: disable the host, move its VMs away, unplug its storage, leave its O2CB clusters
cleanly, then wait for a reboot. Exit (only after that reboot): rejoin the clusters,
plug the storage, enable the host. Every step records its effect in HostMaintenance as
soon as it is done, so a retried task continues from the failed step and never repeats
one; entering can also be rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from clusters.agents import HostUnreachable, agent
from clusters.fencing.selectors import fence_risks_one_at_a_time, fence_risks_while_out
from clusters.models import PBD, Cluster, Host, Membership
from clusters.monitor import cluster_status_record, cluster_statuses_refresh, statefile_uuid
from clusters.selectors.hosts import (
    cluster_members,
    host_clusters,
    member_activity,
    quorum_impact,
)
from clusters.services.hosts import task_hosts
from clusters.services.memberships import cluster_reconcile_start, membership_destroy
from core.choices import AuditOutcome, TaskStatus
from core.errors import ConsoleError
from core.models import Task
from core.services.alerts import alerts_clear_about
from core.services.audit import audit_record
from core.services.tasks import task_create, task_finish
from core.steps import NotYet, SkipStep, Step, run_steps, step_note, step_noted

from . import prechecks
from .choices import MaintenanceState
from .drivers import pool_driver
from .models import HostMaintenance


@dataclass
class Maintaining:
    """What a maintenance step works on: the host, its recorded state, the pool driver."""

    host: Host
    state: HostMaintenance
    driver: object


def _enter(context: Maintaining, step: Step) -> str:
    return _enter_action(step.key, context.host, context.state, context.driver)


def _exit(context: Maintaining, step: Step) -> str:
    return _exit_action(step.key, context.host, context.state, context.driver)


ENTER_STEPS = (
    Step(
        "disable",
        "Disable the host",
        "No new VM starts on it; running VMs are untouched.",
        _enter,
    ),
    Step(
        "evacuate",
        "Move its VMs to other hosts",
        "Each running VM is live-migrated: it keeps running while it moves.",
        _enter,
    ),
    Step(
        "unplug",
        "Unplug its storage",
        "Each SR is unmounted on this host only; the other hosts keep using it. With nothing "
        "plugged, changing this host's network can no longer fence it.",
        _enter,
    ),
    Step(
        "leave",
        "Leave its O2CB clusters",
        "The cluster stack stops cleanly here: the other hosts see a planned departure, "
        "not a failure, and keep their quorum.",
        _enter,
    ),
    Step(
        "await_reboot",
        "Wait for a reboot",
        "The host stays in maintenance until it has restarted, so it comes back with a "
        "clean cluster stack and any change made to it in effect.",
        _enter,
    ),
)
EXIT_STEPS = (
    Step("start", "Rejoin its clusters", "The cluster stack starts and heartbeats again.", _exit),
    Step("plug", "Plug its storage", "Each SR it had is mounted again.", _exit),
    Step(
        "verify",
        "Check that it is back",
        "Its agent shows O2CB running in each cluster it rejoined, its heartbeat live and "
        "connected to its peers, and its SRs plugged; only then may VMs come back.",
        _exit,
    ),
    Step("enable", "Enable the host", "VMs may start on it again.", _exit),
)


def _reboot(context: Maintaining, step: Step) -> str:
    return _reboot_action(step.key, context.host, context.state, context.driver)


REBOOT_STEPS = (
    Step(
        "stop",
        "Leave its clusters cleanly",
        "If it had rejoined them on its way out, its SRs are unplugged and O2CB stops first, "
        "so the reboot is a planned departure that the other hosts do not take for a failure.",
        _reboot,
    ),
    Step(
        "reboot",
        "Reboot the host",
        "Through the pool, as an admin would; the restart is announced, so it is no crash.",
        _reboot,
        retries=0,  # a reboot is not repeated blindly
    ),
    Step(
        "come_back",
        "Wait for it to come back",
        "Its agent reports a new boot. It stays in maintenance: exit maintenance then.",
        _reboot,
    ),
)
# Seconds between looks at whether a rebooting host is back (each look is a new delivery).
REBOOT_POLL = 0.5
# Seconds between looks at whether a host that rejoined is connected to its peers.
REJOIN_POLL = 1.0


# Previews ---------------------------------------------------------------------------------


def enter_preview(host: Host, *, confirm_others: bool = False) -> dict:
    """What entering maintenance would do, and what stops it, without changing anything."""
    driver = pool_driver()
    refusals = []
    state = HostMaintenance.objects.filter(host=host).first()
    if state is not None:
        refusals.append(f"{host} is already {state.get_state_display().lower()}.")
    vms = driver.resident_vms(host)
    blockers = driver.evacuation_blockers(host)
    impact = quorum_impact(host)
    refusals += prechecks.host_refusals(host, driver, impact, blockers)
    others = HostMaintenance.objects.filter(
        host__memberships__cluster__in=[c["cluster_id"] for c in impact],
        host__memberships__left__isnull=True,
    ).exclude(host=host)
    if others.exists() and not confirm_others:
        names = ", ".join(sorted({m.host.hostname for m in others.select_related("host")}))
        refusals.append(
            f"{names} of the same cluster is already in maintenance; confirm to take a second "
            "host of that cluster out of service."
        )
    pbds = PBD.objects.filter(host=host, plugged=True).select_related("sr")
    blocked = {b.vm_uuid for b in blockers}
    plan = driver.evacuation_plan(host)
    return {
        "host": host.hostname,
        "action": "enter",
        "steps": [{"key": s.key, "name": s.name, "why": s.why} for s in ENTER_STEPS],
        "vms": [
            {
                "uuid": uuid,
                "name": name,
                "moves": uuid not in blocked,
                "destination": plan.get(uuid),
            }
            for uuid, name in vms
        ],
        "blockers": [b.__dict__ for b in blockers],
        "storage": [{"sr": p.sr.name, "pbd": str(p.uuid)} for p in pbds],
        "quorum": impact,
        "impacts": impact,
        "fence_risks": fence_risks_while_out(host),
        "refusals": refusals,
    }


def exit_preview(host: Host) -> dict:
    state = HostMaintenance.objects.filter(host=host).first()
    refusals = []
    if state is None:
        refusals.append(f"{host} is not in maintenance.")
    elif state.state == MaintenanceState.ENTERING:
        refusals.append(
            f"{host} has not finished entering maintenance: retry or roll back that first."
        )
    elif state.state == MaintenanceState.IN_MAINTENANCE and not _rebooted(host, state):
        refusals.append(
            f"{host} has not restarted since it entered maintenance (it booted at "
            f"{host.boot_time:%Y-%m-%d %H:%M:%S} UTC): reboot it, then exit."
            if host.boot_time
            else f"{host} has not reported a boot since it entered maintenance: reboot it."
        )
    return {
        "host": host.hostname,
        "action": "exit",
        "steps": [{"key": s.key, "name": s.name, "why": s.why} for s in EXIT_STEPS],
        "clusters": list(
            Cluster.objects.filter(pk__in=state.left_clusters).values_list("name", flat=True)
        )
        if state
        else [],
        "storage": list(
            PBD.objects.filter(pk__in=state.unplugged_pbds).values_list("sr__name", flat=True)
        )
        if state
        else [],
        "refusals": refusals,
    }


def _rebooted(host: Host, state: HostMaintenance) -> bool:
    return bool(
        host.boot_time and state.boot_time_at_entry and host.boot_time > state.boot_time_at_entry
    )


# Starting the workflows -------------------------------------------------------------------


def refuse_unless_clear(preview: dict) -> None:
    """A preview with refusals stops the job; the answer carries the whole preview."""
    if preview["refusals"]:
        raise ConsoleError(" ".join(preview["refusals"]), detail={"preview": preview})


def running_workflow(host: Host) -> Task | None:
    """The maintenance workflow under way on the host, or a rolling restart of its cluster."""
    unfinished = [TaskStatus.PENDING, TaskStatus.RUNNING]
    clusters = [str(cluster.pk) for cluster in host_clusters(host)]
    return Task.objects.filter(
        Q(target_type__model="host", target_id=str(host.pk))
        | Q(kind="maintenance.rolling_restart", target_id__in=clusters),
        kind__startswith="maintenance.",
        status__in=unfinished,
    ).first()


def _refuse_if_running(host: Host) -> None:
    """One maintenance workflow per host at a time: two would repeat each other's steps."""
    running = running_workflow(host)
    if running is not None:
        raise ConsoleError(
            f"{host} already has a maintenance workflow under way ({running.name}); "
            "wait for it to finish.",
            detail={"task": running.pk},
        )


def recovery_actions(host: Host) -> dict[str, str | None]:
    """What can be done about the host's unfinished maintenance, as the API allows it: for
    "retry", "reboot" and "rollback", None if allowed, else why not. The maintenance page
    offers a button for each allowed one."""
    running = running_workflow(host)
    if running is not None:
        busy = f"{host} already has a maintenance workflow under way ({running.name})."
        return dict.fromkeys(("retry", "reboot", "rollback"), busy)
    state = HostMaintenance.objects.filter(host=host).first()
    if state is None:
        return dict.fromkeys(("retry", "reboot", "rollback"), f"{host} is not in maintenance.")
    entering = state.state == MaintenanceState.ENTERING
    return {
        "retry": None
        if state.state != MaintenanceState.IN_MAINTENANCE
        else f"{host} has no unfinished maintenance workflow to retry: "
        + ("exit maintenance." if _rebooted(host, state) else "reboot it, then exit."),
        "reboot": None
        if not entering
        else f"{host} has not finished entering maintenance: retry or roll back that first.",
        "rollback": None
        if entering
        else f"{host} is not part-way into maintenance: nothing to roll back.",
    }


def _refuse_unless_allowed(host: Host, action: str) -> HostMaintenance:
    reason = recovery_actions(host)[action]
    if reason is not None:
        raise ConsoleError(reason)
    return HostMaintenance.objects.get(host=host)


def _start(host: Host, kind: str, steps, actor, name: str) -> Task:
    task = task_create(
        name=f"{name} {host}",
        kind=f"maintenance.{kind}",
        celery_task=f"maintenance.{kind}",
        steps=steps,
        user=actor,
        target=host,
    )
    audit_record(
        actor=actor,
        action=f"maintenance.{kind}",
        target=host,
        task=task,
        outcome=AuditOutcome.ACCEPTED,
    )
    return task


@transaction.atomic
def maintenance_enter(*, host: Host, actor, confirm_others: bool = False) -> Task:
    _refuse_if_running(host)
    refuse_unless_clear(enter_preview(host, confirm_others=confirm_others))
    HostMaintenance.objects.create(
        host=host, state=MaintenanceState.ENTERING, was_enabled=host.enabled
    )
    return _start(host, "enter", ENTER_STEPS, actor, "Put into maintenance:")


@transaction.atomic
def maintenance_exit(*, host: Host, actor) -> Task:
    _refuse_if_running(host)
    # An exit that failed half-way (state "exiting") is continued by this one.
    refuse_unless_clear(exit_preview(host))
    HostMaintenance.objects.filter(host=host).update(state=MaintenanceState.EXITING)
    return _start(host, "exit", EXIT_STEPS, actor, "Take out of maintenance:")


@transaction.atomic
def maintenance_retry(*, host: Host, actor) -> Task:
    """Run the unfinished workflow again; steps already done are skipped."""
    state = _refuse_unless_allowed(host, "retry")
    if state.state == MaintenanceState.ENTERING:
        return _start(host, "enter", ENTER_STEPS, actor, "Retry putting into maintenance:")
    return _start(host, "exit", EXIT_STEPS, actor, "Retry taking out of maintenance:")


@transaction.atomic
def maintenance_rollback(*, host: Host, actor) -> Task:
    """Undo an unfinished enter: rejoin, replug and re-enable what it had undone."""
    _refuse_unless_allowed(host, "rollback")
    return _start(host, "rollback", EXIT_STEPS, actor, "Roll back maintenance of")


@transaction.atomic
def maintenance_reboot(*, host: Host, actor) -> Task:
    """Reboot a host in maintenance (the only way out of it) and wait for it to come back;
    a host part-way out that had rejoined its clusters leaves them cleanly first."""
    _refuse_unless_allowed(host, "reboot")
    return _start(host, "reboot", REBOOT_STEPS, actor, "Reboot in maintenance:")


# Running them (in the worker) -------------------------------------------------------------


def _record(maintenance: HostMaintenance, key: str, **changes) -> None:
    """A step's effect is done: write it down before anything else happens."""
    for name, value in changes.items():
        setattr(maintenance, name, value)
    maintenance.done = [*maintenance.done, key]
    maintenance.save()


def _enter_action(key: str, host: Host, state: HostMaintenance, driver) -> str:
    if key == "disable":
        driver.host_disable(host)
        _record(state, key)
        return "Disabled: no new VMs will start here."
    if key == "evacuate":
        moving = driver.resident_vms(host)
        driver.host_evacuate(host)
        _record(state, key)
        return f"Moved {len(moving)} VM{'s' if len(moving) != 1 else ''}."
    if key == "unplug":
        # From here on nothing plugs storage or starts a cluster on it (adding storage
        # skips it): that is the guarantee maintenance gives.
        Host.objects.filter(pk=host.pk).update(maintenance_hold=True)
        unplugged = list(state.unplugged_pbds)
        for pbd in PBD.objects.filter(host=host, plugged=True).select_related("host", "sr"):
            driver.pbd_unplug(pbd)
            PBD.objects.filter(pk=pbd.pk).update(plugged=False)
            unplugged.append(pbd.pk)
            state.unplugged_pbds = unplugged
            state.save(update_fields=["unplugged_pbds", "updated"])
        _record(state, key)
        return f"Unplugged {len(unplugged)} SR{'s' if len(unplugged) != 1 else ''}."
    if key == "leave":
        left = list(state.left_clusters)
        for cluster in host_clusters(host):
            if cluster.pk in left:  # left by an earlier try of this step
                continue
            stopped = agent(host).cluster_stop(cluster.cluster_name)
            # Known at once, not at the monitor's next look: a removal goes by it.
            cluster_status_record(cluster=cluster, host=host, report=stopped)
            left.append(cluster.pk)
            state.left_clusters = left
            state.save(update_fields=["left_clusters", "updated"])
        _record(state, key)
        for cluster in Cluster.objects.filter(pk__in=left):
            cluster_reconcile_start(cluster=cluster, reason=f"{host} left for maintenance")
        return f"Left {len(left)} cluster{'s' if len(left) != 1 else ''}."
    # await_reboot
    host.refresh_from_db(fields=["boot_time"])
    _plan_reboot(host)  # the admin's reboot from here on is announced: no crash
    _record(state, key, state=MaintenanceState.IN_MAINTENANCE, boot_time_at_entry=host.boot_time)
    return "In maintenance. Reboot the host when your work is done, then exit maintenance."


def _plan_reboot(host: Host) -> None:
    """The host's next restart is planned (crashes.services.reboot_check records none)."""
    Host.objects.filter(pk=host.pk).update(reboot_planned=timezone.now())


def _exit_action(
    key: str, host: Host, state: HostMaintenance, driver, *, verify_within: float | None = None
) -> str:
    if key == "verify":
        within = settings.REJOIN_TIMEOUT if verify_within is None else verify_within
        return _verify_back(host, state, within=within)
    if key == "start":
        Host.objects.filter(pk=host.pk).update(maintenance_hold=False, reboot_planned=None)
        for cluster in Cluster.objects.filter(pk__in=state.left_clusters):
            _heartbeat_on_storage_added_meanwhile(host, cluster)
            started = agent(host).cluster_start(cluster.cluster_name, statefile_uuid(cluster))
            cluster_status_record(cluster=cluster, host=host, report=started)
        _record(state, key)
        return f"Rejoined {len(state.left_clusters)} cluster(s)."
    if key == "plug":
        # A rollback's first step: the host rejoins without the reboot it was to have.
        Host.objects.filter(pk=host.pk).update(maintenance_hold=False, reboot_planned=None)
        # What it had, and the SRs added to its clusters while it was away.
        pbds = PBD.objects.filter(
            Q(pk__in=state.unplugged_pbds)
            | Q(host=host, plugged=False, sr__cluster__in=state.left_clusters)
        ).select_related("host", "sr")
        for pbd in pbds:
            driver.pbd_plug(pbd)
            PBD.objects.filter(pk=pbd.pk).update(plugged=True)
        _record(state, key)
        return f"Plugged {len(pbds)} SR(s)."
    if state.was_enabled:
        driver.host_enable(host)
    _record(state, key)
    return "Enabled." if state.was_enabled else "Left disabled, as it was before maintenance."


def _verify_back(host: Host, state: HostMaintenance, *, within: float) -> str:
    """Back means back: for each cluster it rejoined, its agent shows O2CB running, its
    heartbeat live and connected to its peers, and its SRs plugged. Until then the step
    waits (o2net connects a few heartbeats after the start), then fails with what is wrong."""
    problems, found = [], []
    for cluster in Cluster.objects.filter(pk__in=state.left_clusters).order_by("name"):
        trouble, seen = prechecks.rejoin_problems(host, cluster)
        problems += trouble
        found.append(seen)
    if problems:
        raise NotYet(
            f"Waiting for {host} to be back in its clusters: {' '.join(problems)}",
            again_in=REJOIN_POLL,
            give_up_after=within,
            failure=f"{host} is not back in its clusters: {' '.join(problems)} It stays in "
            "maintenance, disabled (no VM moves to it). Fix the cause, then retry (it "
            "continues from this check), or reboot it from its maintenance page.",
        )
    _record(state, "verify")
    return "; ".join(found) + "." if found else "Nothing to check: it had left no cluster."


def _reboot_action(key: str, host: Host, state: HostMaintenance, driver) -> str:
    if key == "stop":
        if "start" not in state.done and not PBD.objects.filter(host=host, plugged=True).exists():
            # Nothing to ask the host, which may well be the one that did not come back.
            raise SkipStep("It had not rejoined its clusters: nothing to leave.")
        return _leave_again(host, state, driver)
    if key == "reboot":
        host.refresh_from_db(fields=["boot_time"])
        # Back in maintenance, as from a fresh entry: exit needs a boot after this one.
        state.state = MaintenanceState.IN_MAINTENANCE
        state.boot_time_at_entry = host.boot_time
        state.done = [s.key for s in ENTER_STEPS]
        state.save()
        _plan_reboot(host)  # before asking: the new boot may be reported at once
        driver.host_reboot(host)
        return f"Asked the pool to reboot {host}."
    host.refresh_from_db(fields=["boot_time"])
    if not _rebooted(host, state):
        timeout = settings.REBOOT_TIMEOUT
        raise NotYet(
            f"Rebooted; waiting for {host} to come back.",
            again_in=REBOOT_POLL,
            give_up_after=timeout,
            failure=f"{host} did not come back within {timeout:g} s of its reboot; it stays in "
            "maintenance. Check its console, then reboot it again or exit maintenance.",
        )
    return f"Back: booted at {host.boot_time:%H:%M:%S} UTC. Exit maintenance when ready."


def _leave_again(host: Host, state: HostMaintenance, driver) -> str:
    """A host part-way out of maintenance may have rejoined: unplug and stop again (as
    entering did), so that its reboot is a clean departure."""
    Host.objects.filter(pk=host.pk).update(maintenance_hold=True)
    unplugged = list(state.unplugged_pbds)
    pbds = PBD.objects.filter(host=host, plugged=True).select_related("host", "sr")
    for pbd in pbds:
        driver.pbd_unplug(pbd)
        PBD.objects.filter(pk=pbd.pk).update(plugged=False)
        if pbd.pk not in unplugged:
            unplugged.append(pbd.pk)
        state.unplugged_pbds = unplugged
        state.save(update_fields=["unplugged_pbds", "updated"])
    left = list(state.left_clusters)
    stopped = 0
    for cluster in host_clusters(host):
        report = agent(host).cluster_stop(cluster.cluster_name)
        cluster_status_record(cluster=cluster, host=host, report=report)
        stopped += 1
        if cluster.pk not in left:
            left.append(cluster.pk)
        state.left_clusters = left
        state.save(update_fields=["left_clusters", "updated"])
    return f"Unplugged {len(pbds)} SR(s); O2CB stopped in {stopped} cluster(s)."


def _heartbeat_on_storage_added_meanwhile(host: Host, cluster: Cluster) -> None:
    """Storage added while the host was in maintenance skipped it: before it rejoins, it
    heartbeats on those volumes too (O2CB's global heartbeat runs on every region)."""
    missing = PBD.objects.filter(host=host, plugged=False, sr__cluster=cluster)
    scsi_ids = set(missing.values_list("sr__lun__scsi_id", flat=True))
    if not scsi_ids:
        return
    client = agent(host)
    for lun in client.lun_list():
        if lun.scsi_id in scsi_ids and lun.region:
            client.heartbeat_region_add(cluster.cluster_name, lun.region)


def _run(task: Task, steps, finish) -> None:
    host = Host.objects.get(pk=task.target_id)
    state = HostMaintenance.objects.get(host=host)
    rebooting = task.kind == "maintenance.reboot"

    def failure(step: Step, message: str) -> str:
        if rebooting:
            return (
                f"{step.name} failed: {message} {host} stays in maintenance. Fix the cause, "
                "then reboot it again from its maintenance page."
            )
        done = [s.name.lower() for s in steps if s.key in state.done]
        return (
            f"{step.name} failed: {message} {host} is "
            + (f"part-way: done so far: {'; '.join(done)}." if done else "unchanged.")
            + " Fix the cause, then retry (it continues from this step)"
            + (" or roll back." if task.kind == "maintenance.enter" else ".")
        )

    try:
        run_steps(
            task,
            steps,
            Maintaining(host, state, pool_driver()),
            # A reboot is asked for again each time; the others skip what is done.
            done=None if rebooting else (lambda context, step: step.key in context.state.done),
            failure=failure,
        )
    except ConsoleError as exc:
        _failed_with_way_forward(task, host, exc.message)
        return
    finish(host, state)
    task_finish(task=task, status=TaskStatus.SUCCEEDED)


def _failed_with_way_forward(task: Task, host: Host, error: str) -> None:
    """The task fails with a link to the host's maintenance page, which offers what can be
    done next (retry, reboot, roll back)."""
    task_finish(
        task=task,
        status=TaskStatus.FAILED,
        error=error,
        result={
            "page": reverse("host-maintenance", args=[host.pk]),
            "page_label": f"What to do next: {host}'s maintenance page",
        },
    )


def enter_run(task: Task) -> None:
    _run(task, ENTER_STEPS, lambda host, state: None)


def reboot_run(task: Task) -> None:
    _run(task, REBOOT_STEPS, lambda host, state: None)


def exit_run(task: Task) -> None:
    def finish(host, state):
        state.delete()
        for cluster in host_clusters(host):
            cluster_reconcile_start(cluster=cluster, reason=f"{host} is back from maintenance")

    _run(task, EXIT_STEPS, finish)


def rollback_run(task: Task) -> None:
    """Redo what the partial enter undid; the same steps as exit, for what was done."""
    host = Host.objects.get(pk=task.target_id)
    state = HostMaintenance.objects.get(host=host)
    undone = set(state.done)
    # Exit's steps, minus those whose enter counterpart never ran.
    skip = {"start": "leave", "plug": "unplug", "enable": "disable"}
    state.done = [key for key, counterpart in skip.items() if counterpart not in undone]
    state.save(update_fields=["done", "updated"])
    exit_run(task)


@transaction.atomic
def host_addresses_change(*, host: Host, addresses: list[str], actor) -> Host:
    """New management addresses; refused unless the host is in maintenance (the design's
    rule: with storage plugged, a network change can fence an OCFS2 host)."""
    state = HostMaintenance.objects.filter(host=host).first()
    if state is None or state.state != MaintenanceState.IN_MAINTENANCE:
        raise ConsoleError(
            f"{host}'s network can only be changed in maintenance mode: with its storage "
            "plugged and its clusters running, a network change can make O2CB fence it. "
            "Put it into maintenance first."
        )
    host.addresses = list(addresses)
    host.save(update_fields=["addresses"])
    audit_record(actor=actor, action="host.addresses", target=host, message=", ".join(addresses))
    for cluster in host_clusters(host):
        cluster_reconcile_start(cluster=cluster, reason=f"{host} has new addresses")
    return host


# Rolling restart ----------------------------------------------------------------------------


def rolling_restart_preview(cluster: Cluster, driver=None) -> dict:
    """What a rolling restart would do, and the pre-checks (prechecks.restart_refusals) that
    stop it: they run again when it starts and before each host."""
    members = cluster_members(cluster)
    refusals = []
    busy = HostMaintenance.objects.filter(host__in=members).select_related("host")
    if busy.exists():
        names = ", ".join(m.host.hostname for m in busy)
        refusals.append(f"{names} is in maintenance: finish that first, then restart.")
    if Task.objects.filter(
        kind="maintenance.rolling_restart",
        target_id=str(cluster.pk),
        status__in=[TaskStatus.PENDING, TaskStatus.RUNNING],
    ).exists():
        refusals.append(f"A rolling restart of {cluster} is already running.")
    if not members:
        refusals.append(f"{cluster} has no members to restart.")
    driver = pool_driver() if driver is None else driver
    refusals += prechecks.restart_refusals(cluster, members, members, driver)
    impacts = [
        impact
        for host in members
        for impact in quorum_impact(host, when=f"While {host} restarts")
        if impact["cluster_id"] == cluster.pk
    ]
    return {
        "cluster": cluster.name,
        "order": [h.hostname for h in members],
        "each_host": [s.name for s in ENTER_STEPS[:-1]]
        + ["Reboot it and wait for it to come back"]
        + [s.name for s in EXIT_STEPS],
        "why": "One host at a time, so the others keep the cluster's quorum and its storage; "
        "the restart stops at the first host that fails, before touching the next.",
        "checks": "Before it starts and again before each host: the hosts' O2CB settings "
        "agree, every member runs the cluster, every SR is plugged everywhere, the host's "
        "VMs can move, and the others keep quorum without it. After each host: it really "
        "rejoined (O2CB runs, its heartbeat is live and connected to its peers, its SRs are "
        "plugged).",
        "quorum": impacts,
        "impacts": impacts,
        "fence_risks": fence_risks_one_at_a_time(cluster, members),
        "refusals": refusals,
    }


@transaction.atomic
def rolling_restart(*, cluster: Cluster, actor) -> Task:
    """Restart the cluster's hosts one at a time through maintenance, so that a pending
    removal takes effect and its node number can be freed; stops at the first failure."""
    refuse_unless_clear(rolling_restart_preview(cluster))
    members = cluster_members(cluster)
    task = task_create(
        name=f"Rolling restart of {cluster}",
        kind="maintenance.rolling_restart",
        celery_task="maintenance.rolling_restart",
        steps=[_restart_step(host.pk, host) for host in members],
        user=actor,
        target=cluster,
        params={"hosts": [host.pk for host in members]},
    )
    audit_record(
        actor=actor,
        action="cluster.rolling_restart",
        target=cluster,
        task=task,
        outcome=AuditOutcome.ACCEPTED,
    )
    return task


@dataclass
class Restarting:
    """What a rolling restart's step works on."""

    task: Task
    cluster: Cluster
    driver: object


def _restart_step(pk: int, host: Host | None) -> Step:
    return Step(
        f"restart-{pk}",
        f"Restart {host}",
        "First the checks again (settings, members running, SRs plugged, its VMs, quorum); "
        "then through maintenance and back: its VMs move away, it leaves its clusters "
        "cleanly, reboots, rejoins, and is checked to be back; the other hosts keep the "
        "cluster's quorum meanwhile.",
        _restart,
        subject=host,
    )


def _restart(context: Restarting, step: Step) -> str:
    if step.subject is None:
        raise SkipStep("The host was removed since.")
    if not step_noted(context.task, step.key).get("checked"):
        _check_before(context.cluster, step.subject, context.driver)
        step_note(context.task, step.key, checked=True)
    return restart_host(
        step.subject,
        context.driver,
        reboot_timeout=settings.REBOOT_TIMEOUT,
        verify_within=lambda: _verify_bound(context.task, step.key),
    )


def _verify_bound(task: Task, key: str) -> float:
    """How long the check that the host is back may wait: REJOIN_TIMEOUT from when it began
    (the step's one wait clock started with the wait for the reboot)."""
    noted = step_noted(task, key)
    if "verify_from" not in noted:
        row = task.steps.get(key=key)
        waited = (timezone.now() - row.waiting_since).total_seconds() if row.waiting_since else 0
        step_note(task, key, verify_from=waited)
        noted = {"verify_from": waited}
    return noted["verify_from"] + settings.REJOIN_TIMEOUT


def _check_before(cluster: Cluster, host: Host, driver) -> None:
    """The pre-checks once more, on what the members answer now, before touching `host`."""
    members = cluster_members(cluster)
    cluster_statuses_refresh(cluster=cluster, hosts=members)
    refusals = [
        f"{m.host} is in maintenance: finish that first."
        for m in HostMaintenance.objects.filter(host__in=members).select_related("host")
    ]
    refusals += prechecks.restart_refusals(cluster, members, [host], driver)
    if refusals:
        raise ConsoleError(f"Not restarted: the checks before it refuse. {' '.join(refusals)}")


def restart_host(host: Host, driver, *, reboot_timeout: float, verify_within=None) -> str:
    """One host through maintenance and back; every effect recorded as it happens, so
    the step can be run again (after a retry, or to look whether the host is back)."""
    state, _ = HostMaintenance.objects.get_or_create(
        host=host,
        defaults={"state": MaintenanceState.ENTERING, "was_enabled": host.enabled},
    )
    for step in ENTER_STEPS:
        if step.key not in state.done:
            _enter_action(step.key, host, state, driver)
    if "reboot" not in state.done:
        _plan_reboot(host)  # before asking: the new boot may be reported at once
        driver.host_reboot(host)
        _record(state, "reboot")
    host.refresh_from_db(fields=["boot_time"])
    if not _rebooted(host, state):
        raise NotYet(
            f"Rebooted; waiting for {host} to come back.",
            again_in=REBOOT_POLL,
            give_up_after=reboot_timeout,
            failure=f"{host} did not come back within {reboot_timeout:g} s of its reboot; it "
            "stays in maintenance. Check its console, then reboot it again or exit "
            "maintenance from its maintenance page.",
        )
    if state.state != MaintenanceState.EXITING:
        state.state = MaintenanceState.EXITING  # a failure from here on: retry goes on
        state.save(update_fields=["state", "updated"])
    back = "back in its clusters"
    for step in EXIT_STEPS:
        if step.key not in state.done:
            within = verify_within() if verify_within and step.key == "verify" else None
            message = _exit_action(step.key, host, state, driver, verify_within=within)
            if step.key == "verify":
                back = f"back in its clusters ({message.rstrip('.')})"
    state.delete()
    return f"Restarted: booted at {host.boot_time:%H:%M:%S} UTC, {back}."


def rolling_restart_run(task: Task) -> None:
    def failure(step: Step, message: str) -> str:
        return (
            f"{step.subject}: {message} The restart stopped there; hosts after it were "
            "not touched. Fix it (its maintenance page says where it stands), then start "
            "the rolling restart again."
        )

    cluster = Cluster.objects.get(pk=task.target_id)
    steps = [
        _restart_step(pk, host)
        for (_position, host), pk in zip(task_hosts(task), task.params["hosts"], strict=True)
    ]
    try:
        run_steps(task, steps, Restarting(task, cluster, pool_driver()), failure=failure)
    except ConsoleError as exc:
        failed = task.steps.filter(status="failed").values_list("key", flat=True).first()
        host = next((s.subject for s in steps if s.key == failed), None)
        if host is not None and HostMaintenance.objects.filter(host=host).exists():
            _failed_with_way_forward(task, host, exc.message)
            return
        raise
    cluster_reconcile_start(cluster=cluster, reason="rolling restart finished")
    task_finish(task=task, status=TaskStatus.SUCCEEDED)


# Removing a host ----------------------------------------------------------------------------


def _in_maintenance(host: Host) -> bool:
    return HostMaintenance.objects.filter(host=host, state=MaintenanceState.IN_MAINTENANCE).exists()


def host_remove_preview(host: Host, *, powered_off: bool = False) -> dict:
    in_maintenance = _in_maintenance(host)
    refusals = []
    # What O2CB still counts as active (`o2cb remove-node` refuses an active node).
    active = [
        activity
        for membership in Membership.objects.filter(host=host, left__isnull=True)
        if (activity := member_activity(membership)) is not None
    ]
    still = " and ".join(activity.facts for activity in active)
    if not in_maintenance and not powered_off:
        refusals.append(
            (
                f"{host} still {still}, and O2CB cannot remove a node that is still active. "
                if active
                else ""
            )
            + f"Put {host} into maintenance first (its VMs move away, its storage is "
            "unplugged and it leaves its clusters cleanly), or, if it is dead, state that it "
            "is powered off to forget it."
        )
    elif in_maintenance and active:
        refusals.append(
            f"{host} is in maintenance, yet it still {still}, and O2CB cannot remove a node "
            "that is still active. If O2CB was stopped by hand since, check its cluster again "
            "(Check and converge now, on the cluster's page); otherwise exit maintenance and "
            "enter it again, which unplugs its storage and stops O2CB."
        )
    if powered_off and not in_maintenance:
        still_alive = _answers_still(host)
        if still_alive:
            refusals.append(
                f"{host} is not powered off: {still_alive}. Forgetting a running host would "
                "leave a live node that O2CB's peers no longer know. Put it into maintenance "
                "and remove it from there, or power it off first."
            )
    clusters = host_clusters(host)
    impact = quorum_impact(host)
    steps = [
        "Remove its node from cluster.conf on every other member",
        "Forget the host, its storage connections and its status",
        "Keep its node number held until every remaining member has restarted",
    ]
    ejects = host.pool_id is not None and not powered_off
    if ejects:
        steps.insert(0, f"Eject it from XAPI pool {host.pool} (pool.eject)")
    return {
        "host": host.hostname,
        "steps": steps,
        "clusters": [c.name for c in clusters],
        "quorum": impact,
        "impacts": impact + ([_pool_eject_impact(host)] if ejects else []),
        "fence_risks": fence_risks_while_out(host),
        "needs_restart": bool(clusters),
        "refusals": refusals,
    }


def _pool_eject_impact(host: Host) -> dict:
    """What leaving the XAPI pool does to the host, as XenCenter warns before it."""
    return {
        "kind": "pool_eject",
        "sentence": f"{host} will leave XAPI pool {host.pool}: pool.eject restarts it as a "
        "pool of its own, and the VMs on its local storage are lost to it (their disks "
        "are wiped). Removing it from the console alone is not possible while it is in "
        "the pool: the pool would bring it back.",
    }


# A host stated powered off must not have been heard from this recently, nor answer now.
POWERED_OFF_PROBE_TIMEOUT = 3.0


def _answers_still(host: Host) -> str:
    """How `host` shows it is alive (a recent report, or an answer now); "" if silent."""
    if host.last_heard and timezone.now() - host.last_heard < settings.AGENT_SILENT_AFTER:
        seconds = (timezone.now() - host.last_heard).total_seconds()
        return f"its agent reported {seconds:.0f} s ago"
    try:
        agent(host, timeout=POWERED_OFF_PROBE_TIMEOUT).hello()
    except HostUnreachable:
        return ""
    except ConsoleError:
        return "its agent answers (with an error)"
    return "its agent answers"


@transaction.atomic
def host_remove(*, host: Host, actor, confirm_name: str, powered_off: bool = False) -> dict:
    """The design's Pool.eject: the host leaves every cluster and the pool (a host of an
    XAPI pool leaves it through pool.eject, as XenCenter's "Remove server from pool").

    A live host must be in maintenance first (its VMs gone, storage unplugged, clusters
    left). A dead host is forgotten once the admin states it is powered off: its node
    is removed on the survivors without it. Either way its node number stays held until
    every remaining member has restarted (the banner says so).
    """
    if confirm_name != host.hostname:
        raise ConsoleError(f"Type the host's name, {host.hostname}, to confirm its removal.")
    refuse_unless_clear(host_remove_preview(host, powered_off=powered_off))
    in_maintenance = _in_maintenance(host)
    if host.pool_id is not None and not powered_off:
        # Locked first: the pool sync, seeing the host leave, waits for this removal.
        Host.objects.select_for_update().filter(pk=host.pk).first()
        pool_driver().host_eject(host)  # a refusal (the master) changes nothing here
    memberships = list(Membership.objects.filter(host=host, left__isnull=True))
    tasks = []
    for membership in memberships:
        _m, reconcile = membership_destroy(membership=membership, actor=actor)
        tasks.append(reconcile.pk)
    name = host.hostname
    audit_record(
        actor=actor,
        action="host.remove",
        target=host,
        message=("forgotten (powered off)" if powered_off and not in_maintenance else "removed"),
    )
    # Nothing checks a forgotten host again: its alerts (silent, I/O, crash) end here.
    alerts_clear_about(target=host)
    host.delete()
    return {
        "host": name,
        "left_clusters": [m.cluster.name for m in memberships],
        "reconcile_tasks": tasks,
    }
