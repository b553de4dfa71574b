"""A newcomer's first minutes, in a real browser: log in, see the pool, follow a task."""

import pytest

from console.demo import sandbox_pool_seed
from tests.conftest import start_agent, stop_process, wait_for
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sandbox_pool(sandbox_dir, console_worker, settings):
    """The demo's pool: four sandbox hosts whose agent answers slowly enough to watch."""
    from agent.sandbox.host import iter_sandbox_hosts

    settings.AGENT_CALL_TIMEOUT = 10
    cluster = sandbox_pool_seed(sandbox_dir=sandbox_dir, host_count=4)
    for root in iter_sandbox_hosts(sandbox_dir):
        # The sandbox's emulated slow host: each agent call takes this long.
        root.path("etc/sandbox").mkdir(parents=True, exist_ok=True)
        root.path("etc/sandbox/agent-delay").write_text("0.6\n")
    agent = start_agent(sandbox_dir)
    yield cluster
    stop_process(agent)


def test_anonymous_visitors_are_sent_to_the_login_page(page, db):
    page.goto("/tasks/")
    assert page.url.split("?")[0].endswith("/login/")
    assert "next=/tasks/" in page.url


def test_admin_sees_the_pool_and_follows_a_task_live(page, screenshot, sandbox_pool, admin_user):
    log_in(page, admin_user.username)
    rows = page.locator("#hosts tbody tr[data-host]")
    rows.first.wait_for()
    assert rows.count() == 4
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.host)")) == [
        f"sandbox-{i:02d}" for i in range(1, 5)
    ]
    screenshot("dashboard")

    page.get_by_role("link", name="Hosts").click()
    page.get_by_role("button", name="Check every agent").click()
    page.wait_for_url("**/tasks/*/")
    seen = set()
    for _ in range(200):
        seen.add(int(page.locator("#task-percent").inner_text().rstrip("%")))
        if page.locator("#task-status").inner_text() == "Succeeded":
            break
        page.wait_for_timeout(100)
    assert page.locator("#task-status").inner_text() == "Succeeded"
    assert seen & {25, 50, 75}, f"progress never seen between 0 and 100: {sorted(seen)}"
    assert page.locator(".step-succeeded").count() == 4
    screenshot("task-finished")

    page.get_by_role("link", name="Dashboard").click()
    assert "never" not in page.locator("#hosts tbody").inner_text()
    assert page.console_problems == []


def test_api_docs_render_offline_under_the_csp(page, screenshot, admin_user):
    log_in(page, admin_user.username)
    page.goto("/api/docs/")
    page.locator(".swagger-ui .opblock").first.wait_for()
    assert page.locator(".swagger-ui .opblock").count() > 10
    screenshot("api-docs")
    assert page.console_problems == []


def test_read_only_user_is_not_offered_changes(page, sandbox_dir, readonly_user, db):
    log_in(page, readonly_user.username)
    page.get_by_role("link", name="Hosts").click()
    assert page.get_by_role("button", name="Check every agent").count() == 0


def test_removing_a_node_explains_itself_and_raises_the_restart_banner(
    page, screenshot, sandbox_pool, admin_user
):
    from core.models import Task

    # The demo pool starts its cluster on its own; wait until that and its check are done.
    wait_for(
        lambda: Task.objects.filter(kind="clusters.reconcile", status="succeeded").exists()
        and not Task.objects.filter(status__in=["pending", "running"]).exists(),
        60,
    )
    log_in(page, admin_user.username)
    page.goto(f"/clusters/{sandbox_pool.pk}/")
    page.locator("#members tr[data-node='3']").get_by_role(
        "link", name="Remove from cluster…"
    ).click()
    removal = page.url
    # sandbox-04 runs O2CB: O2CB removes no active node, so the page says what to do first.
    refused = page.locator("#removal-refused").inner_text()
    assert "Put sandbox-04 into maintenance first" in refused
    assert page.get_by_role("button", name="Remove node 3 from the cluster").count() == 0
    screenshot("removal-refused")
    page.get_by_role("link", name="Open sandbox-04's maintenance page").click()
    page.get_by_role("button", name="Enter maintenance").click()
    page.wait_for_url("**/tasks/*/")
    page.locator("#task-status", has_text="Succeeded").wait_for(timeout=60_000)

    page.goto(removal)
    assert "comments node 3 out" in page.locator("main").inner_text()
    screenshot("confirm-removal")
    page.get_by_role("button", name="Remove node 3 from the cluster").click()
    page.wait_for_url("**/tasks/*/")
    page.locator("#task-status", has_text="Succeeded").wait_for(timeout=60_000)
    page.get_by_role("link", name="Dashboard").click()
    banner = page.locator("[data-banner=needs-restart]")
    assert "OCFS2 pool cluster needs a cluster restart" in banner.inner_text()
    assert "Node 3 (sandbox-04) left" in banner.inner_text()
    screenshot("restart-banner")
    assert page.console_problems == []
