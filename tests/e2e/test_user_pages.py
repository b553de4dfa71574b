"""Users in a real browser: a pool-admin makes a user with a set-password link, the user
sets their password and logs in with their role; the admin changes the role, makes a
token, deactivates them; the last pool-admin is kept; a user without a role is told so."""

import pytest

from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_pool_admin_manages_a_user_from_the_console(browser, page, screenshot, admin_user):
    log_in(page, admin_user.username)
    page.get_by_role("link", name="Users").click()
    page.wait_for_url("**/users/")
    form = page.locator("#new-user")
    form.get_by_label("User name").fill("hana")
    form.get_by_label("Role").select_option("read-only")
    form.get_by_role("button", name="Create user").click()
    link = page.locator("#new-link .mono").inner_text()
    assert "/set-password/" in link
    screenshot("user-created")

    # Hana, in a browser of her own, sets her password through the link and logs in.
    hana = browser.new_context(base_url=page.url.split("/users/")[0]).new_page()
    hana.goto(link)
    hana.get_by_label("New password:", exact=True).fill("hana-Picks-Her-Own-3")
    hana.get_by_label("New password confirmation:").fill("hana-Picks-Her-Own-3")
    hana.get_by_role("button", name="Set password").click()
    hana.get_by_text("Password set").wait_for()
    log_in(hana, "hana", "hana-Picks-Her-Own-3")
    hana.wait_for_url("**/")
    assert hana.get_by_role("link", name="Hosts").is_visible()
    assert not hana.get_by_role("link", name="Users").is_visible()  # read-only

    # The admin sees her log-in, makes her a pool-operator, and gives her a token.
    page.goto("/users/")
    row = page.locator('#users tr[data-user="hana"]')
    assert "read-only" in row.inner_text() and "never" not in row.inner_text()
    row.get_by_role("link", name="hana").click()
    page.locator("#change-role select").select_option("pool-operator")
    page.get_by_role("button", name="Change role").click()
    assert page.locator("#user-role").inner_text() == "pool-operator"
    page.locator("#user-tokens").get_by_label("Name").fill("nagios")
    page.get_by_role("button", name="Make a token").click()
    assert len(page.locator("#new-key .mono").inner_text()) > 30
    assert page.locator('#tokens tr[data-token="nagios"]').inner_text().count("active") == 1

    # Deactivated: her session ends at once.
    page.get_by_role("button", name="Deactivate hana").click()
    assert page.locator("#user-state").inner_text().startswith("deactivated")
    hana.goto("/")
    assert hana.url.split("?")[0].endswith("/login/")
    screenshot("user-deactivated")
    hana.context.close()
    assert page.console_problems == []


def test_the_last_pool_admin_is_told_why_they_cannot_step_down(page, admin_user):
    log_in(page, admin_user.username)
    page.goto(f"/users/{admin_user.pk}/")
    page.get_by_role("button", name=f"Deactivate {admin_user.username}").click()
    assert "You are the last active pool-admin" in page.locator(".message-error").inner_text()
    page.locator("#change-role select").select_option("read-only")
    page.get_by_role("button", name="Change role").click()
    assert "You are the last active pool-admin" in page.locator(".message-error").inner_text()
    assert page.locator("#user-role").inner_text() == "pool-admin"


def test_a_user_without_a_role_sees_whom_to_ask(page, screenshot, outsider_user, admin_user):
    log_in(page, outsider_user.username)
    page.locator("#no-role").wait_for()
    text = page.locator("#no-role").inner_text()
    assert "You have no role yet" in text
    assert admin_user.username in text
    screenshot("no-role")
