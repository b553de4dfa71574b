"""In a real browser: a name pasted longer than its limit reaches the console whole and is
refused saying the limit; the browser cuts nothing."""

import pytest

from clusters.models import Cluster
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_overlong_cluster_name_is_refused_not_cut(page, screenshot, admin_user):
    log_in(page, admin_user.username)
    page.goto("/clusters/")
    page.locator("#id_name").fill("x" * 5000)
    page.locator("#id_cluster_name").fill("a" * 40)
    assert page.locator("#id_cluster_name").input_value() == "a" * 40, "nothing cut on typing"
    page.get_by_role("button", name="Create cluster").click()
    errors = page.locator(".errorlist")
    errors.first.wait_for()
    text = " ".join(errors.all_inner_texts())
    assert "'Name in the console' is at most 100 characters; this one has 5000." in text
    assert "'Name on the hosts' is at most 16 characters (OCFS2_CLUSTER_NAME_LEN" in text
    assert "this one has 40" in text
    assert page.locator("#id_cluster_name").input_value() == "a" * 40, "what was typed stays"
    screenshot("refused")
    assert not Cluster.objects.exists()
    assert page.console_problems == []
