"""The guided workflows on a 3-host pool reached only over XAPI: the maintenance driver
through the stand-in master, every agent call through its host.call_plugin running the
real plugin file, no Celery agent at all. The tests are the Celery agent's own (imported
here), on pools of the same shape built over XAPI."""

import pytest

from clusters.models import VM, Host
from tests.maintenance.test_add_storage import (
    test_two_luns_become_two_srs_heartbeating_and_plugged_everywhere,
)
from tests.maintenance.test_maintenance_workflow import test_enter_reboot_exit
from tests.maintenance.test_remove_and_restart import (
    test_remove_a_host_then_a_rolling_restart_clears_the_banner,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

__all__ = [
    "test_enter_reboot_exit",
    "test_remove_a_host_then_a_rolling_restart_clears_the_banner",
    "test_two_luns_become_two_srs_heartbeating_and_plugged_everywhere",
]


@pytest.fixture
def storage_pool(xapi_cluster):
    return xapi_cluster


@pytest.fixture
def maintenance_pool(xapi_maintenance_pool):
    return xapi_maintenance_pool


def test_maintenance_moves_vms_and_reboots_through_the_master(
    maintenance_pool, xapi_pool, operator_user
):
    from tests.clusters.test_cluster_lifecycle import finished
    from tests.conftest import api_client_for, wait_for

    (host, _other, _third), _roots = maintenance_pool
    master = xapi_pool.master
    api = api_client_for(operator_user)
    entered = api.post("/api/maintenance/enter/", {"host": host.pk}, format="json")
    from core.models import Task

    task = finished(Task.objects.get(pk=entered.json()["task_id"]))
    assert task.status == "succeeded", task.error
    assert master.hosts[host.xapi_ref]["enabled"] is False, "disabled in XAPI"
    on_master = {vm["name_label"]: vm["resident_on"] for vm in master.vms.values()}
    assert all(on_master[name] != host.xapi_ref for name in ("web", "db", "mail"))
    assert not VM.objects.filter(resident_on=host).exists(), "the console's records follow"
    booted = host.boot_time
    master.api_host_reboot(None, host.xapi_ref)  # the admin reboots it in XenCenter
    wait_for(lambda: Host.objects.get(pk=host.pk).boot_time > booted, 30)
    exited = api.post("/api/maintenance/exit/", {"host": host.pk}, format="json")
    task = finished(Task.objects.get(pk=exited.json()["task_id"]), timeout=120)
    assert task.status == "succeeded", (task.error, [s.message for s in task.steps.all()])
    assert master.hosts[host.xapi_ref]["enabled"] is True, "enabled again in XAPI"


def test_removing_a_pool_host_ejects_it_and_the_pool_sync_keeps_it_out(
    maintenance_pool, xapi_pool, admin_user, operator_user
):
    """Removing a host of an XAPI pool is ejecting it (pool.eject, as XenCenter's "Remove
    server from pool"): it leaves the pool, so the pool sync, running all along, does not
    bring it back into the console or its auto-join cluster. The master is refused."""
    import time

    from clusters.models import Membership
    from core.models import Task
    from maintenance.drivers import DriverError, XenAPIDriver
    from tests.clusters.test_cluster_lifecycle import finished
    from tests.conftest import api_client_for

    (host, _other, third), _roots = maintenance_pool
    master = xapi_pool.master
    assert master.master_ref == third.xapi_ref
    with pytest.raises(DriverError) as refused:
        XenAPIDriver(xapi_pool.pool).host_eject(third)
    assert "Designate another host as the pool master first" in refused.value.fix
    assert third.xapi_ref in master.hosts, "the master stays"

    api = api_client_for(admin_user)
    operator = api_client_for(operator_user)
    entered = operator.post("/api/maintenance/enter/", {"host": host.pk}, format="json")
    assert finished(Task.objects.get(pk=entered.json()["task_id"])).status == "succeeded"
    preview = api.post(
        "/api/maintenance/remove/", {"host": host.pk, "dry_run": True}, format="json"
    ).json()
    (eject,) = [i for i in preview["impacts"] if i["kind"] == "pool_eject"]
    assert f"will leave XAPI pool {xapi_pool.pool}" in eject["sentence"]
    assert "restarts it" in eject["sentence"] and "local storage" in eject["sentence"]
    from django.test import Client
    from django.urls import reverse

    browser = Client()
    browser.force_login(admin_user)
    page = browser.get(reverse("host-maintenance", args=[host.pk]))
    assert b'data-impact="pool_eject"' in page.content

    removed = api.post(
        "/api/maintenance/remove/",
        {"host": host.pk, "confirm_name": host.hostname},
        format="json",
    )
    assert removed.status_code == 200, removed.content
    assert host.xapi_ref not in master.hosts, "ejected from the pool"
    assert master.ejected[str(host.uuid)]["reboots"] == 1, "the ejected host restarts"
    time.sleep(4)  # the beat's syncs and polls go on (every second)
    assert not Host.objects.filter(uuid=host.uuid).exists(), "the sync does not bring it back"
    assert not Membership.objects.filter(hostname=host.hostname, left__isnull=True).exists()
