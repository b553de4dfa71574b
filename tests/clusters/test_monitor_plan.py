import pytest

from agent.contract import ClusterQuery, decode
from clusters.monitor import DesiredNode, plan_host


def node(number, hostname, uuid=None, configured=True):
    return {"number": number, "hostname": hostname, "uuid": uuid, "configured": configured}


def plan_for(report):
    """plan_host for a cluster_query answer holding these nodes (typed as the agent's)."""
    hosts = [{"address": "", "state": "alive", "live": True, **h} for h in report["hosts"]]
    timeouts = dict.fromkeys(
        ("dead_threshold", "idle_timeout_ms", "keepalive_delay_ms", "reconnect_delay_ms")
    )
    answer = {
        "cluster": "pool",
        "configured": True,
        "running": True,
        "enabled": True,
        "heartbeat_mode": "global",
        "needs_restart": False,
        "restart_reasons": [],
        "local_node": 0,
        "timeouts": timeouts,
        "hosts": hosts,
    }
    return plan_host(DESIRED, decode(ClusterQuery, answer))


DESIRED = {
    0: DesiredNode(0, "a", "uuid-a", ("10.0.0.1",)),
    1: DesiredNode(1, "b", "uuid-b", ("10.0.0.2",)),
}


def test_a_host_with_everything_needs_no_call():
    plan = plan_for({"hosts": [node(0, "a", "uuid-a"), node(1, "b", "uuid-b")]})
    assert plan.calls == [] and plan.drift == []


def test_missing_nodes_are_created_with_their_number_and_addresses():
    plan = plan_for({"hosts": [node(0, "a", "uuid-a")]})
    assert [(c, k) for c, k, _ in plan.calls] == [
        (
            "membership_create",
            {"hostname": "b", "uuid": "uuid-b", "id": 1, "addresses": ["10.0.0.2"]},
        ),
    ]


def test_departed_nodes_are_destroyed_and_commented_ones_ignored():
    report = {
        "hosts": [
            node(0, "a", "uuid-a"),
            node(1, "b", "uuid-b"),
            node(2, "gone", "uuid-gone"),
            node(3, "old", "uuid-old", configured=False),
        ]
    }
    plan = plan_for(report)
    assert [(c, k) for c, k, _ in plan.calls] == [("membership_destroy", {"uuid": "uuid-gone"})]


def test_a_number_reused_for_a_new_host_replaces_the_old_node():
    report = {"hosts": [node(0, "a", "uuid-a"), node(1, "old-b", "uuid-old")]}
    calls = [c for c, _, _ in plan_for(report).calls]
    assert calls == ["membership_destroy", "membership_create"]


def test_nodes_added_by_hand_are_reported_as_drift_not_removed():
    report = {"hosts": [node(0, "a", "uuid-a"), node(1, "b", "uuid-b"), node(7, "manual")]}
    plan = plan_for(report)
    assert plan.calls == []
    assert "node 7 (manual)" in plan.drift[0]


def test_timeouts_that_differ_between_hosts_are_named_with_their_hosts():
    from clusters.selectors.clusters import timeout_differences

    same = {"dead_threshold": 31, "idle_timeout_ms": 30000}
    assert timeout_differences({"a": same, "b": same}) == []
    assert timeout_differences({"a": same, "b": {**same, "dead_threshold": 61}, "c": same}) == [
        "The heartbeat dead threshold differs between hosts: 31 on a, c; 61 on b."
    ]


def test_a_host_whose_address_changed_is_drift_not_a_silent_rewrite():
    report = {
        "hosts": [
            {**node(0, "a", "uuid-a"), "address": "10.0.0.1:7777"},
            {**node(1, "b", "uuid-b"), "address": "10.0.0.9:7777"},
        ]
    }
    plan = plan_for(report)
    assert plan.calls == []
    assert plan.drift == [
        "node 1 (b) is at 10.0.0.9:7777 in cluster.conf but the host now reports "
        "10.0.0.2:7777; O2CB cannot change an address in a running cluster: remove the host "
        "and add it again, then restart"
    ]


@pytest.mark.django_db
def test_runs_of_one_cluster_never_overlap(monkeypatch):
    """An older snapshot converging at the same time could undo a newer one's change."""
    from datetime import timedelta

    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from clusters import monitor
    from core.models import Task

    from .factories import ClusterFactory

    cluster, other_cluster = ClusterFactory(), ClusterFactory(name="Other", cluster_name="other")
    now = timezone.now()

    def run(started, target=cluster, kind="clusters.reconcile"):
        return Task.objects.create(
            name="run",
            kind=kind,
            status="running",
            started=started,
            target_type=ContentType.objects.get_for_model(target),
            target_id=str(target.pk),
        )

    first = run(now - timedelta(seconds=5), kind="clusters.start")
    run(now - timedelta(seconds=9), target=other_cluster)  # another cluster: no wait
    second = run(now)
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        Task.objects.filter(pk=first.pk).update(status="succeeded")

    monkeypatch.setattr(monitor.time, "sleep", sleep)
    monitor.wait_for_earlier_runs(second)
    assert len(waits) == 1, "waited for the earlier run of the same cluster, only while it ran"
    waits.clear()
    monitor.wait_for_earlier_runs(first)
    assert waits == [], "the earlier run never waits for a later one"
