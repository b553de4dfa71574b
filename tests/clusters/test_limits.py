"""Limits of what an admin types: a value over its limit is refused whole, saying the
limit and why, through the API and the pages alike; nothing is cut to fit."""

import re

import pytest

from clusters.models import Cluster
from core.models import ApiToken
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

LONG_NAME = "x" * 5000
LONG_CLUSTER_NAME = "a" * 40


def test_the_api_refuses_overlong_cluster_names_saying_each_limit(admin_user):
    response = api_client_for(admin_user).post(
        "/api/clusters/",
        {"name": LONG_NAME, "cluster_name": LONG_CLUSTER_NAME, "auto_join": False},
        format="json",
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["name"] == [
        "'name' is at most 100 characters; this one has 5000. Nothing was cut: shorten it "
        "and send it again."
    ]
    [refusal] = detail["cluster_name"]
    assert refusal.startswith("'cluster_name' is at most 16 characters (OCFS2_CLUSTER_NAME_LEN")
    assert "this one has 40" in refusal
    assert not Cluster.objects.exists()


def test_the_cluster_form_sends_the_whole_name_and_is_refused_saying_each_limit(client, admin_user):
    client.force_login(admin_user)
    form = client.get("/clusters/").content.decode()
    inputs = re.findall(r'<input type="text" name="(?:name|cluster_name)"[^>]*>', form)
    assert len(inputs) == 2
    assert not [i for i in inputs if "maxlength" in i], "a browser would cut a pasted name"
    page = client.post(
        "/clusters/", {"name": LONG_NAME, "cluster_name": LONG_CLUSTER_NAME}
    ).content.decode()
    assert "&#x27;Name in the console&#x27; is at most 100 characters; this one has 5000." in page
    assert "&#x27;Name on the hosts&#x27; is at most 16 characters (OCFS2_CLUSTER_NAME_LEN" in page
    assert "this one has 40. Nothing was cut" in page
    assert LONG_CLUSTER_NAME in page, "what was typed stays in the form"
    assert not Cluster.objects.exists()


def test_a_name_at_its_limit_is_taken_whole(admin_user):
    response = api_client_for(admin_user).post(
        "/api/clusters/",
        {"name": "n" * 100, "cluster_name": "c" * 16, "auto_join": False},
        format="json",
    )
    assert response.status_code == 201, response.json()
    cluster = Cluster.objects.get()
    assert (len(cluster.name), len(cluster.cluster_name)) == (100, 16)


def test_the_token_page_sends_the_whole_name_and_is_refused_saying_the_limit(client, admin_user):
    client.force_login(admin_user)
    form = client.get("/tokens/").content.decode()
    [name_input] = re.findall(r'<input name="name"[^>]*>', form)
    assert "maxlength" not in name_input
    response = client.post("/tokens/", {"name": LONG_NAME})
    assert response.status_code == 400
    assert "at most 100 characters (it has 5000)" in response.content.decode()
    assert not ApiToken.objects.exists()
