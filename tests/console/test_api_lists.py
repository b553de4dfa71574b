"""API lists: pages, counts and filters read in one query with the caller's role."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from clusters.models import Host
from core.permissions import can_operate, can_view
from core.services.auth import api_token_create


@pytest.fixture
def hosts(db):
    return Host.objects.bulk_create(
        Host(hostname=f"h{i:03d}", addresses=[f"10.0.0.{i}"], enabled=i % 3 != 0)
        for i in range(120)
    )


@pytest.fixture
def token_api(readonly_user):
    _token, key = api_token_create(user=readonly_user, name="lists")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_pages_hold_the_count_the_rows_and_their_addresses(hosts, token_api):
    first = token_api.get("/api/hosts/").json()
    assert first["count"] == 120
    assert [h["hostname"] for h in first["results"]] == [f"h{i:03d}" for i in range(50)]
    row = first["results"][7]
    assert row["url"] == f"http://testserver/api/hosts/{row['id']}/"
    assert token_api.get(row["url"]).json()["hostname"] == "h007"
    last = token_api.get(first["next"]).json()
    last = token_api.get(last["next"]).json()
    assert last["count"] == 120 and len(last["results"]) == 20 and last["next"] is None


def test_a_page_past_the_end_or_not_a_number_is_not_found(hosts, token_api):
    for page in ("4", "0", "-1", "two"):
        response = token_api.get(f"/api/hosts/?page={page}")
        assert response.status_code == 404, page
        assert response.json()["message"].startswith("Invalid page")


def test_filters_count_only_what_they_keep(hosts, token_api):
    disabled = token_api.get("/api/hosts/?enabled=false").json()
    assert disabled["count"] == 40
    assert all(not h["enabled"] for h in disabled["results"])
    assert token_api.get("/api/hosts/?hostname=nowhere").json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


def test_a_list_costs_three_queries_whatever_its_length(hosts, token_api):
    token_api.get("/api/hosts/")  # the token's first use is recorded (once a minute)
    with CaptureQueriesContext(connection) as queries:
        assert token_api.get("/api/hosts/").status_code == 200
    # The token, the caller's permissions, and the page with its count.
    assert len(queries) == 3, [q["sql"] for q in queries]


def test_a_permission_held_directly_counts_as_much_as_one_from_a_role(outsider_user):
    assert not can_view(outsider_user)
    outsider_user.user_permissions.add(Permission.objects.get(codename="view_pool"))
    outsider_user = type(outsider_user).objects.get(pk=outsider_user.pk)  # a fresh request
    assert can_view(outsider_user) and not can_operate(outsider_user)
    outsider_user.is_active = False
    assert not can_view(outsider_user)


def test_odd_addresses_and_queries_are_answered_not_crashed_on(hosts, token_api):
    """Found by schemathesis: each of these was a server error."""
    assert token_api.get("/api/hosts/123456789012345678901234567890/").status_code == 404
    assert token_api.get("/api/srs/null,null/io/").status_code == 404
    assert token_api.get(f"/api/hosts/?page={2**62}").status_code == 404
    refused = token_api.get("/api/storage/luns/?cluster=null")
    assert refused.status_code == 400
    assert refused.json()["message"].startswith("The request is not valid: cluster")


def test_srs_filter_by_their_disk_format(db, token_api):
    from clusters.models import LUN, SR

    from ..clusters.factories import ClusterFactory

    cluster = ClusterFactory()
    SR.objects.create(name="Gold", cluster=cluster, lun=LUN.objects.create(scsi_id="a", size=1))
    listed = token_api.get("/api/srs/?format=vhd").json()
    assert [sr["name"] for sr in listed["results"]] == ["Gold"]
    assert token_api.get("/api/srs/?format=raw").json()["count"] == 0
