"""The agent killed (SIGKILL) at random moments while the monitor changes memberships:
every cluster.conf stays readable by the real o2cb, and once the agent is back the
monitor brings every host to the same node list."""

import random
import signal
import time

import pytest

from agent.host import hello
from agent.sandbox.host import create_sandbox_host
from clusters.models import Membership
from clusters.services.hosts import host_accept, host_record_report
from clusters.services.memberships import (
    cluster_create,
    cluster_reconcile_start,
    membership_destroy,
)
from core.models import Task
from tests.clusters.test_cluster_lifecycle import assert_succeeded, finished, o2cb_nodes
from tests.conftest import start_agent, stop_process

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_killing_the_agent_mid_change_never_breaks_cluster_conf(
    sandbox_dir, console_worker, admin_user, settings
):
    settings.AGENT_CALL_TIMEOUT = 3
    rng = random.Random(4)  # repeatable moments
    roots = [create_sandbox_host(sandbox_dir, f"k{i}", address=f"127.0.3.{i}") for i in range(1, 9)]
    members = roots[:4]
    cluster = cluster_create(name="Kill", cluster_name="kill", hosts=[], actor=admin_user)
    agent = start_agent(sandbox_dir)
    try:
        for root in members:
            host_accept(host=host_record_report(report=hello(root)), actor=admin_user)
        assert_succeeded(finished(Task.objects.filter(kind="clusters.reconcile").latest("pk")))
        for newcomer in roots[4:]:
            # A change: one host joins, another leaves, then the agent dies at a random moment.
            host_accept(host=host_record_report(report=hello(newcomer)), actor=admin_user)
            leaving = Membership.objects.filter(cluster=cluster, left__isnull=True).first()
            membership_destroy(membership=leaving, actor=admin_user)
            time.sleep(rng.uniform(0.0, 0.4))
            agent.send_signal(signal.SIGKILL)
            agent.wait()
            for root in roots:
                if root.path("etc/ocfs2/cluster.conf").exists():
                    o2cb_nodes(root, "kill")  # raises if o2cb cannot read it
            finished(Task.objects.filter(kind="clusters.reconcile").latest("pk"), timeout=60)
            agent = start_agent(sandbox_dir)
        task = cluster_reconcile_start(cluster=cluster, reason="after the kills")
        assert_succeeded(finished(task, timeout=60))
        expected = sorted(
            Membership.objects.filter(cluster=cluster, left__isnull=True).values_list(
                "number", "hostname"
            )
        )
        current = [r for r in roots if r.hostname in {name for _, name in expected}]
        assert len(current) == 4
        for root in current:
            assert o2cb_nodes(root, "kill") == expected, root.hostname
    finally:
        stop_process(agent)
