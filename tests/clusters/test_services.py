import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from clusters.models import Membership
from clusters.services.hosts import host_accept, host_record_report, hosts_mark_silent
from clusters.services.memberships import (
    membership_create,
    membership_destroy,
    memberships_collect_garbage,
)
from console.demo import sandbox_pool_seed
from core.errors import ConsoleError
from core.models import AuditEvent, Task

from .factories import ClusterFactory, HostFactory, hold_every_number


def join(cluster, host, actor=None):
    return membership_create(cluster=cluster, host=host, actor=actor)[0]


def test_numbers_are_the_lowest_free_from_zero(db):
    cluster = ClusterFactory()
    numbers = [join(cluster, HostFactory()).number for _ in range(4)]
    assert numbers == [0, 1, 2, 3]


def test_removed_node_number_is_not_reused_before_restart(db):
    cluster = ClusterFactory()
    hosts = HostFactory.create_batch(3)
    memberships = [join(cluster, h) for h in hosts]
    membership_destroy(membership=memberships[1], actor=None)
    assert join(cluster, HostFactory()).number == 3


def test_number_is_freed_once_every_member_restarted_after_it_left(db):
    cluster = ClusterFactory()
    hosts = HostFactory.create_batch(3, boot_time=timezone.now() - timedelta(days=1))
    memberships = [join(cluster, h) for h in hosts]
    left, _ = membership_destroy(membership=memberships[1], actor=None)
    assert memberships_collect_garbage(cluster=cluster) == []
    hosts[0].boot_time = timezone.now() + timedelta(seconds=1)
    hosts[0].save()
    assert memberships_collect_garbage(cluster=cluster) == []  # hosts[2] still old
    hosts[2].boot_time = timezone.now() + timedelta(seconds=1)
    hosts[2].save()
    assert [m.number for m in memberships_collect_garbage(cluster=cluster)] == [1]
    assert join(cluster, HostFactory()).number == 1
    assert AuditEvent.objects.filter(action="membership.forget").count() == 1


def test_a_host_that_joined_after_a_node_left_does_not_hold_its_number(db):
    """Its cluster.conf never had the node: only the hosts that knew it need a restart,
    though the newcomer booted long before the node left."""
    cluster = ClusterFactory()
    hosts = HostFactory.create_batch(3, boot_time=timezone.now() - timedelta(days=1))
    memberships = [join(cluster, h) for h in hosts]
    left, _ = membership_destroy(membership=memberships[1], actor=None)
    newcomer = HostFactory(boot_time=timezone.now() - timedelta(days=2))
    assert join(cluster, newcomer).number == 3
    for host in (hosts[0], hosts[2]):
        assert memberships_collect_garbage(cluster=cluster) == []
        host.boot_time = timezone.now() + timedelta(seconds=1)
        host.save()
    assert [m.number for m in memberships_collect_garbage(cluster=cluster)] == [1]


def test_a_host_with_unknown_boot_time_keeps_departed_numbers_held(db):
    cluster = ClusterFactory()
    old, unknown = HostFactory(boot_time=timezone.now()), HostFactory(boot_time=None)
    leaving = join(cluster, HostFactory())
    join(cluster, old), join(cluster, unknown)
    membership_destroy(membership=leaving, actor=None)
    old.boot_time = timezone.now() + timedelta(seconds=5)
    old.save()
    assert memberships_collect_garbage(cluster=cluster) == []


def test_all_255_numbers_held_is_refused_with_a_restart_hint(db):
    cluster = ClusterFactory()
    hold_every_number(cluster, departed=3)
    with pytest.raises(ConsoleError, match="Restart the cluster") as refused:
        join(cluster, HostFactory())
    assert "3 of them by hosts that left" in refused.value.message
    assert "O2NM_MAX_NODES" in refused.value.message


def test_a_256th_member_is_refused_by_o2cbs_limit_not_by_hosts_that_left(db):
    """255 current members and nobody departed: the reason is O2CB's limit, and no
    restart would free a number."""
    cluster = ClusterFactory()
    hold_every_number(cluster, departed=0)
    newcomer = HostFactory()
    with pytest.raises(ConsoleError) as refused:
        join(cluster, newcomer)
    message = refused.value.message
    assert f"{cluster} has 255 members, as many as O2CB allows in one cluster" in message
    assert "O2NM_MAX_NODES" in message
    assert "left" not in message and "Restart" not in message
    assert refused.value.detail["held_by_departed"] == 0
    assert not Membership.objects.filter(host=newcomer).exists()


def test_joining_twice_returns_the_same_membership(db):
    cluster, host = ClusterFactory(), HostFactory()
    assert join(cluster, host).pk == join(cluster, host).pk
    assert Membership.objects.count() == 1


def test_a_pending_host_cannot_join(db):
    with pytest.raises(ConsoleError, match="waiting for acceptance"):
        join(ClusterFactory(), HostFactory(registration="pending"))


def test_changes_share_one_waiting_monitor_run_and_are_audited(db, admin_user):
    cluster = ClusterFactory()
    for host in HostFactory.create_batch(3):
        join(cluster, host, admin_user)
    assert Task.objects.filter(kind="clusters.reconcile", status="pending").count() == 1
    assert (
        AuditEvent.objects.filter(action="membership.create", actor_name="pool-admin").count() == 3
    )


def test_agent_report_registers_a_new_host_as_pending_then_accept_joins_auto_clusters(
    db, admin_user
):
    auto, manual = ClusterFactory(auto_join=True), ClusterFactory(auto_join=False)
    report = {
        "uuid": "0b1d2c3e-4f50-4a61-8b72-9c83d94ea5f6",
        "hostname": "new-host",
        "boot_time": "2026-11-25T01:00:00+00:00",
        "agent_version": "0.1.0",
        "addresses": ["10.9.9.9"],
    }
    host = host_record_report(report=report)
    assert host.registration == "pending" and host.memberships.count() == 0
    host_accept(host=host, actor=admin_user)
    assert list(host.memberships.values_list("cluster", flat=True)) == [auto.pk]
    assert not manual.memberships.exists()


@pytest.mark.parametrize(
    "report",
    [
        {},
        {"uuid": "nope", "hostname": "x"},
        {"uuid": "0b1d2c3e-4f50-4a61-8b72-9c83d94ea5f6", "hostname": " "},
    ],
)
def test_malformed_agent_reports_are_refused(db, report):
    with pytest.raises(ConsoleError):
        host_record_report(report=report)


@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_get_distinct_lowest_free_numbers():
    if connection.vendor != "postgresql":
        pytest.skip("row locking under real concurrency is checked on PostgreSQL (CI)")
    cluster = ClusterFactory()
    hosts = HostFactory.create_batch(24)
    errors, barrier = [], threading.Barrier(len(hosts))

    def create(host):
        try:
            barrier.wait()
            join(cluster, host)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(Membership.objects.values_list("number", flat=True)) == list(range(24))


def test_a_silent_host_raises_one_alert_cleared_when_it_reports_again(db):
    from core.models import Alert

    host = HostFactory(last_heard=timezone.now() - timedelta(minutes=5))
    hosts_mark_silent(silent_after=timedelta(seconds=45))
    hosts_mark_silent(silent_after=timedelta(seconds=45))
    alert = Alert.objects.get(name="HOST_SILENT")
    assert alert.is_open and host.hostname in alert.message
    host_record_report(report={"uuid": str(host.uuid), "hostname": host.hostname})
    alert.refresh_from_db()
    assert alert.cleared is not None


def test_seeding_the_demo_twice_changes_nothing(db, tmp_path):
    first = sandbox_pool_seed(sandbox_dir=tmp_path, host_count=4)
    numbers = list(Membership.objects.values_list("hostname", "number"))
    second = sandbox_pool_seed(sandbox_dir=tmp_path, host_count=4)
    assert first.pk == second.pk
    assert list(Membership.objects.values_list("hostname", "number")) == numbers
    assert len(numbers) == 4
    assert Task.objects.filter(kind="clusters.start").count() == 1


def test_a_reboot_is_audited_and_starts_a_monitor_run(db):
    cluster = ClusterFactory()
    host = HostFactory(boot_time=timezone.now() - timedelta(hours=1))
    join(cluster, host)
    Task.objects.all().delete()
    later = (timezone.now() + timedelta(seconds=1)).isoformat()
    host_record_report(
        report={"uuid": str(host.uuid), "hostname": host.hostname, "boot_time": later}
    )
    assert AuditEvent.objects.filter(action="host.rebooted").count() == 1
    task = Task.objects.get(kind="clusters.reconcile")
    assert task.params["reason"] == f"{host.hostname} restarted"


def test_a_new_identity_under_a_taken_name_is_refused_and_alerted(db):
    from core.models import Alert

    existing = HostFactory(hostname="xs-7")
    report = {"uuid": "0b1d2c3e-4f50-4a61-8b72-9c83d94ea5f6", "hostname": "xs-7"}
    with pytest.raises(ConsoleError, match="already in the pool"):
        host_record_report(report=report)
    alert = Alert.objects.get(name="HOST_NAME_TAKEN")
    assert alert.target_id == str(existing.pk) and "reinstalled" in alert.message
    assert HostFactory._meta.model.objects.filter(hostname="xs-7").count() == 1


# One O2CB cluster per host: the kernel holds one (o2nm_cluster_group_make_group answers
# -ENOSPC for a second), so a host in one cluster cannot be made a node of another.


def test_a_host_in_one_cluster_is_refused_by_another_naming_both(db):
    pool, other = ClusterFactory(name="Pool"), ClusterFactory(name="Other", auto_join=False)
    host = HostFactory(hostname="sandbox-02")
    join(pool, host)
    with pytest.raises(ConsoleError) as refused:
        join(other, host)
    assert refused.value.message.startswith(
        "sandbox-02 is already node 0 of cluster Pool, and a host runs one O2CB cluster"
    )
    assert "remove sandbox-02 from Pool" in refused.value.message
    assert refused.value.detail == {
        "host": host.pk,
        "hostname": "sandbox-02",
        "cluster": pool.pk,
        "cluster_name": "Pool",
    }
    assert not other.memberships.exists()


def test_a_host_that_left_its_cluster_may_join_another(db):
    pool, other = ClusterFactory(), ClusterFactory(auto_join=False)
    host = HostFactory()
    membership_destroy(membership=join(pool, host), actor=None)
    assert join(other, host).number == 0


def test_a_new_cluster_takes_only_the_hosts_in_no_cluster(db, admin_user):
    from clusters.services.memberships import cluster_create

    pool = ClusterFactory(name="Pool")
    busy = HostFactory.create_batch(2)
    for host in busy:
        join(pool, host)
    free = HostFactory()
    second = cluster_create(name="Second", cluster_name="second", auto_join=False, actor=admin_user)
    assert list(second.memberships.values_list("host", flat=True)) == [free.pk]
    assert all(h.memberships.filter(left__isnull=True).count() == 1 for h in busy)


def test_a_second_auto_join_cluster_is_refused_and_nothing_is_made(db, admin_user):
    from clusters.models import Cluster
    from clusters.services.memberships import cluster_create

    ClusterFactory(name="Pool", auto_join=True)
    HostFactory()
    with pytest.raises(ConsoleError, match="Pool already takes every new host"):
        cluster_create(name="Second", cluster_name="second", auto_join=True, actor=admin_user)
    assert not Cluster.objects.filter(cluster_name="second").exists()


def test_a_new_cluster_naming_a_host_of_another_is_refused_whole(db, admin_user):
    from clusters.models import Cluster
    from clusters.services.memberships import cluster_create

    pool = ClusterFactory(name="Pool")
    busy, free = HostFactory(), HostFactory()
    join(pool, busy)
    with pytest.raises(ConsoleError, match=f"{busy.hostname} is already node 0 of cluster Pool"):
        cluster_create(
            name="Second", cluster_name="second", auto_join=False, hosts=[free, busy], actor=None
        )
    assert not Cluster.objects.filter(cluster_name="second").exists()
    assert not free.memberships.exists()


def test_an_accepted_host_joins_one_auto_join_cluster_even_if_there_are_two(db, admin_user):
    # Made before the rule: two auto-join clusters. The host joins the older one only.
    first, _second = ClusterFactory(auto_join=True), ClusterFactory(auto_join=True)
    host = HostFactory(registration="pending")
    host_accept(host=host, actor=admin_user)
    assert list(host.memberships.values_list("cluster", flat=True)) == [first.pk]


# No removal of a running member: `o2cb remove-node` refuses a node that is still active.


def active_member(name="sandbox-02"):
    """A member of Pool that reports, runs O2CB (as the monitor last saw) and has Gold."""
    from .factories import plugged_sr, seen_running

    cluster = ClusterFactory(name="Pool")
    host = HostFactory(hostname=name, last_heard=timezone.now())
    membership = join(cluster, host)
    seen_running(cluster, host)
    plugged_sr(cluster, [host])
    return cluster, host, membership


def test_a_member_that_runs_o2cb_with_a_plugged_sr_is_not_removed(db):
    cluster, host, membership = active_member()
    with pytest.raises(ConsoleError) as refused:
        membership_destroy(membership=membership, actor=None)
    message = refused.value.message
    assert message.startswith("sandbox-02 still runs O2CB in Pool (as last seen at ")
    assert "and has Gold plugged, and O2CB cannot remove a node that is still active." in message
    assert "Put sandbox-02 into maintenance first" in message
    assert refused.value.status_code == 409
    assert refused.value.detail["plugged"] == ["Gold"]
    assert refused.value.detail["maintenance_page"] == f"/hosts/{host.pk}/maintenance/"
    membership.refresh_from_db()
    assert membership.left is None
    assert not AuditEvent.objects.filter(action="membership.destroy").exists()


def test_a_member_that_only_runs_o2cb_is_not_removed_either(db):
    from clusters.models import PBD

    _cluster, _host, membership = active_member()
    PBD.objects.update(plugged=False)
    with pytest.raises(ConsoleError, match=r"still runs O2CB in Pool \(as last seen at [^)]*\), "):
        membership_destroy(membership=membership, actor=None)


def test_a_member_that_only_has_storage_plugged_is_not_removed_either(db):
    from clusters.models import ClusterHostStatus

    _cluster, _host, membership = active_member()
    ClusterHostStatus.objects.update(running=False)
    with pytest.raises(ConsoleError, match="sandbox-02 still has Gold plugged, and O2CB"):
        membership_destroy(membership=membership, actor=None)


def test_a_member_stopped_and_unplugged_is_removed(db):
    from clusters.models import PBD, ClusterHostStatus

    _cluster, _host, membership = active_member()
    ClusterHostStatus.objects.update(running=False)
    PBD.objects.update(plugged=False)
    left, _task = membership_destroy(membership=membership, actor=None)
    assert left.left is not None


def test_a_dead_member_is_forgotten_though_its_last_state_was_running(db, settings):
    _cluster, host, membership = active_member()
    settings.AGENT_SILENT_AFTER = timedelta(seconds=45)
    host.last_heard = timezone.now() - timedelta(minutes=10)
    host.save()
    left, _task = membership_destroy(membership=membership, actor=None)
    assert left.left is not None


@pytest.mark.django_db(transaction=True)
def test_two_clusters_taking_one_host_at_once_get_it_once():
    if connection.vendor != "postgresql":
        pytest.skip("row locking under real concurrency is checked on PostgreSQL (CI)")
    clusters = [ClusterFactory(auto_join=False) for _ in range(8)]
    host = HostFactory()
    refused, errors, barrier = [], [], threading.Barrier(len(clusters))

    def create(cluster):
        try:
            barrier.wait()
            join(cluster, host)
        except ConsoleError as exc:
            refused.append(exc)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(c,)) for c in clusters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Membership.objects.filter(host=host, left__isnull=True).count() == 1
    assert len(refused) == len(clusters) - 1


def test_an_admin_who_asks_for_a_check_while_a_periodic_one_waits_gets_it_as_theirs(db, admin_user):
    """The waiting periodic run is reused; it is the admin's from then on, so it is never
    folded away as a periodic check that changed nothing."""
    from clusters.services.memberships import (
        PERIODIC_REASON,
        cluster_check_now,
        cluster_reconcile_start,
    )

    cluster = ClusterFactory()
    waiting = cluster_reconcile_start(cluster=cluster, reason=PERIODIC_REASON)
    asked = cluster_check_now(cluster=cluster, actor=admin_user)
    assert asked.pk == waiting.pk
    waiting.refresh_from_db()
    assert waiting.user == admin_user and waiting.params["reason"] == "asked by an admin"
    again = cluster_reconcile_start(cluster=cluster, reason=PERIODIC_REASON)
    again.refresh_from_db()
    assert again.pk == waiting.pk and again.user == admin_user, "a periodic tick takes it back"
