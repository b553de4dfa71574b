"""A lost worker or a lost message never wedges the console: rounds have a worker of
their own, and the sweep fails what nothing will carry on."""

from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.utils import timezone

from agent.host import hello
from agent.sandbox.host import create_sandbox_host
from clusters.models import Host, HostIOHealth
from clusters.services.hosts import host_accept, host_record_report, hosts_check
from core.models import Task
from tests.conftest import start_agent, stop_process, wait_for, worker_in_this_process


@pytest.fixture
def rounds_worker(redis_url, transactional_db):
    """Only the rounds worker runs: every workflow waits in its queue, unserved."""
    with worker_in_this_process([settings.ROUNDS_QUEUE], concurrency=2) as worker:
        yield worker


@pytest.mark.worker
def test_reports_and_health_rounds_never_wait_behind_workflows(sandbox_dir, rounds_worker):
    root = create_sandbox_host(sandbox_dir, "rw-1", address="127.0.6.1")
    host = host_accept(host=host_record_report(report=hello(root)), actor=None)
    Host.objects.filter(pk=host.pk).update(last_heard=timezone.now() - timedelta(hours=1))
    stuck = hosts_check(actor=None)  # no workflow worker: it stays pending
    agent = start_agent(sandbox_dir, report_interval=1.0)
    try:
        wait_for(
            lambda: Host.objects.get(pk=host.pk).last_heard > timezone.now() - timedelta(minutes=1),
            30,
            message="the agent's reports were not read",
        )
        current_app.send_task("clusters.collect_io_health", queue=settings.ROUNDS_QUEUE)
        wait_for(lambda: HostIOHealth.objects.filter(host=host).exists(), 30, message="no round")
    finally:
        stop_process(agent)
    assert Task.objects.get(pk=stuck.pk).status == "pending"


def running(name: str, worker: str, quiet_for: timedelta) -> Task:
    moved = timezone.now() - quiet_for
    return Task.objects.create(
        name=name, kind="test", status="running", worker=worker, started=moved, last_activity=moved
    )


@pytest.mark.worker
def test_the_sweep_fails_a_task_whose_worker_stopped_answering(rounds_worker, settings):
    settings.TASK_ORPHANED_AFTER = timedelta(seconds=30)
    orphan = running("orphan", "console-killed@gone", timedelta(minutes=2))
    held = running("held", rounds_worker.hostname, timedelta(minutes=2))
    waiting = running("waiting", "", timedelta(minutes=2))  # rescheduled: in the queue
    fresh = running("fresh", "console-starting@elsewhere", timedelta(seconds=1))
    current_app.send_task("core.fail_stalled_tasks", queue=settings.ROUNDS_QUEUE)
    wait_for(lambda: Task.objects.get(pk=orphan.pk).status == "failed", 30, message="no sweep")
    orphan.refresh_from_db()
    assert orphan.error.startswith("The worker running it, console-killed@gone, stopped")
    assert [t.status for t in Task.objects.filter(pk__in=[held.pk, waiting.pk, fresh.pk])] == [
        "running"
    ] * 3


@pytest.mark.django_db
def test_a_pending_task_nothing_picked_up_is_failed_as_lost(settings):
    from core.services.tasks import tasks_fail_lost

    lost = Task.objects.create(name="lost", kind="test")
    Task.objects.filter(pk=lost.pk).update(created=timezone.now() - timedelta(minutes=11))
    recent = Task.objects.create(name="recent", kind="test")
    assert tasks_fail_lost(waited_for=timedelta(minutes=10)) == [lost]
    lost.refresh_from_db()
    assert lost.status == "failed" and "No worker picked it up in 10 minutes" in lost.error
    recent.refresh_from_db()
    assert recent.status == "pending"
