"""Real browser tests: Playwright drives Debian's Chromium against a live console."""

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"No Chromium at {CHROMIUM}: `make test` installs Debian's chromium.")
    # Django's async-safety check trips on Playwright's event loop in this thread.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    # Anything the browser refuses (CSP) or fails to load is a defect a user would see.
    page.console_problems = []
    page.on("console", lambda msg: msg.type == "error" and page.console_problems.append(msg.text))
    page.on("pageerror", lambda exc: page.console_problems.append(str(exc)))
    yield page
    context.close()


@pytest.fixture
def screenshot(page, request):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def log_in(page, username: str, password: str = "correct-horse-battery") -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def task_ends(page, expected: str = "Succeeded", timeout_ms: int = 90_000) -> None:
    """On the task page a job led to, wait until the task ends; it must end as expected."""
    page.wait_for_url("**/tasks/*/")
    page.locator("#task-status", has_text=re.compile("^(Succeeded|Failed)$")).wait_for(
        timeout=timeout_ms
    )
    assert page.locator("#task-status").inner_text() == expected


@pytest.fixture
def sandbox_pool(sandbox_dir, console_worker, settings):
    """Two seeded sandbox hosts with their agent, after one I/O-health round."""
    from clusters.iohealth.services import io_health_collect
    from console.demo import sandbox_pool_seed
    from tests.conftest import start_agent, stop_process

    settings.AGENT_CALL_TIMEOUT = 10
    cluster = sandbox_pool_seed(sandbox_dir=sandbox_dir, host_count=2)
    agent = start_agent(sandbox_dir)
    io_health_collect(timeout=10)
    yield cluster
    stop_process(agent)
