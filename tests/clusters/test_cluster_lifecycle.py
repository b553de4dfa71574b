"""The cluster core end to end: real Redis, a real Celery worker, the real agent process
serving sandbox hosts, and Debian's o2cb reading every host's cluster.conf."""

import subprocess

import pytest
from django.urls import reverse

from clusters.agents import agent
from clusters.models import ClusterHostStatus, Host, Membership
from clusters.services.hosts import host_accept, host_record_report, hosts_check
from clusters.services.memberships import (
    _lowest_free_number,
    cluster_create,
    cluster_reconcile_start,
    cluster_start,
    membership_destroy,
)
from core.models import Task
from tests.conftest import start_agent, stop_process, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def finished(task: Task, timeout: float = 60) -> Task:
    def done():
        task.refresh_from_db()
        return task.is_finished

    try:
        wait_for(done, timeout)
    except pytest.fail.Exception:
        steps = [(s.name, s.status, s.message) for s in task.steps.all()]
        pytest.fail(f"task '{task.name}' did not finish: {task.status} {steps}")
    return task


def o2cb_nodes(root, cluster_name: str) -> list[tuple[int, str]]:
    """The node list as the real o2cb reads it from this host's cluster.conf."""
    conf = root.path("etc/ocfs2/cluster.conf")
    out = subprocess.run(
        ["o2cb", f"--config-file={conf}", "list-nodes", cluster_name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    nodes, number = [], None
    for line in out.splitlines():
        key, _, value = line.strip().partition(" = ")
        if key == "number":
            number = int(value)
        elif key == "name":
            nodes.append((number, value))
    return sorted(nodes)


@pytest.fixture
def pool(sandbox_dir, console_worker, admin_user, settings):
    """Seven sandbox hosts on disk, the first four accepted into one started cluster."""
    from agent.host import hello
    from agent.sandbox.host import create_sandbox_host

    settings.AGENT_CALL_TIMEOUT = 10
    roots = [
        create_sandbox_host(sandbox_dir, f"node-{i}", address=f"127.0.1.{i}") for i in range(1, 8)
    ]
    agent = start_agent(sandbox_dir)
    try:
        cluster = cluster_create(name="Pool", cluster_name="pool", hosts=[], actor=admin_user)
        for root in roots[:4]:
            host = host_record_report(report=hello(root))
            host_accept(host=host, actor=admin_user)
        reconcile = Task.objects.filter(kind="clusters.reconcile").latest("created")
        assert_succeeded(finished(reconcile))
        start = cluster_start(cluster=cluster, actor=admin_user)
        assert_succeeded(finished(start))
        yield cluster, roots
    finally:
        stop_process(agent)


def latest_reconcile_after(task: Task) -> Task:
    return finished(Task.objects.filter(kind="clusters.reconcile", pk__gte=task.pk).latest("pk"))


def assert_succeeded(task: Task) -> None:
    steps = [(s.name, s.status, s.message) for s in task.steps.all()]
    assert task.status == "succeeded", (task.error, steps)


def test_add_remove_restart_frees_the_number_once_every_member_that_knew_it_restarted(
    pool, admin_user, client
):
    from agent.host import hello

    cluster, roots = pool
    members = roots[:5]

    # Add a fifth host: every member's cluster.conf lists the same five nodes, and it runs.
    fifth = host_record_report(report=hello(roots[4]))
    host_accept(host=fifth, actor=admin_user)
    assert_succeeded(finished(Task.objects.get(kind="maintenance.join", params__host=fifth.pk)))
    assert agent(fifth).cluster_query("pool").running
    task = Task.objects.filter(kind="clusters.reconcile").latest("pk")
    assert latest_reconcile_after(task).status == "succeeded", task.error
    expected = [(i, f"node-{i + 1}") for i in range(5)]
    for root in members:
        assert o2cb_nodes(root, "pool") == expected, root

    # Remove node-2: the others comment it out and say a restart is needed; the banner shows.
    # It stops first (O2CB removes no active node), and the console sees that it did.
    leaving = Membership.objects.get(cluster=cluster, hostname="node-2")
    agent(leaving.host).cluster_stop("pool")
    assert_succeeded(finished(cluster_reconcile_start(cluster=cluster, reason="node-2 stopped")))
    _, task = membership_destroy(membership=leaving, actor=admin_user)
    assert finished(task).status == "succeeded", task.error
    survivors = [r for r in members if r.hostname != "node-2"]
    for root in survivors:
        assert (1, "node-2") not in o2cb_nodes(root, "pool")
        # Kept in the file, commented out, so the admin sees what was removed.
        assert "node-2" in root.path("etc/ocfs2/cluster.conf").read_text()
    running = ClusterHostStatus.objects.filter(cluster=cluster, running=True)
    assert running.count() == 4 and all(s.needs_restart for s in running)
    client.force_login(admin_user)
    page = client.get(reverse("dashboard")).content.decode()
    assert "needs a cluster restart" in page and "node-2" in page
    assert _lowest_free_number(cluster) == 5  # node 1 is still held

    # A host accepted now never knew node-2 (booted before node-2 left, it is not restarted).
    newcomer = host_record_report(report=hello(roots[5]))
    host_accept(host=newcomer, actor=admin_user)
    assert Membership.objects.get(host=newcomer).number == 5
    assert_succeeded(finished(Task.objects.get(kind="maintenance.join", params__host=newcomer.pk)))
    assert (1, "node-2") not in o2cb_nodes(roots[5], "pool")
    assert newcomer.boot_time < Membership.objects.get(pk=leaving.pk).left

    # Restart the hosts that knew node-2 one by one: the flag clears and node 1 is forgotten.
    for root in survivors:
        host = Host.objects.get(hostname=root.hostname)
        before = host.boot_time
        agent(host).sandbox_reboot()
        wait_for(
            lambda h=host, b=before: Host.objects.get(pk=h.pk).boot_time != b,
            30,
            message=f"{host} never reported its new boot time",
        )
    task = cluster_reconcile_start(cluster=cluster, reason="test")
    assert finished(task).status == "succeeded", task.error
    assert not ClusterHostStatus.objects.filter(cluster=cluster, needs_restart=True).exists()
    assert not Membership.objects.filter(cluster=cluster, hostname="node-2").exists()
    assert "needs a cluster restart" not in client.get(reverse("dashboard")).content.decode()

    # Only now is number 1 given out again, and every member learns the new node 1.
    seventh = host_record_report(report=hello(roots[6]))
    host_accept(host=seventh, actor=admin_user)
    assert Membership.objects.get(host=seventh).number == 1
    task = Task.objects.filter(kind="clusters.reconcile").latest("pk")
    assert_succeeded(latest_reconcile_after(task))
    for root in [*survivors, roots[5]]:
        assert (1, "node-7") in o2cb_nodes(root, "pool")


def test_a_host_that_does_not_answer_never_blocks_the_others(pool, admin_user, settings):
    from tests.clusters.factories import HostFactory

    cluster, roots = pool
    settings.AGENT_CALL_TIMEOUT = 2
    ghost = HostFactory(hostname="ghost", addresses=["127.0.1.99"], registration="pending")
    host_accept(host=ghost, actor=admin_user)  # joins the auto-join cluster
    task = finished(Task.objects.filter(kind="clusters.reconcile").latest("pk"))
    assert task.status == "failed"
    assert "1 of 5 hosts could not be brought up to date (ghost;" in task.error
    steps = {step.name: step for step in task.steps.all()}
    assert steps["Converge ghost"].status == "failed"
    assert "did not answer" in steps["Converge ghost"].message
    for root in roots[:4]:
        assert steps[f"Converge {root.hostname}"].status == "succeeded"
        assert (4, "ghost") in o2cb_nodes(root, "pool")
    status = ClusterHostStatus.objects.get(cluster=cluster, host=ghost)
    assert not status.reachable and "did not answer" in status.error


def test_a_host_booted_with_other_timeouts_raises_an_alert(pool, admin_user, client):
    from core.models import Alert

    cluster, roots = pool
    defaults = roots[2].path("etc/default/o2cb")
    defaults.write_text(defaults.read_text() + "O2CB_HEARTBEAT_THRESHOLD=61\n")
    odd = Host.objects.get(hostname=roots[2].hostname)
    agent(odd).sandbox_reboot()  # the new threshold takes effect at boot
    task = cluster_reconcile_start(cluster=cluster, reason="test")
    assert_succeeded(finished(task))
    alert = Alert.objects.get(name="O2CB_TIMEOUTS_DIFFER", cleared__isnull=True)
    assert "61 on node-3" in alert.message and "31 on node-1, node-2, node-4" in alert.message
    client.force_login(admin_user)
    page = client.get(reverse("cluster-detail", args=[cluster.pk])).content.decode()
    assert "O2CB timeouts differ between hosts" in page


def test_a_run_orphaned_by_a_lost_worker_never_wedges_the_others(pool, admin_user, settings):
    """A start whose worker was killed still shows as running. Later runs of the cluster
    wait for it without holding a worker (more of them than the worker has threads, and
    a hosts check still runs), fail with a clear message once their bound passes, and
    once the stalled-task sweep has failed the orphan the monitor works again."""
    from datetime import timedelta

    from django.utils import timezone

    from core.services.audit import target_fields
    from core.services.tasks import tasks_fail_stalled

    cluster, _roots = pool
    settings.EARLIER_RUN_WAIT = 4
    long_ago = timezone.now() - timedelta(hours=1)
    orphan = Task.objects.create(
        name=f"Start {cluster} on every member",
        kind="clusters.start",
        status="running",
        started=long_ago,
        last_activity=long_ago,
        **target_fields(cluster),
    )
    waiting = []
    for _ in range(5):  # the worker has 4 threads
        run = cluster_reconcile_start(cluster=cluster, reason="test")
        wait_for(lambda run=run: Task.objects.get(pk=run.pk).status == "running", 10)
        waiting.append(run)
    check = finished(hosts_check(actor=admin_user), timeout=20)
    assert check.status == "succeeded", check.error
    for run in waiting:
        run = finished(run, timeout=30)
        assert run.status == "failed"
        assert run.error == (
            f"Gave up after waiting 4 s for an earlier run of {cluster} to finish: "
            f"'{orphan.name}' (task {orphan.pk}) still shows as running. If its worker was "
            "lost it is failed by the stalled-task sweep; then run this again."
        )
    assert tasks_fail_stalled(quiet_for=timedelta(minutes=30)) == [orphan]
    after = finished(cluster_reconcile_start(cluster=cluster, reason="test"))
    assert after.status == "succeeded", after.error


def stopped_alerts() -> dict[str, str]:
    """The open "member stopped" alerts, by host name."""
    from core.models import Alert

    return dict(
        Alert.objects.filter(name="CLUSTER_MEMBER_STOPPED", cleared__isnull=True).values_list(
            "target_repr", "message"
        )
    )


def test_a_member_stopped_while_its_cluster_runs_raises_an_alert_until_it_runs_again(
    pool, admin_user, client
):
    cluster, roots = pool
    assert_succeeded(finished(cluster_reconcile_start(cluster=cluster, reason="test")))
    assert stopped_alerts() == {}

    # An admin types `service o2cb stop` on node-3: the service stays enabled for boot.
    roots[2].kernel.service("stop")
    assert_succeeded(finished(cluster_reconcile_start(cluster=cluster, reason="test")))
    alerts = stopped_alerts()
    assert list(alerts) == ["node-3"]
    assert (
        "O2CB is not running on node-3, a member of Pool, although it was started"
        in (alerts["node-3"])
    )
    client.force_login(admin_user)
    assert "O2CB is not running on node-3" in client.get(reverse("dashboard")).content.decode()

    # Started again: the alert clears at the monitor's look after the start.
    start = finished(cluster_start(cluster=cluster, actor=admin_user))
    assert_succeeded(start)
    assert_succeeded(latest_reconcile_after(start))
    assert stopped_alerts() == {}

    # Stopped and disabled (the agent's cluster stop) while the others run: a dead node.
    agent(Host.objects.get(hostname="node-2")).cluster_stop("pool")
    assert_succeeded(finished(cluster_reconcile_start(cluster=cluster, reason="test")))
    assert stopped_alerts() == {
        "node-2": "O2CB is not running on node-2, a member of Pool, while 3 other members "
        "run it: to them node-2 is a dead node. Start it (the cluster's 'Start on every "
        "member'), or put node-2 into maintenance if it is stopped on purpose."
    }

    # Leaving the cluster ends what the alert was about.
    leaving = Membership.objects.get(cluster=cluster, hostname="node-2")
    _, task = membership_destroy(membership=leaving, actor=admin_user)
    assert_succeeded(finished(task))
    assert stopped_alerts() == {}


def test_members_of_a_cluster_nobody_started_raise_no_alert(
    sandbox_dir, console_worker, admin_user, settings
):
    from agent.host import hello
    from agent.sandbox.host import create_sandbox_host

    settings.AGENT_CALL_TIMEOUT = 10
    roots = [
        create_sandbox_host(sandbox_dir, f"node-{i}", address=f"127.0.1.{i}") for i in (1, 2, 3)
    ]
    agent_process = start_agent(sandbox_dir)
    try:
        cluster = cluster_create(name="Pool", cluster_name="pool", hosts=[], actor=admin_user)
        for root in roots:
            host_accept(host=host_record_report(report=hello(root)), actor=admin_user)
        for task in Task.objects.all():
            finished(task)
        assert_succeeded(finished(cluster_reconcile_start(cluster=cluster, reason="test")))
        statuses = ClusterHostStatus.objects.filter(cluster=cluster)
        assert statuses.count() == 3 and not statuses.filter(running=True).exists()
        assert stopped_alerts() == {}, "the admin has not started it yet: nothing is wrong"
        # Nor does joining start it: each join says why, and the start is the admin's.
        for join in Task.objects.filter(kind="maintenance.join"):
            assert_succeeded(join)
            start = join.steps.get(key="start")
            assert start.status == "skipped"
            assert start.message == (
                "Pool runs on no other member: it was not started yet (or is stopped "
                f"everywhere). {join.name.split()[1]} starts with it: the cluster's 'Start on "
                "every member'."
            )
    finally:
        stop_process(agent_process)


def test_periodic_checks_that_change_nothing_fold_into_one_row(pool, admin_user, client):
    """The monitor's periodic runs that find every host up to date are one row of the
    task list, page and API alike, counting them; a run that mends a host keeps its own."""
    from clusters.services.memberships import PERIODIC_REASON, cluster_check_now
    from clusters.tasks import reconcile_all
    from tests.conftest import api_client_for

    cluster, _roots = pool

    def periodic_run() -> Task:
        # After every run already queued (the cluster's start queues one of its own): a
        # periodic request would take over a pending run, keeping that run's reason.
        wait_for(
            lambda: not Task.objects.filter(
                kind="clusters.reconcile", status__in=["pending", "running"]
            ).exists(),
            60,
            0.2,
            "an earlier reconcile never ended",
        )
        reconcile_all()
        task = Task.objects.filter(kind="clusters.reconcile").latest("pk")
        assert task.params["reason"] == PERIODIC_REASON
        return finished(task)

    def listed() -> list[dict]:
        answer = api_client_for(admin_user).get("/api/tasks/", {"kind": "clusters.reconcile"})
        assert answer.status_code == 200
        return answer.json()["results"]

    for _ in range(3):
        assert_succeeded(periodic_run())
    periodic = [t for t in listed() if t["params"].get("reason") == PERIODIC_REASON]
    assert len(periodic) == 1, [(t["id"], t["result"]) for t in periodic]
    assert periodic[0]["result"]["quiet_runs"] == 3
    client.force_login(admin_user)
    page = client.get(reverse("task-list")).content.decode()
    assert (
        page.count(f"Bring {cluster} up to date on every host")
        == 1
        + Task.objects.filter(kind="clusters.reconcile")
        .exclude(params__reason=PERIODIC_REASON)
        .count()
    )
    assert "3 periodic checks since" in page

    # A host lost a node by hand: the next periodic run mends it, and that run is listed.
    first, second = list(Host.objects.filter(registration="accepted").order_by("hostname"))[:2]
    agent(first).membership_destroy(cluster.cluster_name, uuid=str(second.uuid))
    mended = periodic_run()
    assert_succeeded(mended)
    assert "added node" in mended.steps.get(key=f"converge-{first.pk}").message
    assert_succeeded(periodic_run())
    periodic = {t["id"]: t for t in listed() if t["params"].get("reason") == PERIODIC_REASON}
    assert mended.pk in periodic and periodic[mended.pk]["result"].get("quiet") is None
    quiet = [t for t in periodic.values() if t["result"].get("quiet")]
    assert len(quiet) == 1 and quiet[0]["result"]["quiet_runs"] == 4
    assert len(periodic) == 2

    # A check an admin asks for is theirs to see, though it changes nothing.
    asked = [finished(cluster_check_now(cluster=cluster, actor=admin_user)) for _ in range(2)]
    assert [t.result.get("quiet") for t in asked] == [None, None]
    assert {t["id"] for t in listed()} >= {t.pk for t in asked}
