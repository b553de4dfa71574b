"""Celery entry points of the cluster core; each loads its row and calls one service."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from agent import contract as agent_contract
from clusters.iohealth.rounds import io_health_collect_shard, io_health_round_start
from clusters.iohealth.services import samples_roll_up
from clusters.services.hosts import hosts_check_run, hosts_mark_silent, pool_hosts_hello
from clusters.services.memberships import PERIODIC_REASON, cluster_reconcile_start
from clusters.services.pools import pool_sync, pools_sync_due
from clusters.services.reports import agent_report_receive, message_refused
from core.errors import ConsoleError
from core.services.tasks import tasks_prune
from core.steps import workflow_task

from . import monitor
from .models import Cluster

logger = logging.getLogger(__name__)


# Workflows: each runs through the step runner (it may reschedule itself).
reconcile_cluster = workflow_task("clusters.reconcile_cluster", monitor.cluster_reconcile_run)
cluster_start = workflow_task("clusters.cluster_start", monitor.cluster_start_run)
check_hosts = workflow_task("clusters.check_hosts", hosts_check_run)


@shared_task(name="clusters.reconcile_all")
def reconcile_all() -> None:
    for cluster in Cluster.objects.all():
        cluster_reconcile_start(cluster=cluster, reason=PERIODIC_REASON)
    now = timezone.now()
    tasks_prune(
        kind="clusters.reconcile",
        succeeded_before=now - timedelta(days=1),
        failed_before=now - timedelta(days=14),
    )


@shared_task(name="clusters.mark_silent_hosts")
def mark_silent_hosts() -> None:
    hosts_mark_silent(silent_after=settings.AGENT_SILENT_AFTER)


@shared_task(name="clusters.poll_pool_hosts", ignore_result=True)
def poll_pool_hosts() -> None:
    # A later answer would only overlap the next poll.
    pool_hosts_hello(timeout=settings.POOL_HOST_POLL_INTERVAL)


@shared_task(name=agent_contract.AGENT_REPORT, ignore_result=True)
def agent_report(sealed=None, **unsealed) -> None:
    if sealed is None:
        message_refused(unsealed, "report", "the message is not sealed")
        return
    try:
        agent_report_receive(sealed)
    except ConsoleError as exc:
        # A refused report (e.g. a reinstalled host under a taken name) is the admin's to
        # settle: it is alerted by the service; retrying would only repeat it.
        logger.warning("agent report refused: %s", exc.message)


@shared_task(name="clusters.collect_io_health", ignore_result=True)
def collect_io_health() -> None:
    # The round fans out: one task per shard, on as many rounds workers as there are.
    io_health_round_start(
        interval=settings.IO_HEALTH_INTERVAL, hosts_per_shard=settings.IO_HEALTH_SHARD_HOSTS
    )


@shared_task(name="clusters.collect_io_health_shard", ignore_result=True)
def collect_io_health_shard(shard: str, host_ids: list[int], deadline: float) -> None:
    # Answers later than the round's deadline would only overlap the next round.
    io_health_collect_shard(shard=shard, host_ids=host_ids, deadline=deadline)


@shared_task(name="clusters.roll_up_samples", ignore_result=True)
def roll_up_samples() -> None:
    samples_roll_up(full_resolution_for=timedelta(days=1), keep_rollups_for=timedelta(days=366))


@shared_task(name="clusters.sync_pools", ignore_result=True)
def sync_pools() -> None:
    pools_sync_due()


@shared_task(name="clusters.sync_pool", ignore_result=True)
def sync_pool(pool_id: int) -> None:
    pool_sync(pool_id=pool_id)
