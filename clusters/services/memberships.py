"""Writes for clusters and memberships: node numbers, reconciles, starts, garbage."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from clusters.choices import O2CB_MAX_NODES, HostRegistration
from clusters.models import Cluster, Host, Membership
from clusters.selectors.hosts import (
    cluster_members,
    current_membership,
    hosts_in_no_cluster,
    member_activity,
)
from core.choices import AuditOutcome, TaskStatus
from core.errors import ConsoleError
from core.models import Task
from core.services.audit import audit_record, user_or_none
from core.services.tasks import (
    task_create,
)
from core.steps import Step


@transaction.atomic
def cluster_create(
    *, name: str, cluster_name: str, auto_join: bool = True, hosts=None, pool=None, actor
) -> Cluster:
    """Create an O2CB cluster of `pool` (None: of the hosts with their own agent); `hosts`
    (default: every accepted host of that pool in no cluster yet) become members. A host
    runs one O2CB cluster, so one naming a host of another cluster is refused whole, and
    so is a second auto-join cluster of the pool: new hosts cannot join two."""
    cluster = Cluster(name=name, cluster_name=cluster_name, auto_join=auto_join, pool=pool)
    cluster.full_clean()
    takes_new_hosts = (
        Cluster.objects.filter(auto_join=True, pool=pool).order_by("created", "pk").first()
    )
    if auto_join and takes_new_hosts is not None:
        raise ConsoleError(
            f"{takes_new_hosts} already takes every new host "
            + (f"of pool {pool} " if pool is not None else "")
            + "(auto-join), and a host runs one "
            "O2CB cluster: a second auto-join cluster would ask each new host to join two. "
            f"Create {name} without auto-join; it takes the accepted hosts that are in no "
            f"cluster, and you add others by hand once they have left {takes_new_hosts}.",
            detail={"cluster": takes_new_hosts.pk, "cluster_name": takes_new_hosts.name},
        )
    try:
        with transaction.atomic():
            cluster.save()
    except IntegrityError:
        # full_clean() found both names free, but another request took one since.
        raise ConsoleError(
            f"A cluster called '{name}' or named '{cluster_name}' on the hosts already exists."
        ) from None
    audit_record(actor=actor, action="cluster.create", target=cluster)
    if hosts is None:
        hosts = [h for h in hosts_in_no_cluster() if h.pool_id == cluster.pool_id]
    for host in hosts:
        membership_create(cluster=cluster, host=host, actor=actor)
    return cluster


def _lowest_free_number(cluster: Cluster) -> int:
    held = dict(Membership.objects.filter(cluster=cluster).values_list("number", "left"))
    for number in range(O2CB_MAX_NODES):
        if number not in held:
            return number
    departed = sum(1 for left in held.values() if left is not None)
    detail = {"cluster": cluster.pk, "limit": O2CB_MAX_NODES, "held_by_departed": departed}
    if not departed:
        raise ConsoleError(
            f"{cluster} has {O2CB_MAX_NODES} members, as many as O2CB allows in one cluster "
            f"(O2NM_MAX_NODES, node numbers 0 to {O2CB_MAX_NODES - 1}): no host can join it. "
            "Put this host in another cluster, or remove a member first.",
            detail=detail,
        )
    raise ConsoleError(
        f"All {O2CB_MAX_NODES} O2CB node numbers of {cluster} (O2CB's limit, O2NM_MAX_NODES) "
        f"are held, {departed} of them by hosts that left, whose numbers stay held until every "
        "member has restarted since. Restart the cluster (rolling restart) so their numbers "
        "can be freed.",
        detail=detail,
    )


def _refuse_a_second_cluster(host: Host, cluster: Cluster) -> None:
    """The kernel holds one O2CB cluster per host (o2nm_cluster_group_make_group answers
    -ENOSPC for a second): a current member of another cluster cannot join this one."""
    held = current_membership(host)
    if held is None or held.cluster_id == cluster.pk:
        return
    raise ConsoleError(
        f"{host} is already node {held.number} of cluster {held.cluster}, and a host runs one "
        "O2CB cluster: the Linux kernel holds no second one. To move it to "
        f"{cluster}, remove {host} from {held.cluster} first (through maintenance), then add "
        "it here.",
        detail={
            "host": host.pk,
            "hostname": host.hostname,
            "cluster": held.cluster_id,
            "cluster_name": held.cluster.name,
        },
    )


def _refuse_another_pool(host: Host, cluster: Cluster) -> None:
    """A cluster's members are hosts of one pool (the pool whose XAPI plugs its SRs), or
    all hosts with their own agent."""
    if host.pool_id == cluster.pool_id:
        return
    theirs = f"pool {host.pool}" if host.pool_id else "no pool (it runs its own agent)"
    ours = f"pool {cluster.pool}" if cluster.pool_id else "hosts with their own agent"
    raise ConsoleError(
        f"{host} belongs to {theirs}, and {cluster} takes hosts of {ours} only: a cluster's "
        "storage is plugged through one pool. Put it in a cluster of its own pool.",
        detail={"host": host.pk, "pool": host.pool_id, "cluster_pool": cluster.pool_id},
    )


def membership_create(*, cluster: Cluster, host: Host, actor) -> tuple[Membership, Task]:
    """Give `host` the lowest free node number in `cluster` and push it to every member."""
    if host.registration != HostRegistration.ACCEPTED:
        raise ConsoleError(
            f"{host} is waiting for acceptance; accept it before it joins a cluster."
        )
    with transaction.atomic():
        # The host's row lock queues two clusters taking the same host; the cluster's
        # serialises number allocation. Always in this order (host acceptance too).
        host = Host.objects.select_for_update().get(pk=host.pk)
        cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
        existing = cluster.memberships.filter(host=host, left__isnull=True).first()
        if existing is not None:
            return existing, cluster_reconcile_start(cluster=cluster, actor=actor)
        _refuse_a_second_cluster(host, cluster)
        _refuse_another_pool(host, cluster)
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
    """The host leaves: its number stays held until every member that knew it restarted.

    Refused while the host is still an active node (`o2cb remove-node` refuses one): the
    monitor last saw it run O2CB, or it has an SR of the cluster plugged. Maintenance stops
    and unplugs it first; a host known down (silent) is forgotten whatever it last ran."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        activity = member_activity(membership)
        if activity is not None:
            raise ConsoleError(activity.refusal, detail=activity.detail)
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


# The reason of the monitor's own runs (clusters.reconcile_all): such a run that changes
# nothing is folded into one row of the task list (core.services.tasks.task_fold_quiet).
PERIODIC_REASON = "periodic check"


def cluster_reconcile_start(*, cluster: Cluster, actor=None, reason: str = "") -> Task:
    """Queue a monitor run for `cluster`; a run still waiting to start is reused (one
    someone asked for is theirs from then on, never folded away as a periodic one)."""
    waiting = Task.objects.filter(
        kind="clusters.reconcile", target_id=str(cluster.pk), status=TaskStatus.PENDING
    ).first()
    if waiting is not None:
        if reason != PERIODIC_REASON and waiting.params.get("reason") == PERIODIC_REASON:
            waiting.params = {**waiting.params, "reason": reason}
            Task.objects.filter(pk=waiting.pk, status=TaskStatus.PENDING).update(
                params=waiting.params, user=user_or_none(actor)
            )
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
    """Forget a departed membership once every host that knew its node has started since
    it left: the members that joined before it left. A host that joined later never had
    the node in its cluster.conf, so its boot time does not hold the number."""
    current = list(
        cluster.memberships.filter(left__isnull=True, host__isnull=False).select_related("host")
    )
    forgotten = []
    for membership in cluster.memberships.filter(left__isnull=False):
        knew = [m.host for m in current if m.created < membership.left]
        if all(host.boot_time is not None and host.boot_time > membership.left for host in knew):
            forgotten.append(membership)
    for membership in forgotten:
        audit_record(
            actor=None,
            action="membership.forget",
            target=cluster,
            message=(
                f"Node {membership.number} ({membership.hostname}) forgotten: every member "
                "that knew it restarted since it left, so the number can be given out again."
            ),
        )
        membership.delete()
    return forgotten


START_WHY = "Its cluster.conf is brought up to date, then O2CB starts and heartbeats."


def cluster_start(*, cluster: Cluster, actor) -> Task:
    """Start the cluster software on every member host (global heartbeat, service enabled)."""
    members = cluster_members(cluster)
    if not members:
        raise ConsoleError(f"{cluster} has no members to start.")
    task = task_create(
        name=f"Start {cluster} on every member",
        kind="clusters.start",
        celery_task="clusters.cluster_start",
        steps=[Step(f"start-{host.pk}", f"Start on {host}", START_WHY) for host in members],
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
