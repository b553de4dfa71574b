"""Pages that keep themselves current, say each thing once, and stay inside the window."""

import pytest

from clusters.iohealth.services import io_health_collect
from clusters.models import Host
from clusters.services.faults import fault_inject
from core.services.audit import audit_record
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def break_path(admin_user, device: str) -> None:
    host = Host.objects.get(hostname="sandbox-02")
    fault_inject(host=host, fault="path-fail", target=device, actor=admin_user)
    io_health_collect(timeout=10)


@pytest.mark.worker
def test_the_dashboard_turns_critical_by_itself_when_the_health_does(
    page, screenshot, sandbox_pool, admin_user
):
    log_in(page, admin_user.username)
    summary = page.locator("#io-summary")
    state = summary.locator("h2 [data-io-state]")
    counts = summary.locator("p").first
    assert state.get_attribute("data-io-state") == "ok"
    assert counts.inner_text() == "2 ok."

    break_path(admin_user, "sdc")
    page.reload()
    assert state.get_attribute("data-io-state") == "degraded"
    assert counts.inner_text() == "1 ok, 1 degraded."
    page.evaluate("window.notReloaded = true")

    break_path(admin_user, "sdb")  # the last path: the health turns critical
    page.locator('#io-summary h2 [data-io-state="critical"]').wait_for(timeout=20_000)
    assert page.evaluate("window.notReloaded") is True  # the page changed in place
    assert counts.inner_text() == "1 ok, 1 critical."
    assert "no working path" in summary.inner_text()
    screenshot("dashboard-turned-critical")
    assert page.console_problems == []


def test_each_label_of_the_new_cluster_form_appears_once(page, admin_user):
    log_in(page, admin_user.username)
    page.goto("/clusters/")
    form = page.locator("#new-cluster form")
    labels = [text.rstrip(":").strip() for text in form.locator("label").all_inner_texts()]
    assert labels == [
        "Name in the console",
        "Name on the hosts",
        "New pool hosts join it automatically",
        "Pool",
    ]
    words = form.inner_text()
    for label in labels:
        assert words.count(label) == 1, (label, words)


def test_a_5000_character_value_does_not_widen_the_audit_page(page, admin_user):
    audit_record(actor=admin_user, action="hosts.check", message="x" * 5000)
    log_in(page, admin_user.username)
    page.goto("/audit/")
    page.get_by_text("x" * 100, exact=False).wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), width
