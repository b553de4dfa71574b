"""`make demo`: the pool it seeds, and its processes kept running as a service manager would."""

import pytest

from scripts.demo import note_exit


def test_an_exited_process_is_started_again_unless_it_keeps_exiting():
    exits, give_up = [], False
    for now in (0, 10, 20):
        exits, give_up = note_exit(exits, now)
        assert not give_up, f"the exit at {now} s is the third within a minute"
    assert note_exit(exits, 30)[1], "a fourth exit within a minute: stop"


def test_exits_spread_over_time_never_stop_it():
    exits = []
    for now in range(0, 600, 25):  # one exit every 25 s: at most 3 in any minute
        exits, give_up = note_exit(exits, now)
        assert not give_up
    assert len(exits) == 3, "only the last minute's exits are kept"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_fresh_demo_lists_its_statefile_in_every_hosts_static_vdis(
    sandbox_dir, console_worker, settings
):
    """The demo opens as a cluster an admin started: each host attaches the statefile at
    boot (XenServer's static-vdis), as "Start on every member" would have set it up."""
    from agent.o2cb import STATIC_VDIS
    from agent.sandbox.host import iter_sandbox_hosts
    from clusters.models import VDI
    from console.demo import sandbox_pool_seed
    from console.management.commands.seed_demo import Command
    from core.models import Task
    from tests.clusters.test_cluster_lifecycle import assert_succeeded, finished
    from tests.conftest import start_agent, stop_process

    settings.AGENT_CALL_TIMEOUT = 10
    cluster = sandbox_pool_seed(sandbox_dir=sandbox_dir, host_count=3)
    Command()._demo_storage(cluster)
    agent = start_agent(sandbox_dir)
    try:
        for task in Task.objects.filter(kind__in=["clusters.start", "maintenance.add_storage"]):
            assert_succeeded(finished(task, timeout=120))
        for task in Task.objects.all():  # the monitor runs they queued, before the agent stops
            finished(task)
    finally:
        stop_process(agent)
    statefile = VDI.objects.get(cluster=cluster, vdi_type="o2cb_statefile")
    for root in iter_sandbox_hosts(sandbox_dir):
        entries = sorted(root.path(STATIC_VDIS).glob("*/vdi-uuid"))
        assert [e.read_text().strip() for e in entries] == [str(statefile.uuid)], root.hostname
