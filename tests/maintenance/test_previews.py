"""Every preview that takes a host out of service shows its quorum and liveness impact."""

import pytest
from django.urls import reverse

from clusters.agents import agent
from clusters.models import Membership
from clusters.services.memberships import cluster_reconcile_start
from tests.clusters.test_cluster_lifecycle import finished
from tests.conftest import api_client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def preview(user, path, **body) -> dict:
    answer = api_client_for(user).post(
        f"/api/maintenance/{path}/", {**body, "dry_run": True}, format="json"
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def sentences(answer: dict) -> list[str]:
    return [impact["sentence"] for impact in answer["impacts"]]


def test_removal_and_rolling_restart_previews_show_quorum_and_liveness(
    maintenance_pool, admin_user, client
):
    (first, second, third), _roots = maintenance_pool
    membership = Membership.objects.get(host=first)
    cluster = membership.cluster

    entering = preview(admin_user, "enter", host=first.pk)
    removal = preview(admin_user, "remove", host=first.pk)
    assert sentences(removal) == sentences(entering), "the maintenance preview's block"
    (impact,) = removal["impacts"]
    assert impact["kind"] == "quorum" and impact["heartbeating_after"] == 2
    assert "2 of 3 nodes keep heartbeating" in impact["sentence"]
    restart = preview(admin_user, "rolling-restart", cluster=cluster.pk)
    assert [s.split(",")[0] for s in sentences(restart)] == [
        f"While {host} restarts" for host in (first, second, third)
    ]
    assert all("2 of 3 nodes keep heartbeating" in s for s in sentences(restart))

    client.force_login(admin_user)
    pages = {
        "rolling restart": reverse("cluster-rolling-restart", args=[cluster.pk]),
        "host removal": reverse("host-maintenance", args=[first.pk]),
        "node removal": reverse("membership-destroy", args=[membership.pk]),
    }
    for name, url in pages.items():
        page = client.get(url).content.decode()
        assert "Quorum and liveness" in page, name
        assert "2 of 3 nodes keep heartbeating" in page, name

    # O2CB stopped by hand on one host: the previews say who no longer heartbeats.
    agent(third).cluster_stop(cluster.cluster_name)
    assert finished(cluster_reconcile_start(cluster=cluster, reason="test")).status == "succeeded"
    removal = preview(admin_user, "remove", host=first.pk)
    assert "1 of 3 nodes keep heartbeating" in removal["impacts"][0]["sentence"]
    assert f"not heartbeating now: {third} (cluster stopped)" in removal["impacts"][0]["sentence"]
    restart = preview(admin_user, "rolling-restart", cluster=cluster.pk)
    assert f"not heartbeating now: {third} (cluster stopped)" in sentences(restart)[0]
    assert any(f"{third} does not run" in r for r in restart["refusals"])
    page = client.get(pages["node removal"]).content.decode()
    assert f"not heartbeating now: {third} (cluster stopped)" in page
