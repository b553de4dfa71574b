"""Removing a host and the rolling restart that makes its removal take effect."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from agent.sandbox.io import inject_fault
from clusters.models import ClusterHostStatus, Host, Membership
from clusters.monitor import HOST_STEP_RETRIES
from clusters.selectors.clusters import restart_banners
from clusters.services.memberships import cluster_reconcile_start
from core.models import Task
from maintenance import services as maintenance_services
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import api_client_for, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def post(user, path, **body):
    return api_client_for(user).post(f"/api/maintenance/{path}/", body, format="json")


def test_remove_a_host_then_a_rolling_restart_clears_the_banner(
    maintenance_pool, admin_user, operator_user
):
    (host, other, third), _roots = maintenance_pool
    cluster = Membership.objects.get(host=host).cluster
    assert (
        post(operator_user, "remove", host=host.pk, confirm_name=host.hostname).status_code == 403
    )
    refused = post(admin_user, "remove", host=host.pk, confirm_name=host.hostname)
    assert refused.status_code == 409 and "maintenance first" in refused.json()["message"]
    typo = post(admin_user, "remove", host=host.pk, confirm_name="nope")
    assert typo.status_code == 409 and "Type the host's name" in typo.json()["message"]

    preview = post(admin_user, "remove", host=host.pk, dry_run=True).json()
    assert preview["clusters"] == [cluster.name] and preview["needs_restart"] is True
    assert "maintenance first" in preview["refusals"][0]
    assert Host.objects.filter(pk=host.pk).exists(), "a dry run changes nothing"

    entered = finished(
        Task.objects.get(pk=post(operator_user, "enter", host=host.pk).json()["task_id"])
    )
    assert entered.status == "succeeded", entered.error
    removed = post(admin_user, "remove", host=host.pk, confirm_name=host.hostname)
    assert removed.status_code == 200, removed.content
    assert not Host.objects.filter(pk=host.pk).exists()
    departed = Membership.objects.get(hostname=host.hostname)
    assert departed.left is not None and departed.host is None
    reconcile = finished(Task.objects.get(pk=removed.json()["reconcile_tasks"][0]))
    steps = [(step.name, step.status, step.message) for step in reconcile.steps.all()]
    assert reconcile.status == "succeeded", (reconcile.error, steps)
    assert [b.cluster for b in restart_banners()] == [cluster], "the banner explains it"

    plan = post(operator_user, "rolling-restart", cluster=cluster.pk, dry_run=True).json()
    assert plan["order"] == [other.hostname, third.hostname] and plan["refusals"] == []
    assert "Reboot it and wait for it to come back" in plan["each_host"]
    restart = post(operator_user, "rolling-restart", cluster=cluster.pk)
    assert restart.status_code == 202
    task = finished(Task.objects.get(pk=restart.json()["task_id"]), timeout=180)
    assert task.status == "succeeded", (task.error, [s.message for s in task.steps.all()])
    assert [s.status for s in task.steps.order_by("position")] == ["succeeded", "succeeded"]
    final = finished(cluster_reconcile_start(cluster=cluster, reason="test"))
    assert final.status == "succeeded", final.error
    assert restart_banners() == []
    assert not ClusterHostStatus.objects.filter(needs_restart=True).exists()
    assert not Membership.objects.filter(left__isnull=False).exists(), "its number is free"
    assert Host.objects.filter(enabled=True, registration="accepted").count() == 2


def test_a_dead_host_is_forgotten_once_stated_powered_off(maintenance_pool, admin_user, settings):
    (host, _other, _third), roots = maintenance_pool
    remove = {"host": host.pk, "confirm_name": host.hostname, "powered_off": True}
    refused = post(admin_user, "remove", **remove)
    assert refused.status_code == 409
    assert f"{host} is not powered off: its agent reported" in refused.json()["message"]

    inject_fault(roots[host.hostname], "power-off")
    time.sleep(2)  # a report sent just before is read
    Host.objects.filter(pk=host.pk).update(last_heard=timezone.now() - timedelta(minutes=5))
    settings.AGENT_SILENT_AFTER = timedelta(seconds=30)
    forgotten = post(admin_user, "remove", **remove)
    assert forgotten.status_code == 200, forgotten.json()
    assert Membership.objects.get(hostname=host.hostname).left is not None


def test_a_host_stated_powered_off_that_still_answers_is_kept(
    maintenance_pool, admin_user, settings
):
    (host, _other, _third), _roots = maintenance_pool
    settings.AGENT_SILENT_AFTER = timedelta(0)  # its reports count for nothing: ask it
    refused = post(admin_user, "remove", host=host.pk, confirm_name=host.hostname, powered_off=True)
    assert refused.status_code == 409
    assert "is not powered off: its agent answers" in refused.json()["message"]
    assert Host.objects.filter(pk=host.pk).exists()


def test_a_rolling_restart_stops_at_the_first_failure(maintenance_pool, operator_user):
    (host, other, third), roots = maintenance_pool
    cluster = Membership.objects.get(host=host).cluster
    fail = roots[other.hostname].path("etc/sandbox/fail-step")
    fail.parent.mkdir(parents=True, exist_ok=True)
    fail.write_text("host_reboot\n")
    task = finished(
        Task.objects.get(
            pk=post(operator_user, "rolling-restart", cluster=cluster.pk).json()["task_id"]
        ),
        timeout=180,
    )
    assert task.status == "failed"
    assert [s.status for s in task.steps.order_by("position")] == [
        "succeeded",
        "failed",
        "skipped",
    ]
    assert "hosts after it were not touched" in task.error
    assert Host.objects.get(pk=third.pk).enabled, "never more than one host down"


@pytest.mark.parametrize("attempt", [0, HOST_STEP_RETRIES], ids=["first-ask", "last-ask"])
def test_forgetting_a_dead_host_fails_no_task_and_clears_its_alerts(
    maintenance_pool, admin_user, settings, monkeypatch, attempt
):
    """A run that was still asking the dead host when it was forgotten ends without a
    database error (its step says why it was skipped), and no alert about the forgotten
    host stays open. Forgotten while the run's first ask waits, the host's step is
    skipped at the next delivery; while its last ask waits, when the answer is in."""
    from clusters.services.hosts import hosts_mark_silent
    from core.models import Alert

    (host, _other, _third), roots = maintenance_pool
    cluster = Membership.objects.get(host=host).cluster
    # The run's ask outlasts the removal's own look at whether the host answers.
    settings.AGENT_CALL_TIMEOUT = 6
    monkeypatch.setattr(maintenance_services, "POWERED_OFF_PROBE_TIMEOUT", 0.5)
    inject_fault(roots[host.hostname], "power-off")
    time.sleep(2)  # a report sent just before is read
    Host.objects.filter(pk=host.pk).update(last_heard=timezone.now() - timedelta(minutes=5))
    settings.AGENT_SILENT_AFTER = timedelta(seconds=30)
    assert [h.pk for h in hosts_mark_silent(silent_after=settings.AGENT_SILENT_AFTER)] == [host.pk]
    assert Alert.objects.filter(name="HOST_SILENT", target_id=str(host.pk), cleared=None).exists()

    # A periodic run is asking the dead host (its agent will not answer) when the host
    # is forgotten.
    periodic = cluster_reconcile_start(cluster=cluster, reason="periodic check")
    wait_for(
        lambda: Task.objects.filter(
            pk=periodic.pk,
            attempt=attempt,
            status="running",
            steps__key=f"converge-{host.pk}",
            steps__status="running",
        ).exclude(worker=""),
        timeout=60,
        message=f"the periodic run asks the dead host (delivery {attempt})",
    )
    forgotten = post(
        admin_user, "remove", host=host.pk, confirm_name=host.hostname, powered_off=True
    )
    assert forgotten.status_code == 200, forgotten.json()
    reconcile = finished(Task.objects.get(pk=forgotten.json()["reconcile_tasks"][0]), timeout=90)
    finished(periodic, timeout=90)
    assert reconcile.status == "succeeded", reconcile.error
    errors = [
        (t.name, t.error, [s.message for s in t.steps.all()])
        for t in Task.objects.filter(created__gte=periodic.created)
        if t.status == "failed"
    ]
    assert errors == []
    asked = periodic.steps.get(key=f"converge-{host.pk}")
    assert asked.status in ("skipped", "failed") and "forgotten" in asked.message, asked.message
    still_open = Alert.objects.filter(
        target_id=str(host.pk), target_type__model="host", cleared=None
    )
    assert list(still_open.values_list("name", flat=True)) == []
