"""Maintenance mode end to end: the real worker, the real agent on sandbox hosts, the
sandbox pool driver; previews, refusals, reboot-to-exit, retry and rollback."""

import pytest

from clusters.agents import agent
from clusters.models import PBD, VM, Host
from clusters.services.memberships import cluster_reconcile_start
from core.models import Task
from maintenance.models import HostMaintenance
from tests.clusters.test_cluster_lifecycle import finished, stopped_alerts
from tests.conftest import api_client_for, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def running(host) -> bool:
    return agent(host).cluster_query("pool").running


def mounted(root) -> list[str]:
    from agent.fsutil import read_json
    from agent.sandbox.kernel import SANDBOX_MOUNTS

    return list(read_json(root.path(SANDBOX_MOUNTS), {}))


def post(user, path, **body):
    return api_client_for(user).post(f"/api/maintenance/{path}/", body, format="json")


def test_enter_reboot_exit(maintenance_pool, operator_user, readonly_user):
    (host, other, third), roots = maintenance_pool
    assert post(readonly_user, "enter", host=host.pk, dry_run=True).status_code == 403

    preview = post(operator_user, "enter", host=host.pk, dry_run=True).json()
    assert [s["key"] for s in preview["steps"]] == [
        "disable",
        "evacuate",
        "unplug",
        "leave",
        "await_reboot",
    ]
    assert sorted(vm["name"] for vm in preview["vms"]) == ["db", "mail", "web"]
    assert preview["storage"] == [{"sr": "Gold", "pbd": str(host.pbds.get().uuid)}]
    (quorum,) = preview["quorum"]
    assert quorum["heartbeating_after"] == 2
    assert preview["refusals"] == []
    assert not HostMaintenance.objects.exists(), "a dry run changes nothing"

    accepted = post(operator_user, "enter", host=host.pk)
    assert accepted.status_code == 202
    task = finished(Task.objects.get(pk=accepted.json()["task_id"]))
    assert task.status == "succeeded", task.error
    host.refresh_from_db()
    assert host.enabled is False
    assert not VM.objects.filter(resident_on=host).exists()
    assert not PBD.objects.get(host=host).plugged
    assert PBD.objects.get(host=other).plugged, "the others keep their storage"
    assert mounted(roots[host.hostname]) == [] and len(mounted(roots[other.hostname])) == 1
    assert not running(host) and running(other)
    assert HostMaintenance.objects.get(host=host).state == "in"
    # Stopped on purpose: the monitor's next look raises no "member stopped" alert.
    look = cluster_reconcile_start(cluster=host.memberships.get().cluster, reason="test")
    assert finished(look).status == "succeeded", look.error
    assert stopped_alerts() == {}

    refused = post(operator_user, "exit", host=host.pk)
    assert refused.status_code == 409 and "has not restarted" in refused.json()["message"]
    changed = post(operator_user, "addresses", host=host.pk, addresses=["127.0.1.11"])
    assert changed.status_code == 200
    not_in = post(operator_user, "addresses", host=other.pk, addresses=["127.0.1.12"])
    assert not_in.status_code == 409 and "maintenance mode" in not_in.json()["message"]

    booted = host.boot_time
    agent(host).sandbox_reboot()
    wait_for(lambda: Host.objects.get(pk=host.pk).boot_time > booted, 30)
    assert not running(host), "a host in maintenance stays out of its clusters after reboot"

    accepted = post(operator_user, "exit", host=host.pk)
    assert accepted.status_code == 202
    task = finished(Task.objects.get(pk=accepted.json()["task_id"]))
    assert task.status == "succeeded", task.error
    host.refresh_from_db()
    assert host.enabled and PBD.objects.get(host=host).plugged and running(host)
    assert mounted(roots[host.hostname]) == [str(PBD.objects.get(host=host).sr.uuid)]
    assert not HostMaintenance.objects.exists()


def test_a_failed_step_is_described_and_retried_from_there(maintenance_pool, operator_user):
    (host, _other, _third), roots = maintenance_pool
    fail = roots[host.hostname].path("etc/sandbox/fail-step")
    fail.parent.mkdir(parents=True, exist_ok=True)
    fail.write_text("pbd_unplug\n")
    task = finished(
        Task.objects.get(pk=post(operator_user, "enter", host=host.pk).json()["task_id"])
    )
    assert task.status == "failed"
    assert "Unplug its storage failed" in task.error
    assert "done so far: disable the host; move its vms to other hosts" in task.error
    assert "retry" in task.error and "roll back" in task.error
    assert not VM.objects.filter(resident_on=host).exists()

    fail.write_text("")
    retried = post(operator_user, "retry", host=host.pk)
    task = finished(Task.objects.get(pk=retried.json()["task_id"]))
    assert task.status == "succeeded", task.error
    messages = {s.name: s.message for s in task.steps.all()}
    assert messages["Move its VMs to other hosts"] == "Done by an earlier run."
    assert messages["Unplug its storage"] == "Unplugged 1 SR."


def test_a_part_way_enter_can_be_rolled_back(maintenance_pool, operator_user):
    (host, _other, _third), roots = maintenance_pool
    fail = roots[host.hostname].path("etc/sandbox/fail-step")
    fail.parent.mkdir(parents=True, exist_ok=True)
    fail.write_text("host_evacuate\n")
    task = finished(
        Task.objects.get(pk=post(operator_user, "enter", host=host.pk).json()["task_id"])
    )
    assert task.status == "failed" and "Move its VMs to other hosts failed" in task.error
    assert Host.objects.get(pk=host.pk).enabled is False
    rolled = finished(
        Task.objects.get(pk=post(operator_user, "rollback", host=host.pk).json()["task_id"])
    )
    assert rolled.status == "succeeded", rolled.error
    assert Host.objects.get(pk=host.pk).enabled is True
    assert not HostMaintenance.objects.exists()
    assert running(host), "it never left its cluster"


def test_refusals_come_before_any_change(maintenance_pool, operator_user):
    (host, other, _third), roots = maintenance_pool
    stuck = roots[host.hostname].path("etc/sandbox/stuck-vms")
    stuck.parent.mkdir(parents=True, exist_ok=True)
    stuck.write_text("db\n")
    refused = post(operator_user, "enter", host=host.pk)
    assert refused.status_code == 409
    assert "db cannot leave" in refused.json()["message"]
    assert "shared storage" in refused.json()["message"]
    assert Host.objects.get(pk=host.pk).enabled and not HostMaintenance.objects.exists()
    stuck.write_text("")
    first = finished(
        Task.objects.get(pk=post(operator_user, "enter", host=other.pk).json()["task_id"])
    )
    assert first.status == "succeeded", first.error
    second = post(operator_user, "enter", host=host.pk, dry_run=True).json()
    assert any("already in maintenance" in r for r in second["refusals"])
    confirmed = post(operator_user, "enter", host=host.pk, dry_run=True, confirm_others=True)
    assert confirmed.json()["refusals"] == []


def test_one_workflow_per_host_at_a_time(maintenance_pool, operator_user, settings):
    (host, _other, _third), _roots = maintenance_pool
    settings.SANDBOX_VM_MOVE_SECONDS = 1  # three VMs: a few seconds of evacuation
    task_id = post(operator_user, "enter", host=host.pk).json()["task_id"]
    second = post(operator_user, "retry", host=host.pk)
    assert second.status_code == 409 and "under way" in second.json()["message"]
    assert finished(Task.objects.get(pk=task_id)).status == "succeeded"


def test_a_host_that_answers_late_is_retried_without_the_admin(
    maintenance_pool, operator_user, settings
):
    """The host is slow for a while (its agent answers after the console gave up): the
    step is tried again by itself, says so, and the workflow ends as if nothing happened."""
    (host, _other, _third), roots = maintenance_pool
    settings.AGENT_CALL_TIMEOUT = 2
    settings.STEP_RETRY_BACKOFF = 3
    delay = roots[host.hostname].path("etc/sandbox/agent-delay")
    delay.parent.mkdir(parents=True, exist_ok=True)
    delay.write_text("4\n")
    task = Task.objects.get(pk=post(operator_user, "enter", host=host.pk).json()["task_id"])
    unplug = wait_for(lambda: task.steps.filter(key="unplug", retries=1).first(), 60)
    assert f"{host} did not answer 'sr_unmount' within 2 s." in unplug.message
    assert "Trying again in 3 s (retry 1 of 3)." in unplug.message
    delay.write_text("")  # the host answers in time again
    task = finished(task)
    assert task.status == "succeeded", task.error
    unplug = task.steps.get(key="unplug")
    assert unplug.retries == 1
    assert unplug.message == "Unplugged 1 SR. (succeeded after 1 retry)"
    assert not PBD.objects.get(host=host).plugged and mounted(roots[host.hostname]) == []
    assert HostMaintenance.objects.get(host=host).state == "in"


def test_storage_added_during_maintenance_waits_for_the_host_to_leave(
    maintenance_pool, operator_user, admin_user
):
    """Maintenance's one guarantee: nothing starts a cluster or plugs storage on the host
    (so it can be rewired without fencing) until it leaves; then it gets the new SR."""
    (host, other, third), roots = maintenance_pool
    entered = finished(
        Task.objects.get(pk=post(operator_user, "enter", host=host.pk).json()["task_id"])
    )
    assert entered.status == "succeeded", entered.error
    cluster = host.memberships.get().cluster
    client = api_client_for(admin_user)
    candidates = client.get(f"/api/storage/luns/?cluster={cluster.pk}").json()
    free = next(lun["scsi_id"] for lun in candidates["luns"] if not lun["in_use_by"])
    body = {"cluster": cluster.pk, "luns": [{"scsi_id": free, "name": "Silver"}]}

    preview = client.post("/api/storage/add/", {**body, "dry_run": True}, format="json").json()
    assert preview["refusals"] == [] and host.hostname not in preview["members"]
    assert preview["skipped"] == [
        {
            "host": host.hostname,
            "why": "In maintenance: it heartbeats on the new storage and "
            "plugs it when it leaves maintenance.",
        }
    ]
    added = finished(
        Task.objects.get(
            pk=client.post("/api/storage/add/", body, format="json").json()["task_id"]
        ),
        timeout=120,
    )
    assert added.status == "succeeded", added.error
    assert f"Skipped {host.hostname}, in maintenance" in added.steps.get(key="start").message
    assert not running(host), "no cluster was started on the host in maintenance"
    silver = PBD.objects.get(host=host, sr__name="Silver")
    assert not silver.plugged and mounted(roots[host.hostname]) == []
    assert PBD.objects.get(host=other, sr__name="Silver").plugged

    booted = host.boot_time
    agent(host).sandbox_reboot()
    wait_for(lambda: Host.objects.get(pk=host.pk).boot_time > booted, 30)
    left = finished(
        Task.objects.get(pk=post(operator_user, "exit", host=host.pk).json()["task_id"])
    )
    assert left.status == "succeeded", left.error
    assert running(host)
    assert PBD.objects.filter(host=host, plugged=True).count() == 2
    assert agent(host).io_probe().heartbeat["summary"]["regions"] == 2
    assert sorted(mounted(roots[host.hostname])) == sorted(
        str(p.sr.uuid) for p in PBD.objects.filter(host=host)
    )
