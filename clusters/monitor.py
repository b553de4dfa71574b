"""The cluster monitor: make every member host's O2CB configuration match the database.

For each member host it asks the agent what it has (Cluster.query), calls
Membership.create/destroy to converge, queries again, and stores what the host
reports. Hosts are handled at once, each in its own thread that only talks to
its agent; the database is written by the calling thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from agent.contract import ClusterQuery, encode
from clusters.selectors.clusters import timeout_differences
from clusters.selectors.hosts import cluster_members
from clusters.services.hosts import task_hosts
from clusters.services.memberships import cluster_reconcile_start, memberships_collect_garbage
from core.choices import AlertName, StepStatus, TaskStatus
from core.models import Task
from core.services.alerts import alert_sync
from core.services.tasks import task_finish, task_step_finish, task_step_start, task_steps_add

from .agents import HostUnreachable, agent, agent_call_many
from .choices import O2CB_PORT, VDIType
from .models import Cluster, ClusterHostStatus, Host, peers_in_brief

# Seconds to wait before each retry of a call the host did not answer.
RETRY_DELAYS = (0.5,)


@dataclass(frozen=True)
class DesiredNode:
    number: int
    hostname: str
    uuid: str
    addresses: tuple[str, ...]


@dataclass
class HostPlan:
    # (the AgentClient method, its arguments besides the cluster, what it does in words)
    calls: list[tuple[str, dict, str]] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)


def desired_nodes(cluster: Cluster) -> dict[int, DesiredNode]:
    return {
        m.number: DesiredNode(
            number=m.number,
            hostname=m.host.hostname,
            uuid=str(m.host.uuid),
            addresses=tuple(m.host.addresses),
        )
        for m in cluster.memberships.filter(left__isnull=True).select_related("host")
    }


def plan_host(desired: dict[int, DesiredNode], report: ClusterQuery) -> HostPlan:
    """What to call on one host so its cluster.conf holds exactly the desired nodes."""
    plan = HostPlan()
    configured = {node.number: node for node in report.hosts if node.configured}
    for number, node in configured.items():
        wanted = desired.get(number)
        if wanted is not None and wanted.hostname == node.hostname:
            expected = _o2cb_address(wanted.addresses)
            if node.address and expected and node.address != expected:
                plan.drift.append(
                    f"node {number} ({wanted.hostname}) is at {node.address} in cluster.conf "
                    f"but the host now reports {expected}; O2CB cannot change an address in a "
                    "running cluster: remove the host and add it again, then restart"
                )
            continue
        if node.uuid:
            plan.calls.append(
                (
                    "membership_destroy",
                    {"uuid": node.uuid},
                    f"removed node {number} ({node.hostname})",
                )
            )
        else:
            plan.drift.append(
                f"node {number} ({node.hostname}) is in cluster.conf but not known to the "
                "console (added by hand?); remove it from cluster.conf on that host"
            )
    for number, wanted in sorted(desired.items()):
        node = configured.get(number)
        if node is None or node.hostname != wanted.hostname:
            plan.calls.append(
                (
                    "membership_create",
                    {
                        "hostname": wanted.hostname,
                        "uuid": wanted.uuid,
                        "id": wanted.number,
                        "addresses": list(wanted.addresses),
                    },
                    f"added node {number} ({wanted.hostname})",
                )
            )
    return plan


def _o2cb_address(addresses) -> str | None:
    """The first management address as O2CB writes it (ip:port, O2CB's port by default)."""
    if not addresses:
        return None
    ip, _, port = addresses[0].partition(":")
    return f"{ip}:{port or O2CB_PORT}"


def _retrying(work):
    """`work()` (one agent call), again after a pause when the host did not answer."""
    for delay in RETRY_DELAYS:
        try:
            return work()
        except HostUnreachable:
            time.sleep(delay)
    return work()


def _reason(error: Exception) -> str:
    return str(getattr(error, "message", error))


def converge_host(host: Host, cluster_name: str, desired: dict[int, DesiredNode]) -> dict:
    """Runs in a worker thread: agent calls only, no database access."""
    client = agent(host)
    report = _retrying(lambda: client.cluster_query(cluster_name))
    plan = plan_host(desired, report)
    applied = []
    for method, kwargs, description in plan.calls:
        change = getattr(client, method)
        # Each change answers with the host's state after it: no second query needed.
        report = _retrying(lambda change=change, kwargs=kwargs: change(cluster_name, **kwargs))
        report = report.query
        applied.append(description)
    return {"report": report, "applied": applied, "drift": plan_host(desired, report).drift}


def _store_status(cluster: Cluster, host: Host, outcome) -> None:
    now = timezone.now()
    if isinstance(outcome, Exception):
        ClusterHostStatus.objects.update_or_create(
            cluster=cluster,
            host=host,
            defaults={
                "reachable": False,
                "error": _reason(outcome),
                "queried": now,
            },
        )
        return
    report: ClusterQuery = outcome["report"]
    peers = [
        {k: getattr(node, k) for k in ("number", "hostname", "state", "configured", "live")}
        for node in report.hosts
    ]
    ClusterHostStatus.objects.update_or_create(
        cluster=cluster,
        host=host,
        defaults={
            "reachable": True,
            "running": report.running,
            "enabled": report.enabled,
            "needs_restart": report.needs_restart,
            "restart_reasons": list(report.restart_reasons),
            "peers": peers,
            **peers_in_brief(peers),
            "drift": outcome["drift"],
            "timeouts": encode(report.timeouts),
            "error": "",
            "queried": now,
        },
    )


# Runs that rewrite a cluster's cluster.conf files from a snapshot of the database.
CONVERGING_KINDS = ("clusters.reconcile", "clusters.start", "maintenance.add_storage")
EARLIER_RUN_POLL = 0.2


def wait_for_earlier_runs(task: Task) -> None:
    """Let runs of the same cluster that were claimed earlier finish first.

    Each run converges hosts to the snapshot it read; two at once could undo each
    other (an older snapshot would comment out a node a newer one just added). A run
    whose worker was lost is failed by the stalled-task sweep, which ends the wait.
    """
    earlier = Task.objects.filter(
        Q(started__lt=task.started) | Q(started=task.started, pk__lt=task.pk),
        kind__in=CONVERGING_KINDS,
        target_type=task.target_type,
        target_id=task.target_id,
        status=TaskStatus.RUNNING,
    )
    while earlier.exists():
        time.sleep(EARLIER_RUN_POLL)


def cluster_reconcile_run(task: Task) -> Task:
    """One monitor run for the cluster a claimed Task targets; a step per member host."""
    wait_for_earlier_runs(task)
    cluster = Cluster.objects.get(pk=task.target_id)
    members = cluster_members(cluster)
    desired = desired_nodes(cluster)
    *host_steps, gc_step = task_steps_add(
        task=task,
        names=[f"Converge {host}" for host in members]
        + ["Forget departed nodes once every member restarted"],
    )
    steps = dict(zip(members, host_steps, strict=True))
    task_step_start(task=task, position=[step.position for step in host_steps])

    outcomes = agent_call_many(
        members, lambda host: converge_host(host, cluster.cluster_name, desired)
    )
    failed = []
    for host, outcome in outcomes.items():
        _store_status(cluster, host, outcome)
        position = steps[host].position
        if isinstance(outcome, Exception):
            failed.append(host.hostname)
            task_step_finish(
                task=task, position=position, status=StepStatus.FAILED, message=_reason(outcome)
            )
            continue
        summary = "; ".join(outcome["applied"]) or "already up to date"
        if outcome["report"].needs_restart:
            summary += " (needs a cluster restart)"
        task_step_finish(task=task, position=position, status=StepStatus.SUCCEEDED, message=summary)

    # Statuses of hosts that are no longer members say nothing about this cluster now.
    ClusterHostStatus.objects.filter(cluster=cluster).exclude(host__in=members).delete()
    task_step_start(task=task, position=gc_step.position)
    forgotten = memberships_collect_garbage(cluster=cluster)
    task_step_finish(
        task=task,
        position=gc_step.position,
        status=StepStatus.SUCCEEDED,
        message=", ".join(f"node {m.number} ({m.hostname})" for m in forgotten)
        or "nothing to forget",
    )
    _update_restart_alert(cluster)
    _update_timeouts_alert(cluster)
    result = {
        "hosts": len(members),
        "failed": failed,
        "forgotten": [m.number for m in forgotten],
    }
    if failed:
        return task_finish(
            task=task,
            status=TaskStatus.FAILED,
            result=result,
            error=f"{len(failed)} of {len(members)} hosts could not be brought up to date "
            f"({', '.join(failed)}; see their steps). The others were; the monitor tries again.",
        )
    return task_finish(task=task, status=TaskStatus.SUCCEEDED, result=result)


def _update_restart_alert(cluster: Cluster) -> None:
    hosts = sorted(
        ClusterHostStatus.objects.filter(cluster=cluster, needs_restart=True).values_list(
            "host__hostname", flat=True
        )
    )
    alert_sync(
        name=AlertName.CLUSTER_NEEDS_RESTART,
        target=cluster,
        message=(
            f"{cluster} needs a restart on {len(hosts)} host(s) ({', '.join(hosts)}) "
            "before a removal takes effect. Run a rolling restart."
        )
        if hosts
        else None,
    )


def _update_timeouts_alert(cluster: Cluster) -> None:
    statuses = ClusterHostStatus.objects.filter(cluster=cluster, reachable=True).select_related(
        "host"
    )
    differences = timeout_differences({s.host.hostname: s.timeouts for s in statuses})
    alert_sync(
        name=AlertName.O2CB_TIMEOUTS_DIFFER,
        target=cluster,
        message=" ".join(differences)
        + " O2CB refuses to connect nodes whose timeouts differ: set the same values in "
        "/etc/default/o2cb on every host, then restart the cluster host by host."
        if differences
        else None,
    )


def statefile_uuid(cluster: Cluster) -> str | None:
    """The cluster's o2cb_statefile VDI, which Cluster.start is given (None before storage)."""
    statefile = cluster.statefiles.filter(vdi_type=VDIType.O2CB_STATEFILE).first()
    return str(statefile.uuid) if statefile else None


def start_on_host(
    host: Host, cluster_name: str, desired: dict[int, DesiredNode], statefile: str | None
) -> ClusterQuery:
    """Runs in a worker thread: bring the host's cluster.conf up to date, then start."""
    converge_host(host, cluster_name, desired)
    return _retrying(lambda: agent(host).cluster_start(cluster_name, statefile))


def cluster_start_run(task: Task) -> None:
    """Start the cluster on each member: bring its cluster.conf up to date, then start."""
    wait_for_earlier_runs(task)
    cluster = Cluster.objects.get(pk=task.target_id)
    steps = {host: position for position, host in task_hosts(task) if host is not None}
    desired, statefile = desired_nodes(cluster), statefile_uuid(cluster)
    task_step_start(task=task, position=list(steps.values()))

    def start(host: Host) -> ClusterQuery:
        return start_on_host(host, cluster.cluster_name, desired, statefile)

    failed = []
    for host, outcome in agent_call_many(steps, start).items():
        ok = not isinstance(outcome, Exception)
        if not ok:
            failed.append(host.hostname)
        task_step_finish(
            task=task,
            position=steps[host],
            status=StepStatus.SUCCEEDED if ok else StepStatus.FAILED,
            message="running" if ok else _reason(outcome),
        )
    if failed:
        task_finish(
            task=task,
            status=TaskStatus.FAILED,
            error=f"{cluster} did not start on: {', '.join(failed)}.",
        )
    else:
        task_finish(task=task, status=TaskStatus.SUCCEEDED)
    cluster_reconcile_start(cluster=cluster, reason="after start")
