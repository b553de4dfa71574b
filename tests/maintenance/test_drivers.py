"""Pool drivers: XenAPI's official bindings against a wire-compatible server, and the
sandbox driver on the console's records."""

import pytest

from clusters.models import VM, Host, Pool
from maintenance.drivers import DriverError, SandboxDriver, XenAPIDriver
from tests.clusters.factories import HostFactory
from tests.xapi.master import FakePool, serve

pytestmark = pytest.mark.django_db


@pytest.fixture
def xapi(settings):
    pool = FakePool()
    url, stop = serve(pool)
    yield pool, url
    stop()


def pool_at(url: str, password: str = "secret") -> Pool:  # noqa: S107 - test credentials
    from clusters.xapi import pool_session_forget
    from core.secrets import secret_encrypt

    pool = Pool.objects.create(
        name=f"pool {Pool.objects.count() + 1}",
        master_address=url,
        username="root",
        password_encrypted=secret_encrypt(password),
    )
    pool_session_forget(pool)  # a pk reused by another test's pool has no session here
    return pool


@pytest.fixture
def hosts():
    return HostFactory(), HostFactory()


def test_xenapi_driver_disables_lists_and_evacuates(xapi, hosts):
    pool, url = xapi
    here, there = hosts
    here_ref, there_ref = pool.add_host(str(here.uuid)), pool.add_host(str(there.uuid))
    web = pool.add_vm(here_ref, "web")
    pool.add_vm(here_ref, "old", running=False)
    driver = XenAPIDriver(pool_at(url))

    driver.host_disable(here)
    assert pool.hosts[here_ref]["enabled"] is False
    assert driver.resident_vms(here) == [(pool.vms[web]["uuid"], "web")], "no dom0, no halted"
    assert driver.evacuation_blockers(here) == []
    driver.host_evacuate(here)
    assert pool.vms[web]["resident_on"] == there_ref
    driver.host_reboot(here)
    assert pool.hosts[here_ref]["reboots"] == 1
    driver.host_enable(here)
    assert pool.hosts[here_ref]["enabled"] is True
    with pytest.raises(DriverError) as enabled:
        driver.host_reboot(here)
    assert enabled.value.code == "HOST_NOT_DISABLED"
    assert len(pool.sessions) == 1, "one session, kept for the next call"


def test_a_vm_that_cannot_move_is_explained_as_xencenter_does(xapi, hosts):
    pool, url = xapi
    here, there = hosts
    here_ref = pool.add_host(str(here.uuid))
    pool.add_host(str(there.uuid))
    pool.add_vm(here_ref, "db-on-local-disk", stuck=True)
    driver = XenAPIDriver(pool_at(url))

    (blocker,) = driver.evacuation_blockers(here)
    assert blocker.vm_name == "db-on-local-disk" and blocker.code == "VM_REQUIRES_SR"
    assert "storage the other hosts cannot reach" in blocker.reason
    assert "shared storage" in blocker.fix
    with pytest.raises(DriverError) as refused:
        driver.host_evacuate(here)
    assert refused.value.code == "VM_REQUIRES_SR"
    assert refused.value.detail["fix"].startswith("Move its disks")


def test_bad_credentials_unknown_hosts_and_no_master_are_clear_errors(xapi, hosts):
    pool, url = xapi
    with pytest.raises(DriverError, match="refused the log-in"):
        XenAPIDriver(pool_at(url, "wrong")).host_disable(hosts[0])
    with pytest.raises(DriverError) as unknown:
        XenAPIDriver(pool_at(url)).host_disable(hosts[0])
    assert unknown.value.code == "UUID_INVALID"
    with pytest.raises(DriverError, match="cannot be reached"):
        XenAPIDriver(pool_at("http://127.0.0.1:9/")).host_disable(hosts[0])


def test_a_lost_session_is_logged_in_again(xapi, hosts):
    pool, url = xapi
    here_ref = pool.add_host(str(hosts[0].uuid))
    driver = XenAPIDriver(pool_at(url))
    driver.host_disable(hosts[0])
    pool.sessions.clear()  # xapi restarted: every session it knew is gone
    driver.host_enable(hosts[0])
    assert pool.hosts[here_ref]["enabled"] is True
    assert pool.calls.count("session.login_with_password") == 2


# Sandbox driver ------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path, hosts):
    here, there = hosts
    for name in ("a", "b", "c"):
        VM.objects.create(name=name, resident_on=here, power_state="running")
    VM.objects.create(name="off", resident_on=here, power_state="halted")
    return SandboxDriver(tmp_path, move_seconds=0), tmp_path, here, there


def test_sandbox_driver_moves_running_vms_and_can_be_told_to_fail(sandbox):
    driver, directory, here, there = sandbox
    driver.host_disable(here)
    assert Host.objects.get(pk=here.pk).enabled is False
    driver.host_evacuate(here)
    assert sorted(VM.objects.filter(resident_on=there).values_list("name", flat=True)) == [
        "a",
        "b",
        "c",
    ]
    assert driver.resident_vms(here) == []
    (directory / here.hostname / "etc" / "sandbox").mkdir(parents=True)
    (directory / here.hostname / "etc" / "sandbox" / "fail-step").write_text("host_enable\n")
    with pytest.raises(DriverError, match="host_enable failed") as failed:
        driver.host_enable(here)
    assert "fail-step" in failed.value.fix


def test_sandbox_driver_reports_stuck_vms_and_a_lack_of_hosts(sandbox):
    driver, directory, here, there = sandbox
    (directory / here.hostname / "etc" / "sandbox").mkdir(parents=True)
    (directory / here.hostname / "etc" / "sandbox" / "stuck-vms").write_text("b\n")
    assert [(b.vm_name, b.code) for b in driver.evacuation_blockers(here)] == [
        ("b", "VM_REQUIRES_SR")
    ]
    with pytest.raises(DriverError, match="b cannot leave"):
        driver.host_evacuate(here)
    assert VM.objects.filter(resident_on=here).count() == 4, "nothing moved"
    Host.objects.filter(pk=there.pk).update(enabled=False)
    codes = {b.code for b in driver.evacuation_blockers(here)}
    assert codes == {"VM_REQUIRES_SR", "NO_HOSTS_AVAILABLE"}
