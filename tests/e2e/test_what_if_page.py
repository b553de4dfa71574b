"""The What-if page in a real browser, on a sandbox pool of two running hosts."""

import pytest

from clusters.iohealth.services import io_health_collect
from clusters.models import Cluster
from console.demo import sandbox_pool_seed
from core.models import Task
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import start_agent, stop_process
from tests.e2e.conftest import log_in
from tests.pools import wait_until_monitor_sees_running

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pair(sandbox_dir, console_worker, settings):
    settings.AGENT_CALL_TIMEOUT = 10
    cluster = sandbox_pool_seed(sandbox_dir=sandbox_dir, host_count=2)
    agent = start_agent(sandbox_dir)
    assert finished(Task.objects.filter(kind="clusters.start").latest("pk")).status == "succeeded"
    wait_until_monitor_sees_running(cluster, 2)
    io_health_collect(timeout=10)
    yield cluster
    stop_process(agent)


def test_a_reader_asks_what_a_bond_failure_does_to_a_pair(page, screenshot, pair, readonly_user):
    cluster = Cluster.objects.get()
    log_in(page, readonly_user.username)
    page.goto(cluster.get_absolute_url())
    page.get_by_role("link", name="What if…").click()
    page.locator("#failure").select_option(label="sandbox-01's bond bond0 goes down")
    page.get_by_role("button", name="Show who fences").click()

    summary = page.locator("#outcome-summary")
    assert "Fenced: sandbox-02." in summary.inner_text()
    fenced = page.locator('tr[data-host="sandbox-02"]')
    assert fenced.get_attribute("data-fate") == "fenced"
    assert "fenced at 96 s" in fenced.inner_text()
    assert "lacks node 0, the lowest numbered heartbeating node" in fenced.inner_text()
    timeline = fenced.locator(".timeline li")
    assert timeline.nth(0).inner_text().startswith("t = 30 s o2net: the connection to sandbox-01")
    assert timeline.nth(1).inner_text().startswith("t = 96 s quorum decision")
    kept = page.locator('tr[data-host="sandbox-01"]')
    assert kept.get_attribute("data-fate") == "survives"
    assert "holds node 0" in kept.inner_text()
    # The choice stays picked, so a second question starts from the first.
    assert page.locator("#failure").input_value() == "bond|bond0|sandbox-01"
    screenshot("what-if-bond")

    page.locator("#seconds").fill("later")
    page.get_by_role("button", name="Show who fences").click()
    assert "is no number of seconds" in page.locator("#what-if-error").inner_text()
    assert page.locator("#seconds").input_value() == "later"
    assert page.console_problems == []
