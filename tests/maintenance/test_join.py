"""Pool.join end to end: a host accepted into a running cluster with storage ends running
in it, heartbeating and with every SR plugged; the real worker, agent and sandbox SAN."""

import pytest

from agent import storage
from agent.host import hello
from agent.o2cb import STATIC_VDIS
from agent.sandbox.host import create_sandbox_host
from clusters.agents import agent
from clusters.models import PBD, VDI, Host
from clusters.services.hosts import host_accept, host_record_report
from console.demo import sandbox_pool_seed
from core.models import Task
from maintenance.storage import storage_add
from tests.clusters.test_cluster_lifecycle import assert_succeeded, finished, stopped_alerts
from tests.conftest import start_agent, stop_process

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def mounted(root) -> list[str]:
    from agent.fsutil import read_json
    from agent.sandbox.kernel import SANDBOX_MOUNTS

    return list(read_json(root.path(SANDBOX_MOUNTS), {}))


@pytest.fixture
def pool_with_storage(sandbox_dir, console_worker, settings):
    """Three started hosts with one SR, and a fourth host installed but not yet reported."""
    settings.AGENT_CALL_TIMEOUT = 10
    cluster = sandbox_pool_seed(sandbox_dir=sandbox_dir, host_count=3)
    newcomer = create_sandbox_host(sandbox_dir, "sandbox-04", address="127.0.1.4")
    agent_process = start_agent(sandbox_dir)
    try:
        for task in Task.objects.all():
            assert_succeeded(finished(task))
        scsi_id = storage.list_luns(newcomer)[0]["scsi_id"]
        added = storage_add(
            cluster=cluster, requests=[{"scsi_id": scsi_id, "name": "Gold"}], actor=None
        )
        assert_succeeded(finished(added, timeout=120))
        yield cluster, newcomer
        for task in Task.objects.all():  # the monitor runs queued, before the agent stops
            finished(task)
    finally:
        stop_process(agent_process)


def test_an_accepted_host_runs_in_its_cluster_with_every_sr_plugged(pool_with_storage, admin_user):
    cluster, root = pool_with_storage
    host = host_accept(host=host_record_report(report=hello(root)), actor=admin_user)
    join = finished(Task.objects.get(kind="maintenance.join", params__host=host.pk), timeout=90)
    assert_succeeded(join)
    steps = {step.key: step for step in join.steps.all()}
    assert steps["start"].message == "Running; heartbeating on 1 volume."

    assert agent(host).cluster_query("pool").running
    (pbd,) = PBD.objects.filter(host=host)
    assert pbd.plugged and mounted(root) == [str(pbd.sr.uuid)]
    statefile = VDI.objects.get(cluster=cluster, vdi_type="o2cb_statefile")
    entries = sorted(root.path(STATIC_VDIS).glob("*/vdi-uuid"))
    assert [e.read_text().strip() for e in entries] == [str(statefile.uuid)]
    # Its peers see a live node, and nothing is alerted about it.
    for peer in Host.objects.exclude(pk=host.pk):
        nodes = {n.hostname: n.state for n in agent(peer).cluster_query("pool").hosts}
        assert nodes["sandbox-04"] == "alive", peer
    assert_succeeded(finished(Task.objects.filter(kind="clusters.reconcile").latest("pk")))
    assert stopped_alerts() == {}


def test_a_join_that_cannot_plug_an_sr_says_why_and_what_to_do(pool_with_storage, admin_user):
    cluster, root = pool_with_storage
    fail = root.path("etc/sandbox/fail-step")
    fail.parent.mkdir(parents=True, exist_ok=True)
    fail.write_text("pbd_plug\n")
    host = host_accept(host=host_record_report(report=hello(root)), actor=admin_user)
    join = finished(Task.objects.get(kind="maintenance.join", params__host=host.pk), timeout=90)
    assert join.status == "failed"
    assert join.error == (
        "sandbox-04 is in OCFS2 pool cluster's configuration, but these steps failed: plug "
        "gold (see each step). Fix the cause, then put sandbox-04 through maintenance (enter, "
        "reboot, exit): leaving maintenance starts OCFS2 pool cluster on it and plugs every SR."
    )
    plug = join.steps.get(key__startswith="plug-")
    assert plug.status == "failed"
    assert "pbd_plug failed (the sandbox was told to fail it)" in plug.message
    assert agent(host).cluster_query("pool").running, "it runs; only the SR is missing"
    assert not PBD.objects.get(host=host).plugged
