"""Pools in a real browser: a pool-admin adds a pool at a stand-in master (over real
HTTP); a wrong password is refused with what was typed kept but the password; the
right one adds it, and the rounds worker reads its hosts onto its page."""

import pytest

from tests.e2e.conftest import log_in
from tests.xapi.master import FakePool

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def master(settings):
    settings.XAPI_TIMEOUT = 5.0
    fake = FakePool(password="pool-Secret-1")
    for name in ("xs-01", "xs-02"):
        fake.serve_host(fake.add_host(name_label=name))
    yield fake
    fake.stop_all()


def test_a_pool_admin_adds_a_pool(page, screenshot, admin_user, master, console_worker):
    log_in(page, admin_user.username)
    page.get_by_role("link", name="Pools").click()
    page.wait_for_url("**/pools/")
    form = page.locator("#new-pool")
    form.get_by_label("Name in the console").fill("Rack 1")
    form.get_by_label("Master's address").fill(master.hosts[master.master_ref]["address"])
    form.get_by_label("User").fill("root")
    form.get_by_label("Password").fill("wrong-password")
    form.get_by_role("button", name="Add pool").click()
    assert "refused the log-in of root" in page.locator("#new-pool").inner_text()
    assert form.get_by_label("Name in the console").input_value() == "Rack 1"
    assert form.get_by_label("Password").input_value() == ""  # typed again, and only it
    screenshot("refused")

    form.get_by_label("Password").fill("pool-Secret-1")
    form.get_by_role("button", name="Add pool").click()
    page.wait_for_url("**/pools/*/")
    assert "Pool Rack 1 added" in page.content()
    for _ in range(40):  # the rounds worker's first read
        if page.locator("#pool-hosts", has_text="xs-02").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    assert "xs-01" in page.locator("#pool-hosts").inner_text()
    assert "Connected" in page.locator("#connection").inner_text()
    assert "pool-Secret-1" not in page.content()
    screenshot("added")
    assert not page.console_problems
