"""Edges a user meets: where a form sends you back, who reads the API's schema, and
names that look like something else."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from clusters.models import Cluster
from core.services.alerts import alert_raise
from tests.conftest import api_client_for


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/", "//evil.example/x", "http:evil.example", "\\\\evil.example"],
)
def test_acknowledging_an_alert_never_sends_you_off_site(client, operator_user, next_url):
    alert = alert_raise(name="HOST_SILENT", target=None, priority=3, message="m")
    client.force_login(operator_user)
    answer = client.post(reverse("alert-acknowledge", args=[alert.pk]), {"next": next_url})
    assert answer.status_code == 302
    assert answer.url == reverse("alert-list")


def test_acknowledging_an_alert_returns_to_the_page_it_came_from(client, operator_user):
    alert = alert_raise(name="HOST_SILENT", target=None, priority=3, message="m")
    client.force_login(operator_user)
    answer = client.post(reverse("alert-acknowledge", args=[alert.pk]), {"next": "/?from=alert"})
    assert answer.url == "/?from=alert"


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
def test_the_api_schema_and_docs_need_the_read_only_role(db, outsider_user, readonly_user, url):
    assert APIClient().get(url).status_code == 401
    assert api_client_for(outsider_user).get(url).status_code == 403
    assert api_client_for(readonly_user).get(url).status_code == 200


BIDI_NAMES = ["Pool\u202egnp", "Pool\u2066x\u2069", "Pool\u200b", "Pool\nB"]


@pytest.mark.parametrize("name", BIDI_NAMES)
def test_cluster_names_with_control_characters_are_refused_on_the_page(client, admin_user, name):
    client.force_login(admin_user)
    answer = client.post(reverse("cluster-list"), {"name": name, "cluster_name": "pool"})
    assert answer.status_code == 200
    assert "control or invisible formatting characters" in answer.content.decode()
    assert not Cluster.objects.exists()


@pytest.mark.parametrize("name", [*BIDI_NAMES, "nul\x00"])
def test_cluster_names_with_control_characters_are_refused_by_the_api(admin_api, name):
    answer = admin_api.post("/api/clusters/", {"name": name, "cluster_name": "pool"}, format="json")
    assert answer.status_code == 400
    assert "name" in answer.json()["detail"]
    assert not Cluster.objects.exists()
