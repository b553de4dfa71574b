"""Started sandbox pools for the guided workflows' tests."""

import pytest

from agent import storage
from clusters.models import VM, Host
from console.demo import sandbox_pool_seed
from core.models import Task
from maintenance.storage import storage_add
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import start_agent, stop_process, wait_for


def wait_until_monitor_sees_running(cluster, count: int) -> None:
    """Previews judge quorum from what the monitor last saw: let it see every member."""
    from clusters.models import ClusterHostStatus
    from clusters.services.memberships import cluster_reconcile_start

    def seen():
        if ClusterHostStatus.objects.filter(cluster=cluster, running=True).count() == count:
            return True
        finished(cluster_reconcile_start(cluster=cluster, reason="test set-up"))
        return False

    wait_for(seen, 60, message=f"the monitor never saw {count} hosts running")


@pytest.fixture
def maintenance_pool(sandbox_dir, console_worker, settings):
    from agent.sandbox.host import iter_sandbox_hosts

    settings.AGENT_CALL_TIMEOUT = 10
    settings.SANDBOX_VM_MOVE_SECONDS = 0.05
    cluster = sandbox_pool_seed(sandbox_dir=sandbox_dir, host_count=3)
    agent = start_agent(sandbox_dir, report_interval=1.0)
    start = Task.objects.filter(kind="clusters.start").latest("pk")
    assert finished(start).status == "succeeded"
    hosts = list(Host.objects.order_by("hostname"))
    # A real SR: formatted, heartbeating and mounted on every member.
    lun = next(iter(iter_sandbox_hosts(sandbox_dir)))
    scsi_id = storage.list_luns(lun)[0]["scsi_id"]
    added = storage_add(
        cluster=cluster, requests=[{"scsi_id": scsi_id, "name": "Gold"}], actor=None
    )
    assert finished(added, timeout=120).status == "succeeded", added.error
    wait_until_monitor_sees_running(cluster, 3)
    for name in ("web", "db", "mail"):
        VM.objects.create(name=name, resident_on=hosts[0], power_state="running")
    roots = {r.hostname: r for r in iter_sandbox_hosts(sandbox_dir)}
    yield hosts, roots
    stop_process(agent)


@pytest.fixture
def storage_pool(sandbox_dir, console_worker, settings):
    from agent.sandbox.host import iter_sandbox_hosts

    settings.AGENT_CALL_TIMEOUT = 10
    cluster = sandbox_pool_seed(sandbox_dir=sandbox_dir, host_count=3)
    agent = start_agent(sandbox_dir)
    assert finished(Task.objects.filter(kind="clusters.start").latest("pk")).status == "succeeded"
    yield cluster, {r.hostname: r for r in iter_sandbox_hosts(sandbox_dir)}
    stop_process(agent)
