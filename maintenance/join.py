"""The design's Pool.join resync: a host accepted into the pool ends running in its
cluster, with every SR of that cluster plugged, or with a step that says why not.

Steps: every member's cluster.conf learns the new node (O2CB adds a node online); the
new host heartbeats on each SR's volume and O2CB starts on it, with the cluster's
statefile in static-vdis, as "Start on every member" starts it; then each SR gets a PBD
on the host, plugged. A cluster no other member runs (nobody started it yet) is not
started by a join: the host starts with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusters.agents import agent
from clusters.models import PBD, SR, Cluster, ClusterHostStatus, Host, Membership
from clusters.monitor import (
    cluster_status_record,
    converge_members,
    converge_steps,
    desired_nodes,
    statefile_uuid,
    wait_for_earlier_runs,
)
from clusters.selectors.hosts import cluster_members
from core.choices import StepStatus, TaskStatus
from core.errors import ConsoleError
from core.models import Task
from core.services.tasks import task_finish
from core.steps import SkipStep, Step, run_steps, step_note, step_noted, step_rows

from .drivers import pool_driver


@dataclass
class Joining:
    """What the join's steps work on: the cluster and the host that joins it."""

    task: Task
    cluster: Cluster
    host: Host | None


def _start_step(host: Host | None) -> Step:
    return Step(
        "start",
        f"Start {host or 'the host'} in the cluster",
        "It heartbeats on every SR's volume, then O2CB starts on it with the cluster's "
        "statefile attached at boot; its peers see a live node, not a dead one.",
        _start,
        stops=False,
    )


def _plug_step(sr: SR) -> Step:
    return Step(
        f"plug-{sr.pk}",
        f"Plug {sr.name}",
        "It gets a PBD on the new host, and mounts the SR.",
        _plug,
        subject=sr,
        stops=False,  # one SR that cannot be plugged does not keep the others away
    )


def _not_started_reason(joining: Joining) -> str | None:
    host, cluster = joining.host, joining.cluster
    if host is None:
        return "The host is no longer in the pool."
    if not Membership.objects.filter(cluster=cluster, host=host, left__isnull=True).exists():
        return f"{host} is no longer a member of {cluster}."
    host.refresh_from_db(fields=["maintenance_hold"])
    if host.maintenance_hold:
        return (
            f"{host} is in maintenance: once it has left, start {cluster} on it (the "
            "cluster's 'Start on every member')."
        )
    others = (
        ClusterHostStatus.objects.filter(cluster=cluster, running=True)
        .exclude(host=host)
        .filter(host__in=cluster_members(cluster))
    )
    if not others.exists():
        return (
            f"{cluster} runs on no other member: it was not started yet (or is stopped "
            f"everywhere). {host} starts with it: the cluster's 'Start on every member'."
        )
    return None


def _start(joining: Joining, step: Step) -> str:
    reason = _not_started_reason(joining)
    if reason:
        step_note(joining.task, step.key, skipped=reason)
        raise SkipStep(reason)
    host, cluster = joining.host, joining.cluster
    client = agent(host)
    regions = heartbeat_on_cluster_storage(host, cluster)
    started = client.cluster_start(cluster.cluster_name, statefile_uuid(cluster))
    cluster_status_record(cluster=cluster, host=host, report=started)
    if not started.running:
        raise ConsoleError(f"O2CB did not start on {host}; see its status on the cluster page.")
    return f"Running; heartbeating on {regions} volume{'s' if regions != 1 else ''}."


def heartbeat_on_cluster_storage(host: Host, cluster: Cluster) -> int:
    """The host heartbeats on the volume of every SR of the cluster (O2CB's global
    heartbeat runs on every region); returns how many."""
    scsi_ids = set(SR.objects.filter(cluster=cluster).values_list("lun__scsi_id", flat=True))
    if not scsi_ids:
        return 0
    client, count = agent(host), 0
    for lun in client.lun_list():
        if lun.scsi_id in scsi_ids and lun.region:
            client.heartbeat_region_add(cluster.cluster_name, lun.region)
            count += 1
    return count


def _plug(joining: Joining, step: Step) -> str:
    start = joining.task.steps.get(key="start")
    if start.status != StepStatus.SUCCEEDED:
        why = step_noted(joining.task, "start").get("skipped") or "it did not start."
        raise SkipStep(f"Not plugged: {why}")
    sr, host = step.subject, joining.host
    pbd, _ = PBD.objects.get_or_create(host=host, sr=sr)
    pool_driver().pbd_plug(pbd)
    PBD.objects.filter(pk=pbd.pk).update(plugged=True)
    return f"Plugged on {host}."


def host_join_run(task: Task) -> None:
    """Every member learns the host, then the host starts and plugs every SR. When no
    other member was last seen running the cluster, the join starts nothing, and leaves
    the members' cluster.conf to the monitor run its membership queued."""
    wait_for_earlier_runs(task)
    cluster = Cluster.objects.get(pk=task.target_id)
    host = Host.objects.filter(pk=task.params["host"]).first()
    joining = Joining(task, cluster, host)
    converging = task.steps.filter(key__startswith="converge-").exists()
    if converging or _not_started_reason(joining) is None:
        converge = converge_steps(cluster_members(cluster))
    else:
        converge = []
    srs = list(SR.objects.filter(cluster=cluster).select_related("lun", "cluster"))
    later = [_start_step(host), *(_plug_step(sr) for sr in srs)]
    step_rows(task, [*converge, *later])  # in this order, before any runs
    failed = converge_members(task, cluster, converge, desired_nodes(cluster)).failed
    failed += run_steps(task, later, joining).failed
    if failed:
        names = ", ".join(step.name.lower() for step in failed)
        task_finish(
            task=task,
            status=TaskStatus.FAILED,
            error=f"{host} is in {cluster}'s configuration, but these steps failed: {names} "
            f"(see each step). Fix the cause, then put {host} through maintenance (enter, "
            f"reboot, exit): leaving maintenance starts {cluster} on it and plugs every SR.",
        )
    else:
        task_finish(task=task, status=TaskStatus.SUCCEEDED)
