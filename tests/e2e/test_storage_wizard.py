"""The add-storage wizard in a real browser: two LUNs become two SRs."""

import pytest

from clusters.models import PBD, SR

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_admin_adds_two_luns(page, screenshot, storage_pool, admin_user):
    from tests.e2e.conftest import log_in, task_ends

    cluster, _roots = storage_pool
    log_in(page, admin_user.username)
    page.goto(f"/clusters/{cluster.pk}/")
    page.get_by_role("link", name="Add storage…").click()
    rows = page.locator("#luns tbody tr[data-lun]")
    assert rows.count() == 4
    for index, name in ((0, "Gold"), (1, "Silver")):
        row = rows.nth(index)
        row.locator("input[type=checkbox]").check()
        row.locator("input[name^=name_]").fill(name)
    page.get_by_role("button", name="What will happen?").click()
    steps = page.locator("#what-will-happen ol li").all_inner_texts()
    assert steps[0] == "Start the cluster on every member" and len(steps) == 8
    screenshot("storage-preview")
    page.get_by_role("button", name="Add storage").click()
    task_ends(page)
    screenshot("storage-added")
    assert sorted(SR.objects.values_list("name", flat=True)) == ["Gold", "Silver"]
    assert PBD.objects.filter(plugged=True).count() == 6
    assert page.console_problems == []
