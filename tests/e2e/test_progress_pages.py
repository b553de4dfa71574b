"""Long work is visible in the browser: a page that waits on hosts says who answered."""

import re

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Playwright holds every locator until a navigation in flight ends, by which time the
# waiting panel is gone: the page itself reports what its panel shows, as it changes.
REPORT_WAITING = """
new MutationObserver(() => {
  const panel = document.querySelector(".waiting[role=status]");
  if (!panel) return;
  const bar = panel.querySelector("progress");
  window.reportWaiting({
    doing: panel.querySelector(".waiting-doing").textContent,
    elapsed: panel.querySelector(".waiting-elapsed").textContent,
    max: bar.getAttribute("max"),
    value: bar.hasAttribute("value") ? bar.value : null,
  });
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def watch_waiting(page) -> list[dict]:
    seen = []
    page.expose_function("reportWaiting", lambda shown: seen.append(shown))
    page.add_init_script(REPORT_WAITING)
    return seen


def test_add_storage_shows_which_members_answered_while_it_waits(
    page, screenshot, storage_pool, admin_user
):
    from tests.core.test_progress import slow
    from tests.e2e.conftest import log_in

    cluster, roots = storage_pool
    slow(roots, "sandbox-03", 4)
    seen = watch_waiting(page)
    log_in(page, admin_user.username)
    page.goto(f"/clusters/{cluster.pk}/")
    page.get_by_role("link", name="Add storage…").click()
    page.locator("#luns tbody tr[data-lun]").first.wait_for()
    waiting = [s for s in seen if s["doing"] == "2 of 3 hosts answered; waiting for sandbox-03"]
    assert waiting, [s["doing"] for s in seen]
    assert all((s["max"], s["value"]) == ("3", 2) for s in waiting)
    assert all(
        re.fullmatch(r"Waiting \d+(\.\d)? s; this step gives up after 10 s", s["elapsed"])
        for s in waiting
    ), waiting
    assert page.locator(".waiting").count() == 0, "the answer replaced the page"
    assert page.console_problems == []


def test_a_second_click_while_waiting_sends_nothing_more(page, storage_pool, admin_user):
    from core.models import AuditEvent
    from tests.core.test_progress import slow
    from tests.e2e.conftest import log_in

    _cluster, roots = storage_pool
    slow(roots, "sandbox-02", 3)
    seen = watch_waiting(page)
    log_in(page, admin_user.username)
    page.goto("/faults/")
    form = page.locator("section[data-host=sandbox-02] form[data-progress]")
    form.locator("select[name=fault]").select_option("restore")
    form.get_by_role("button", name="Apply").evaluate(
        "button => setTimeout(() => { button.click(); button.click(); })"
    )
    page.locator(".message").first.wait_for(timeout=15_000)
    assert "Asking sandbox-02's agent (sandbox_fault)" in {s["doing"] for s in seen}
    said = page.locator(".message").first.inner_text()
    assert AuditEvent.objects.filter(action="sandbox.fault").count() == 1, (said, seen)
    assert page.console_problems == []
