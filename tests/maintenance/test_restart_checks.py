"""The rolling restart's pre-checks (before it starts and before each host), the check that
each host really rejoined, and the way forward from a host it left part-way."""

import pytest
from django.urls import reverse

from agent.kernel import update_defaults
from clusters.agents import agent
from clusters.models import PBD, Host, Membership
from clusters.services.memberships import cluster_reconcile_start
from core.models import Task
from maintenance.models import HostMaintenance
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import api_client_for, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def post(user, path, **body):
    return api_client_for(user).post(f"/api/maintenance/{path}/", body, format="json")


def restart(user, cluster) -> Task:
    accepted = post(user, "rolling-restart", cluster=cluster.pk)
    assert accepted.status_code == 202, accepted.json()
    return Task.objects.get(pk=accepted.json()["task_id"])


def connected(host, cluster) -> list[int]:
    beat = agent(host).io_probe().heartbeat["clusters"]
    return next(c["connected_nodes"] for c in beat if c["name"] == cluster.cluster_name)


def untouched(host) -> bool:
    host.refresh_from_db()
    return host.enabled and not HostMaintenance.objects.filter(host=host).exists()


def test_a_rolling_restart_is_refused_while_o2cb_settings_differ(
    maintenance_pool, operator_user, client
):
    (first, second, odd), roots = maintenance_pool
    cluster = Membership.objects.get(host=odd).cluster
    # The admin tuned one host by hand and rebooted it: its network idle timeout now
    # differs, so O2CB refuses to connect it to the others.
    update_defaults(roots[odd.hostname], {"O2CB_IDLE_TIMEOUT_MS": "45000"})
    agent(odd).sandbox_reboot()
    assert finished(cluster_reconcile_start(cluster=cluster, reason="test")).status == "succeeded"

    preview = post(operator_user, "rolling-restart", cluster=cluster.pk, dry_run=True).json()
    (refusal,) = [r for r in preview["refusals"] if "timeout" in r]
    assert (
        "network idle timeout (ms) differs between hosts: "
        f"30000 on {first.hostname}, {second.hostname}; 45000 on {odd.hostname}"
    ) in refusal
    assert "O2CB refuses to connect" in refusal
    assert "/etc/default/o2cb" in refusal, "it says the fix"

    refused = post(operator_user, "rolling-restart", cluster=cluster.pk)
    assert refused.status_code == 409 and "O2CB refuses to connect" in refused.json()["message"]
    assert not Task.objects.filter(kind="maintenance.rolling_restart").exists()
    client.force_login(operator_user)
    page = client.get(reverse("cluster-rolling-restart", args=[cluster.pk])).content.decode()
    assert f"45000 on {odd.hostname}" in page and "Start the rolling restart" not in page


def test_a_host_that_does_not_really_rejoin_stops_the_restart_and_can_be_rebooted(
    maintenance_pool, operator_user, readonly_user, settings, client
):
    (first, second, third), roots = maintenance_pool
    cluster = Membership.objects.get(host=first).cluster
    settings.REJOIN_TIMEOUT = 2
    # A setting changed by hand but not yet in effect: it takes effect at the reboot.
    update_defaults(roots[first.hostname], {"O2CB_IDLE_TIMEOUT_MS": "45000"})
    plan = post(operator_user, "rolling-restart", cluster=cluster.pk, dry_run=True).json()
    assert plan["refusals"] == [], "what runs now agrees"

    task = finished(restart(operator_user, cluster), timeout=180)
    assert task.status == "failed"
    steps = list(task.steps.order_by("position"))
    assert [s.status for s in steps] == ["failed", "skipped", "skipped"]
    assert not steps[0].message.startswith("Restarted")
    assert (
        f"O2CB refuses to connect {first} to {second.hostname}, {third.hostname}"
        in steps[0].message
    )
    assert "network idle timeout (ms) differs" in steps[0].message
    assert "/etc/default/o2cb" in steps[0].message
    assert untouched(second) and untouched(third), "never past a host that is not back"
    first.refresh_from_db()
    assert not first.enabled, "no VM moves to a host that is not back"
    assert HostMaintenance.objects.get(host=first).state == "exiting"
    assert task.result["page"] == reverse("host-maintenance", args=[first.pk])

    client.force_login(operator_user)
    page = client.get(task.result["page"]).content.decode()
    assert "Leaving maintenance did not finish" in page
    assert ">Retry</button>" in page and ">Reboot host</button>" in page
    assert ">Roll back</button>" not in page
    client.force_login(readonly_user)
    assert ">Reboot host</button>" not in client.get(task.result["page"]).content.decode()

    # The way forward: set the value back, reboot the host (it leaves its clusters
    # cleanly first), then exit maintenance.
    assert post(readonly_user, "reboot", host=first.pk).status_code == 403
    not_in = post(operator_user, "reboot", host=second.pk)
    assert not_in.status_code == 409 and "is not in maintenance" in not_in.json()["message"]
    update_defaults(roots[first.hostname], {"O2CB_IDLE_TIMEOUT_MS": "30000"})
    accepted = post(operator_user, "reboot", host=first.pk)
    assert accepted.status_code == 202, accepted.json()
    rebooted = finished(Task.objects.get(pk=accepted.json()["task_id"]), timeout=120)
    assert rebooted.status == "succeeded", rebooted.error
    stop = rebooted.steps.get(key="stop").message
    assert stop == "Unplugged 1 SR(s); O2CB stopped in 1 cluster(s).", "a clean departure"
    assert HostMaintenance.objects.get(host=first).state == "in"
    exited = post(operator_user, "exit", host=first.pk)
    assert exited.status_code == 202, exited.json()
    exit_task = finished(Task.objects.get(pk=exited.json()["task_id"]), timeout=120)
    assert exit_task.status == "succeeded", exit_task.error
    assert "connected to 2 peers" in exit_task.steps.get(key="verify").message
    first.refresh_from_db()
    assert first.enabled and PBD.objects.get(host=first).plugged
    assert len(connected(first, cluster)) == 2


def test_the_checks_run_again_before_each_host(maintenance_pool, operator_user):
    (first, second, third), _roots = maintenance_pool
    cluster = Membership.objects.get(host=first).cluster
    task = restart(operator_user, cluster)
    wait_for(lambda: HostMaintenance.objects.filter(host=first).exists(), 60)
    busy = post(operator_user, "retry", host=first.pk)
    assert busy.status_code == 409, "no second workflow on a host the restart holds"
    assert f"under way (Rolling restart of {cluster})" in busy.json()["message"]
    # While the first host restarts, someone stops O2CB on the third by hand.
    agent(third).cluster_stop(cluster.cluster_name)

    task = finished(task, timeout=180)
    assert task.status == "failed"
    steps = list(task.steps.order_by("position"))
    assert [s.status for s in steps] == ["succeeded", "failed", "skipped"]
    assert "back in its clusters (O2CB runs" in steps[0].message
    assert "Not restarted: the checks before it refuse." in steps[1].message
    assert f"{third} does not run" in steps[1].message
    assert "hosts after it were not touched" in task.error
    assert untouched(second), "the host the checks refused was not touched"
    assert Host.objects.get(pk=first.pk).enabled
