"""Removing a host and restarting its cluster, as an admin does it in the browser."""

import pytest

from clusters.models import Host, Membership
from maintenance.models import HostMaintenance
from tests.e2e.conftest import log_in, task_ends

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_admin_removes_a_host_and_the_rolling_restart_clears_the_banner(
    page, screenshot, maintenance_pool, admin_user
):
    (host, _other, _third), _roots = maintenance_pool
    cluster = Membership.objects.get(host=host).cluster
    log_in(page, admin_user.username)
    page.goto(f"/hosts/{host.pk}/maintenance/")
    page.get_by_role("button", name="Enter maintenance").click()
    task_ends(page)
    page.goto(f"/hosts/{host.pk}/maintenance/")
    page.locator("#remove-host input[name=confirm_name]").fill(host.hostname)
    page.get_by_role("button", name=f"Remove {host.hostname}").click()
    message = page.locator(".message").first.inner_text()
    assert f"{host.hostname} left the pool" in message and "is queued (task" in message
    assert Membership.objects.get(hostname=host.hostname).left is not None

    banner = page.locator('[data-banner="needs-restart"]')
    for _ in range(100):  # the monitor's run after the removal raises the banner
        if banner.count():
            break
        page.wait_for_timeout(200)
        page.reload()
    assert "needs a cluster restart" in banner.first.inner_text()
    screenshot("banner-after-removal")
    banner.first.get_by_role("link", name=f"rolling restart of {cluster}…").click()
    assert "One host at a time" in page.locator("#what-will-happen").inner_text()
    screenshot("rolling-restart-preview")
    page.get_by_role("button", name="Start the rolling restart").click()
    task_ends(page)
    page.get_by_role("link", name="Dashboard").click()
    for _ in range(100):  # the run after the restart clears it
        if not page.locator('[data-banner="needs-restart"]').count():
            break
        page.wait_for_timeout(200)
        page.reload()
    assert page.locator('[data-banner="needs-restart"]').count() == 0
    screenshot("restart-done")
    assert Host.objects.filter(registration="accepted", enabled=True).count() == 2
    assert page.console_problems == []


def test_operator_finds_the_way_forward_from_a_failed_rolling_restart(
    page, screenshot, maintenance_pool, operator_user
):
    (first, second, _third), roots = maintenance_pool
    cluster = Membership.objects.get(host=first).cluster
    fail = roots[second.hostname].path("etc/sandbox/fail-step")
    fail.parent.mkdir(parents=True, exist_ok=True)
    fail.write_text("host_reboot\n")  # the pool refuses to reboot the second host
    log_in(page, operator_user.username)
    page.goto(f"/clusters/{cluster.pk}/rolling-restart/")
    quorum = page.locator("#quorum").inner_text()
    assert f"While {first} restarts" in quorum and "2 of 3 nodes keep heartbeating" in quorum
    page.get_by_role("button", name="Start the rolling restart").click()
    task_ends(page, expected="Failed", timeout_ms=180_000)
    screenshot("restart-failed")

    page.get_by_role("link", name=f"What to do next: {second}'s maintenance page").click()
    recovery = page.locator("#recovery")
    assert "A reboot is the only way out" in recovery.inner_text()
    assert recovery.get_by_role("button", name="Retry").count() == 0
    assert recovery.get_by_role("button", name="Roll back").count() == 0
    assert page.get_by_role("button", name="Exit maintenance").count() == 0
    screenshot("in-maintenance-after-failure")
    fail.unlink()  # the admin fixed what kept the pool from rebooting it
    recovery.get_by_role("button", name="Reboot host").click()
    task_ends(page, timeout_ms=120_000)

    page.goto(f"/hosts/{second.pk}/maintenance/")
    page.get_by_role("button", name="Exit maintenance").click()
    task_ends(page, timeout_ms=120_000)
    assert "connected to 2 peers" in page.locator("#task-live").inner_text()
    screenshot("back")
    second.refresh_from_db()
    assert second.enabled and not HostMaintenance.objects.filter(host=second).exists()
    assert page.console_problems == []
