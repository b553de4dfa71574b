"""Removing a host and restarting its cluster, as an admin does it in the browser."""

import pytest

from clusters.models import Host, Membership
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
    assert "removed from the pool" in page.locator(".message").first.inner_text()
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
