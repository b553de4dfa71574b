"""The live parts of the pages: what an htmx poll gets back, and sentences without gaps."""

import re

import pytest
from django.urls import reverse

from clusters.iohealth.services import io_health_record
from clusters.models import ClusterHostStatus
from core.models import Task
from tests.clusters.factories import ClusterFactory, HostFactory
from tests.clusters.test_io_health import probe

pytestmark = pytest.mark.django_db

POLL = {"HTTP_HX_REQUEST": "true"}


def words(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture
def restart_pending(db):
    """A cluster one of whose hosts says only a restart applies a change: a banner."""
    cluster, host = ClusterFactory(), HostFactory()
    ClusterHostStatus.objects.create(
        cluster=cluster, host=host, reachable=True, running=True, needs_restart=True,
        restart_reasons=["node 3 was removed"],
    )  # fmt: skip
    io_health_record(host=host, probe=probe())
    return cluster, host


def live_urls(cluster, host) -> dict[str, str]:
    task = Task.objects.create(name="Something long", kind="test", status="running")
    return {
        "dashboard-live": reverse("dashboard"),
        "host-io-live": reverse("host-io", args=[host.pk]),
        "cluster-live": reverse("cluster-detail", args=[cluster.pk]),
        "task-live": reverse("task-detail", args=[task.pk]),
    }


def test_every_live_part_polls_its_page_and_its_answer_carries_the_banners(
    client, readonly_user, restart_pending
):
    client.force_login(readonly_user)
    for part, url in live_urls(*restart_pending).items():
        page = client.get(url).content.decode()
        assert page.count('data-banner="needs-restart"') == 1, url
        assert f'id="{part}"' in page and 'hx-trigger="every' in page, url
        poll = client.get(url, **POLL).content.decode()
        assert "<html" not in poll, url  # the live part only
        assert f'id="{part}"' in poll, url
        # The banners come along out of band, so they change on every page with a live part.
        assert '<div id="banners" hx-swap-oob="true">' in poll, url
        assert poll.count('data-banner="needs-restart"') == 1, url


def test_the_banners_go_when_the_restart_is_done_at_the_next_poll(
    client, readonly_user, restart_pending
):
    client.force_login(readonly_user)
    ClusterHostStatus.objects.update(needs_restart=False, restart_reasons=[])
    poll = client.get(reverse("dashboard"), **POLL).content.decode()
    assert '<div id="banners" hx-swap-oob="true">' in poll
    assert "needs-restart" not in poll


@pytest.mark.parametrize(
    ("probes", "sentence"),
    [
        ([], "No host checked yet."),
        ([probe()], "1 ok."),
        (
            [probe(), probe(mp="current_failed_faulty_offline.txt")],
            "1 ok, 1 degraded; 1 risky setting.",
        ),
        ([probe(mp="current_all_paths_down_queueing.txt")], "1 critical."),
    ],
)
def test_the_dashboards_io_sentence_names_only_states_some_host_is_in(
    client, readonly_user, probes, sentence
):
    for data in probes:
        io_health_record(host=HostFactory(), probe=data)
    client.force_login(readonly_user)
    text = words(client.get(reverse("dashboard"), **POLL))
    counts = text.split("I/O paths", 1)[1]
    assert sentence in counts, counts[:200]
    assert ", ." not in text and ", ;" not in text
