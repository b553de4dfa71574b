"""Crashes in a real browser: a sandbox host fences and the console explains it unasked;
an uploaded log with markup in it is shown as text."""

import pytest

from clusters.iohealth.services import io_health_collect
from crashes.models import HostCrashdump
from tests.conftest import wait_for
from tests.e2e.conftest import log_in
from tests.fencing import fence

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_sandbox_fence_arrives_explained_on_the_dashboard(
    page, screenshot, heartbeating_pool, admin_user
):
    _cluster, (victim, survivor) = heartbeating_pool
    fence(victim)
    io_health_collect(timeout=10)  # the health round that finds the stall
    crash = wait_for(
        lambda: HostCrashdump.objects.filter(hostname=victim.hostname).first(),
        60,
        message="the fence never reached the console",
    )
    assert crash.cause == "o2cb" and crash.source == "agent"
    wait_for(lambda: HostCrashdump.objects.get(pk=crash.pk).incident_id, 30)

    log_in(page, admin_user.username)
    card = page.locator("#recent-crashes")
    assert "Fenced by O2CB" in card.inner_text()
    assert victim.hostname in card.inner_text()
    screenshot("dashboard-crash")
    card.get_by_role("link").first.click()
    assert "dm-0" in page.locator("#crash-explanation").inner_text()
    assert page.locator("pre.log .cited").count() >= 1
    timeline = page.locator("#timeline").inner_text()
    assert survivor.hostname in timeline and "Begin recovery on domain" in timeline
    screenshot("after-a-crash")
    page.get_by_role("button", name="Acknowledge").click()
    assert "Acknowledged" in page.locator("main").inner_text()
    assert page.console_problems == []


def test_an_uploaded_log_with_markup_is_shown_as_text(
    page, screenshot, tmp_path, admin_user, console_worker
):
    log = tmp_path / "kern.log"
    log.write_text(
        "Nov 25 06:00:00 h1 kernel: [ 10.0] <b>bold</b> <img src=x onerror=alert(1)>\n"
        "Nov 25 06:00:01 h1 kernel: [ 11.0] BUG: unable to handle kernel NULL pointer "
        "dereference at 0000000000000008 <i>x</i>\n"
        "Nov 25 06:00:01 h1 kernel: [ 11.1] RIP: 0010:ocfs2_foo+0x12/0x340 [ocfs2]\n"
        "Nov 25 06:00:02 h1 kernel: [ 11.2] Kernel panic - not syncing: Fatal exception\n"
    )
    log_in(page, admin_user.username)
    page.get_by_role("link", name="Crashes").click()
    page.locator("#crash-upload input[type=file]").set_input_files(str(log))
    page.get_by_role("button", name="Upload and analyse").click()
    # The analysis runs in a task; its page follows it and links the crash when done.
    page.locator("#task-result").click()
    page.locator("#crash-explanation").wait_for()
    assert page.locator("#crash-cause").inner_text() == "Software bug"
    evidence = page.locator("#evidence").inner_text()
    assert "<i>x</i>" in evidence, "markup in a log line is shown as text"
    assert page.locator("main img, main i, main b").count() == 0
    screenshot("uploaded-bug")
    assert page.console_problems == []
