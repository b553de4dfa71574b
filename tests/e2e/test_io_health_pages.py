"""The demo panel in a real browser: break a sandbox host's paths and watch its I/O page."""

import pytest

from clusters.iohealth.services import io_health_collect
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def apply_fault(page, host: str, fault: str, target: str = ""):
    card = page.locator(f'section[data-host="{host}"]')
    card.locator("select[name=fault]").select_option(fault)
    card.locator("select[name=target]").select_option(target)
    card.get_by_role("button", name="Apply").click()
    page.locator(".message").first.wait_for()


def test_admin_breaks_paths_and_sees_the_host_turn_amber_red_and_green(
    page, screenshot, sandbox_pool, admin_user
):
    log_in(page, admin_user.username)
    page.get_by_role("link", name="Faults", exact=True).click()
    apply_fault(page, "sandbox-02", "path-fail", "sdc")
    assert "sandbox-02: path-fail sdc done." in page.locator(".message").first.inner_text()
    io_health_collect(timeout=10)

    page.locator('section[data-host="sandbox-02"] h2 a').click()
    state = page.locator("#host-io-live h2 [data-io-state]")
    assert state.get_attribute("data-io-state") == "degraded"
    assert "red" in page.locator('tr[data-path="sdc"]').get_attribute("class")
    assert "What to do" in page.locator(".findings").first.inner_text()
    screenshot("host-io-degraded")

    page.get_by_role("link", name="Faults", exact=True).click()
    apply_fault(page, "sandbox-02", "path-fail", "sdb")
    io_health_collect(timeout=10)
    page.get_by_role("link", name="Dashboard").click()
    summary = page.locator("#io-summary")
    assert summary.locator("[data-io-state]").first.get_attribute("data-io-state") == "critical"
    assert "no working path" in summary.inner_text()
    screenshot("dashboard-io-critical")

    page.get_by_role("link", name="Faults", exact=True).click()
    apply_fault(page, "sandbox-02", "restore")
    io_health_collect(timeout=10)
    page.get_by_role("link", name="sandbox-02").first.click()
    assert page.locator("#host-io-live h2 [data-io-state]").get_attribute("data-io-state") == "ok"
    assert page.console_problems == []


def test_operators_are_not_offered_the_fault_panel(page, sandbox_pool, operator_user):
    log_in(page, operator_user.username)
    assert page.get_by_role("link", name="Faults", exact=True).count() == 0
