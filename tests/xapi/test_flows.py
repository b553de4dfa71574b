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
