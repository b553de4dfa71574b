"""The cluster monitor: make every member host's O2CB configuration match the database.

For each member host it asks the agent what it has (Cluster.query), calls
Membership.create/destroy to converge, queries again, and stores what the host
reports. Hosts are handled at once, each in its own thread that only talks to
its agent; the database is written by the calling thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agent.contract import ClusterQuery, encode
from clusters.fencing.services import fence_risks_sync
from clusters.selectors.clusters import timeout_differences
from clusters.selectors.hosts import cluster_members
from clusters.services.hosts import JOIN_KIND, host_joining, task_hosts
from clusters.services.memberships import (
    PERIODIC_REASON,
    START_WHY,
    cluster_reconcile_start,
    memberships_collect_garbage,
)
from core.choices import AlertName, StepStatus, TaskStatus
from core.errors import ConsoleError
from core.models import Task
from core.services.alerts import alert_clear, alert_sync
from core.services.tasks import task_finish, task_fold_quiet, task_step_finish
from core.steps import (
    NotYet,
    Outcome,
    SkipStep,
    Step,
    run_each,
    run_steps,
    step_note,
    step_noted,
    step_rows,
)

from .agents import agent, agent_call_many
from .choices import O2CB_PORT, VDIType
from .models import Cluster, ClusterHostStatus, Host, peers_in_brief

# A host that did not answer is asked again, half a second later and then a second later,
# in the same run (the step runner reschedules its step; the whole converge of that host
# runs again, where the old loop retried each call once). The next periodic run tries
# again anyway.
HOST_STEP_RETRIES = 2
HOST_STEP_BACKOFF = 0.5


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


def _reason(error: Exception) -> str:
    return str(getattr(error, "message", error))


def converge_host(host: Host, cluster_name: str, desired: dict[int, DesiredNode]) -> dict:
    """Runs in a worker thread: agent calls only, no database access."""
    client = agent(host)
    report = client.cluster_query(cluster_name)
    plan = plan_host(desired, report)
    applied = []
    for method, kwargs, description in plan.calls:
        change = getattr(client, method)
        # Each change answers with the host's state after it: no second query needed.
        report = change(cluster_name, **kwargs).query
        applied.append(description)
    return {"report": report, "applied": applied, "drift": plan_host(desired, report).drift}


def _store_status(cluster: Cluster, host: Host, outcome) -> bool:
    """Keep what `host` answered; False (nothing kept) if the host was forgotten since
    the run began: a status of a host that is gone would point at no host."""
    with transaction.atomic():
        # The host's row lock holds off its removal until this is written.
        if not Host.objects.select_for_update().filter(pk=host.pk).exists():
            return False
        _write_status(cluster, host, outcome)
    return True


def _write_status(cluster: Cluster, host: Host, outcome) -> None:
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


def cluster_status_record(*, cluster: Cluster, host: Host, report: ClusterQuery) -> None:
    """What a host answered to a start or a stop, kept as its last known state of the
    cluster until the monitor's next look (a removal goes by whether it runs)."""
    drift = plan_host(desired_nodes(cluster), report).drift
    _store_status(cluster, host, {"report": report, "drift": drift})
    _update_stopped_alerts(cluster, [host])


def member_stopped_problem(
    cluster: Cluster, host: Host, status: ClusterHostStatus, others_running: int
) -> str | None:
    """Why it is wrong that O2CB does not run on this member, or None when it is not.

    Stopped on purpose raises nothing: a host in maintenance (it left its cluster cleanly
    and rejoins when it leaves maintenance), every member of a cluster nobody started yet
    (or stopped everywhere), and a host its join workflow is still to start. A member
    whose O2CB service is enabled was started and should run; one that never was, while
    other members run the cluster, is a dead node to them."""
    if status.running or host.maintenance_hold or host_joining(host):
        return None
    fix = (
        f"Start it (the cluster's 'Start on every member'), or put {host} into maintenance "
        "if it is stopped on purpose."
    )
    if status.enabled:
        return (
            f"O2CB is not running on {host}, a member of {cluster}, although it was started "
            f"there (its o2cb service is enabled): it stopped, or failed to start at boot. "
            f"Its SRs cannot be used there. {fix}"
        )
    if not others_running:
        return None
    runs = "members run" if others_running != 1 else "member runs"
    return (
        f"O2CB is not running on {host}, a member of {cluster}, while {others_running} other "
        f"{runs} it: to them {host} is a dead node. {fix}"
    )


def _update_stopped_alerts(cluster: Cluster, hosts: list[Host]) -> None:
    """One alert per member stopped when it should run; a host that did not answer keeps
    what was last known (its silence has an alert of its own)."""
    members = cluster.memberships.filter(left__isnull=True).values("host")
    statuses = ClusterHostStatus.objects.filter(cluster=cluster, host__in=members)
    running = set(statuses.filter(running=True).values_list("host_id", flat=True))
    for status in statuses.filter(host__in=[h.pk for h in hosts]).select_related("host"):
        if not status.reachable:
            continue
        host = status.host  # read now: maintenance may have begun since the run started
        alert_sync(
            name=AlertName.CLUSTER_MEMBER_STOPPED,
            target=host,
            message=member_stopped_problem(cluster, host, status, len(running - {host.pk})),
        )


def cluster_statuses_refresh(*, cluster: Cluster, hosts: list[Host] | None = None) -> None:
    """Ask each member (or `hosts`) now how the cluster stands there, and keep the answers
    (or that it did not answer) as the console's last view; changes no host. The workflows
    that take hosts out of service check on this fresh view, not the monitor's last look."""
    hosts = cluster_members(cluster) if hosts is None else hosts
    desired = desired_nodes(cluster)
    answers = agent_call_many(hosts, lambda host: agent(host).cluster_query(cluster.cluster_name))
    for host, answer in answers.items():
        if isinstance(answer, Exception) and not isinstance(answer, ConsoleError):
            raise answer
        _store_status(
            cluster,
            host,
            answer
            if isinstance(answer, Exception)
            else {"report": answer, "drift": plan_host(desired, answer).drift},
        )
    _update_stopped_alerts(cluster, hosts)
    _update_timeouts_alert(cluster)


UNFINISHED = (StepStatus.PENDING, StepStatus.RUNNING)

# Runs that rewrite a cluster's cluster.conf files from a snapshot of the database.
CONVERGING_KINDS = (
    "clusters.reconcile",
    "clusters.start",
    "maintenance.add_storage",
    JOIN_KIND,
)
# Seconds between looks at whether the earlier runs have finished.
EARLIER_RUN_POLL = 0.2


def earlier_runs(task: Task):
    """Runs of the same cluster claimed before this one and still running."""
    return Task.objects.filter(
        Q(started__lt=task.started) | Q(started=task.started, pk__lt=task.pk),
        kind__in=CONVERGING_KINDS,
        target_type=task.target_type,
        target_id=task.target_id,
        status=TaskStatus.RUNNING,
    ).order_by("started", "pk")


def wait_for_earlier_runs(task: Task) -> None:
    """Let runs of the same cluster that were claimed earlier finish first.

    Each run converges hosts to the snapshot it read; two at once could undo each
    other (an older snapshot would comment out a node a newer one just added). The wait
    holds no worker thread: the run is rescheduled until they are done, and gives up
    after EARLIER_RUN_WAIT seconds (a run whose worker was lost is failed by the
    stalled-task sweep, which then runs; meanwhile the waiting ones fail clearly).
    """
    first = earlier_runs(task).first()
    if first is None:
        return
    limit = settings.EARLIER_RUN_WAIT
    raise NotYet(
        f"Waiting for an earlier run of {task.target_repr} to finish: {first.name}.",
        again_in=EARLIER_RUN_POLL,
        give_up_after=limit,
        failure=f"Gave up after waiting {limit:g} s for an earlier run of {task.target_repr} "
        f"to finish: '{first.name}' (task {first.pk}) still shows as running. If its worker "
        "was lost it is failed by the stalled-task sweep; then run this again.",
    )


def _host_step(key: str, name: str, why: str, host: Host) -> Step:
    return Step(key, name, why, subject=host, retries=HOST_STEP_RETRIES, backoff=HOST_STEP_BACKOFF)


def converge_steps(members: list[Host]) -> list[Step]:
    why = "Its cluster.conf is made to hold exactly the cluster's members."
    return [_host_step(f"converge-{h.pk}", f"Converge {h}", why, h) for h in members]


_DEPARTED = (
    "No longer a member: the host left the cluster or was forgotten while this run was "
    "under way, so there is nothing to converge on it."
)


def converge_members(task: Task, cluster: Cluster, steps: list[Step], desired) -> Outcome:
    """The converge steps, a host each at once; what each host answers is stored (nothing
    for a host forgotten meanwhile: its step is skipped)."""

    def record(step: Step, outcome) -> str:
        if not _store_status(cluster, step.subject, outcome):
            raise SkipStep(_DEPARTED)
        if isinstance(outcome, Exception):
            raise ConsoleError(_reason(outcome))
        if outcome["applied"]:
            step_note(task, step.key, applied=outcome["applied"])
        summary = "; ".join(outcome["applied"]) or "already up to date"
        if outcome["report"].needs_restart:
            summary += " (needs a cluster restart)"
        return summary

    return run_each(
        task,
        steps,
        lambda step: converge_host(step.subject, cluster.cluster_name, desired),
        record,
    )


def _forget(task: Task, step: Step) -> str:
    forgotten = memberships_collect_garbage(cluster=Cluster.objects.get(pk=task.target_id))
    step_note(task, step.key, numbers=[m.number for m in forgotten])
    return ", ".join(f"node {m.number} ({m.hostname})" for m in forgotten) or "nothing to forget"


GC_STEP = Step(
    "forget",
    "Forget departed nodes once every member that knew them restarted",
    "A removed node's number is held until no running member still knows it (a host that "
    "joined after it left never did).",
    _forget,
)


def _skip_departed(task: Task, rows: dict, steps: list[Step]) -> None:
    """A host step of an earlier delivery whose host is no member now ends as skipped,
    not as running for ever."""
    current = {step.key for step in steps}
    for key, row in rows.items():
        if key.startswith("converge-") and key not in current and row.status in UNFINISHED:
            task_step_finish(
                task=task, position=row.position, status=StepStatus.SKIPPED, message=_DEPARTED
            )


def cluster_reconcile_run(task: Task) -> Task:
    """One monitor run for the cluster a claimed Task targets; a step per member host."""
    wait_for_earlier_runs(task)
    cluster = Cluster.objects.get(pk=task.target_id)
    members = cluster_members(cluster)
    desired = desired_nodes(cluster)
    steps = converge_steps(members)
    rows = step_rows(task, [*steps, GC_STEP])  # in this order, before any runs
    _skip_departed(task, rows, steps)
    converged = converge_members(task, cluster, steps, desired)
    # Statuses of hosts that are no longer members say nothing about this cluster now.
    gone = ClusterHostStatus.objects.filter(cluster=cluster).exclude(host__in=members)
    for former in Host.objects.filter(cluster_statuses__in=gone):
        alert_clear(name=AlertName.CLUSTER_MEMBER_STOPPED, target=former)
    gone.delete()
    _update_stopped_alerts(cluster, members)
    run_steps(task, [GC_STEP], task)
    _update_restart_alert(cluster)
    _update_timeouts_alert(cluster)
    fence_risks_sync(cluster=cluster)
    return _reconcile_finish(task, members, [step.subject.hostname for step in converged.failed])


def _reconcile_finish(task: Task, members: list[Host], failed: list[str]) -> Task:
    forgotten = step_noted(task, GC_STEP.key).get("numbers", [])
    result = {"hosts": len(members), "failed": failed, "forgotten": forgotten}
    if failed:
        return task_finish(
            task=task,
            status=TaskStatus.FAILED,
            result=result,
            error=f"{len(failed)} of {len(members)} hosts could not be brought up to date "
            f"({', '.join(failed)}; see their steps). The others were; the monitor tries again.",
        )
    # One transaction: nobody sees the run succeeded but not yet folded (two rows).
    with transaction.atomic():
        task = task_finish(task=task, status=TaskStatus.SUCCEEDED, result=result)
        if task.params.get("reason") == PERIODIC_REASON and not forgotten and not _changed(task):
            return task_fold_quiet(task=task)  # one row for the checks that change nothing
    return task


def _changed(task: Task) -> bool:
    """Whether a run changed a host's configuration (its converge steps note what)."""
    return task.steps.filter(key__startswith="converge-", output__isnull=False).exists()


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
        "the o2cb settings file (/etc/sysconfig/o2cb on XenServer and XCP-ng, "
        "/etc/default/o2cb on Debian) on every host, then restart the cluster host by host."
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
    return agent(host).cluster_start(cluster_name, statefile)


def cluster_start_run(task: Task) -> None:
    """Start the cluster on each member: bring its cluster.conf up to date, then start."""
    wait_for_earlier_runs(task)
    cluster = Cluster.objects.get(pk=task.target_id)
    steps = [
        _host_step(f"start-{host.pk}", f"Start on {host}", START_WHY, host)
        for _position, host in task_hosts(task)
        if host is not None
    ]
    desired, statefile = desired_nodes(cluster), statefile_uuid(cluster)

    def start(step: Step) -> ClusterQuery:
        if step.subject.maintenance_hold:
            raise SkipStep(f"{step.subject} is in maintenance: it rejoins when it leaves.")
        return start_on_host(step.subject, cluster.cluster_name, desired, statefile)

    def record(step: Step, outcome) -> str:
        if isinstance(outcome, SkipStep):
            raise outcome
        if isinstance(outcome, Exception):
            raise ConsoleError(_reason(outcome))
        return "running"

    failed = [step.subject.hostname for step in run_each(task, steps, start, record).failed]
    if failed:
        task_finish(
            task=task,
            status=TaskStatus.FAILED,
            error=f"{cluster} did not start on: {', '.join(failed)}.",
        )
    else:
        task_finish(task=task, status=TaskStatus.SUCCEEDED)
    cluster_reconcile_start(cluster=cluster, reason="after start")
