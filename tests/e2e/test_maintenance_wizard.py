"""The maintenance wizard in a real browser: preview, enter, reboot, exit."""

import pytest

from clusters.agents import agent
from clusters.models import VM, Host
from core.models import Task
from tests.conftest import wait_for
from tests.e2e.conftest import log_in, task_ends

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_operator_takes_a_host_through_maintenance(
    page, screenshot, maintenance_pool, operator_user
):
    (host, _other, _third), _roots = maintenance_pool
    log_in(page, operator_user.username)
    page.get_by_role("link", name="Hosts").click()
    page.locator(f'tr[data-host="{host.hostname}"]').get_by_role(
        "link", name="Maintenance…"
    ).click()
    preview = page.locator("#what-will-happen")
    assert "Move its VMs to other hosts" in preview.inner_text()
    assert sorted(page.locator("#moving-vms li").all_inner_texts()) == [
        f"db: live-migrated to {_other.hostname}",
        f"mail: live-migrated to {_third.hostname}",
        f"web: live-migrated to {_other.hostname}",
    ]
    assert "2 of 3 nodes keep heartbeating" in page.locator("#quorum").inner_text()
    screenshot("enter-preview")
    page.get_by_role("button", name="Enter maintenance").click()
    task_ends(page)
    assert not VM.objects.filter(resident_on=host).exists()

    page.goto(f"/hosts/{host.pk}/maintenance/")
    assert "has not restarted" in page.locator("#refusals").inner_text()
    assert page.get_by_role("button", name="Exit maintenance").count() == 0
    booted = host.boot_time
    agent(host).sandbox_reboot()
    wait_for(lambda: Host.objects.get(pk=host.pk).boot_time > booted, 30)
    page.reload()
    page.get_by_role("button", name="Exit maintenance").click()
    task_ends(page)
    screenshot("exit-done")
    assert Host.objects.get(pk=host.pk).enabled
    assert Task.objects.filter(kind="maintenance.exit", status="succeeded").count() == 1
    assert page.console_problems == []
