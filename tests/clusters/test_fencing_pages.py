"""The What-if page and POST /api/clusters/{id}/what-if/: pick a failure, see who fences
when and why; bad input is refused with its reason and the form keeps what was chosen."""

import pytest
from django.urls import reverse

from clusters.models import Membership
from tests.clusters.factories import ClusterFactory, HostFactory, plugged_sr, seen_running
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def trio():
    """Three running members, one SR (so one heartbeat region, on its LUN)."""
    cluster = ClusterFactory()
    hosts = [HostFactory(hostname=f"node-{i}") for i in (1, 2, 3)]
    for number, host in enumerate(hosts, start=1):
        Membership.objects.create(
            cluster=cluster, host=host, number=number, host_uuid=host.uuid, hostname=host.hostname
        )
        seen_running(cluster, host)
    sr = plugged_sr(cluster, hosts[1:])
    return cluster, hosts, sr


def test_the_cluster_page_links_to_what_if(client, readonly_user, trio):
    cluster, _hosts, _sr = trio
    client.force_login(readonly_user)
    page = client.get(cluster.get_absolute_url()).content.decode()
    assert reverse("cluster-what-if", args=[cluster.pk]) in page and "What if…" in page


def test_the_page_shows_each_hosts_fate_rule_and_timeline(client, readonly_user, trio):
    cluster, _hosts, sr = trio
    client.force_login(readonly_user)
    url = reverse("cluster-what-if", args=[cluster.pk])
    page = client.get(url).content.decode()
    assert f'value="lun|{sr.lun.scsi_id}|"' in page
    assert "heartbeats on 1 quorum region(s)" in page  # the advice, with its fix
    assert "Add heartbeat regions until there are three" in page

    page = client.get(url, {"failure": f"lun|{sr.lun.scsi_id}|", "seconds": ""}).content.decode()
    assert "Fenced: node-1, node-2, node-3." in page
    assert page.count('data-fate="fenced"') == 3
    assert "o2hb_write_timeout" in page and "1 of 1 quorum region(s) failed, at least half" in page
    assert "t = 60 s" in page

    page = client.get(url, {"failure": "host|node-1|"}).content.decode()
    assert "The SRs stay on node-2, node-3." in page
    assert 'data-host="node-1" data-fate="failed"' in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"failure": "array_pause|LIO|", "seconds": "soon"}, "is no number of seconds"),
        ({"failure": "array_pause|LIO|", "seconds": "-5"}, "is no number of seconds"),
        ({"failure": "host|nobody|"}, "has no host nobody"),
        ({"failure": "meteor|x|"}, "No such failure."),
    ],
)
def test_bad_input_is_refused_with_its_reason_and_the_choice_kept(
    client, readonly_user, trio, query, message
):
    cluster, _hosts, _sr = trio
    client.force_login(readonly_user)
    response = client.get(reverse("cluster-what-if", args=[cluster.pk]), query)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="what-if-error"' in page and message in page
    assert 'id="outcome"' not in page
    if "seconds" in query:
        assert f'value="{query["seconds"]}"' in page


def test_the_api_answers_the_outcome_and_refuses_what_the_cluster_lacks(readonly_user, trio):
    cluster, _hosts, sr = trio
    api = api_client_for(readonly_user)  # a question changes nothing: read-only may ask
    url = f"/api/clusters/{cluster.pk}/what-if/"
    body = api.post(url, {"kind": "bond", "target": "o2net", "host": "node-2"}, format="json")
    assert body.status_code == 400  # no bond of that name: the console knows none
    assert "node-2 has no bond o2net" in body.json()["message"]

    answer = api.post(url, {"kind": "nic", "target": "o2net", "host": "node-2"}, format="json")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["fenced"] == ["node-2"] and data["sr_holders"] == ["node-3"]
    assert data["network_decision_s"] == 30 + 66
    (second,) = [h for h in data["hosts"] if h["host"] == "node-2"]
    assert second["rule"] == "o2quo_make_decision" and second["at_s"] == 96
    assert "an odd count needs a majority, 2" in second["why"]
    assert [e["at_s"] for e in second["events"]] == [30, 96]

    paused = api.post(
        url, {"kind": "array_pause", "target": "of unknown vendor", "seconds": 300}, format="json"
    )
    assert paused.status_code == 200 and paused.json()["fenced"] == []
    for bad in (
        {"kind": "meteor", "target": "x"},
        {"kind": "array_pause", "target": "x", "seconds": -1},
    ):
        refused = api.post(url, bad, format="json")
        assert refused.status_code == 400
