"""Pages of a large pool show summaries, the hosts that need a look, and pages of rows."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clusters.iohealth.selectors import Window, health_series, health_series_many
from clusters.iohealth.services import io_health_record, samples_record
from clusters.models import (
    LUN,
    PBD,
    SR,
    ClusterHostStatus,
    HealthRollup,
    Membership,
    peers_in_brief,
)
from tests.clusters.test_io_health import probe

from .factories import ClusterFactory, HostFactory


def text(response) -> str:
    """The page's words, without markup inside a sentence."""
    html = re.sub(r"</?(span|strong|a)\b[^>]*>", "", response.content.decode())
    return " ".join(html.split())


@pytest.fixture
def big_cluster(db):
    """40 running members that all see each other alive, but node 7 sees node 3 dead."""
    now = timezone.now()
    cluster = ClusterFactory()
    hosts = [HostFactory(last_heard=now, boot_time=now) for _ in range(40)]
    for number, host in enumerate(hosts):
        Membership.objects.create(
            cluster=cluster, host=host, number=number, host_uuid=host.uuid, hostname=host.hostname
        )
    everyone = [
        {"number": n, "hostname": h.hostname, "state": "alive"} for n, h in enumerate(hosts)
    ]
    for number, host in enumerate(hosts):
        peers = [
            {**p, "state": "dead"} if number == 7 and p["number"] == 3 else p for p in everyone
        ]
        ClusterHostStatus.objects.create(
            cluster=cluster, host=host, reachable=True, running=True, peers=peers,
            **peers_in_brief(peers), queried=now,
        )  # fmt: skip
    return cluster, hosts


def test_a_large_dashboard_counts_hosts_and_lists_only_those_needing_a_look(
    client, readonly_user, big_cluster
):
    _cluster, hosts = big_cluster
    hosts[5].last_heard = timezone.now() - timedelta(hours=1)
    hosts[5].save()
    hosts[9].enabled = False
    hosts[9].save()
    client.force_login(readonly_user)
    page = text(client.get(reverse("dashboard")))
    assert "38 up, 1 silent, 1 disabled. All 40 hosts. Those that need a look:" in page
    assert f'data-host="{hosts[5].hostname}"' in page
    assert f'data-host="{hosts[9].hostname}"' in page
    assert f'data-host="{hosts[0].hostname}"' not in page


def test_a_large_cluster_page_shows_members_a_page_at_a_time_and_who_sees_whom(
    client, readonly_user, big_cluster
):
    cluster, hosts = big_cluster
    client.force_login(readonly_user)
    first = text(client.get(reverse("cluster-detail", args=[cluster.pk])))
    assert "40 members: 40 running." in first
    assert 'data-node="0"' in first and 'data-node="39"' in first
    assert 'class="pager"' not in first  # 40 rows fit one page of 50
    # Node 7 is the only host that does not see every member alive.
    assert f"<th>{hosts[7].hostname}</th><td>3 {hosts[3].hostname}: dead</td>" in first
    disagreements = first.split('id="peer-disagreements"')[1].split("</table>")[0]
    assert disagreements.count("<tr><th>") == 2  # its heading and node 7


def test_a_cluster_page_of_more_than_fifty_members_has_pages(client, readonly_user, big_cluster):
    cluster, _hosts = big_cluster
    now = timezone.now()
    for number in range(40, 60):
        host = HostFactory(last_heard=now)
        Membership.objects.create(
            cluster=cluster, host=host, number=number, host_uuid=host.uuid, hostname=host.hostname
        )
    client.force_login(readonly_user)
    url = reverse("cluster-detail", args=[cluster.pk])
    second = text(client.get(url, {"page": 2}))
    assert "Page 2 of 2" in second
    assert 'data-node="55"' in second and 'data-node="3"' not in second
    assert "20 not checked yet" in second


def test_the_sr_page_puts_the_hosts_in_trouble_first(client, readonly_user, db):
    cluster = ClusterFactory()
    healthy = [HostFactory(hostname=f"a-{n}") for n in range(3)]
    blind = HostFactory(hostname="z-blind")  # its multipath shows other LUNs only
    for host in healthy:
        io_health_record(host=host, probe=probe())
    io_health_record(host=blind, probe=probe(mp="current_failed_faulty_offline.txt"))
    wwid = probe()["multipath"]["maps"][0]["wwid"]
    sr = SR.objects.create(
        name="Gold", lun=LUN.objects.create(scsi_id=wwid, size=1), cluster=cluster
    )
    for host in [*healthy, blind]:
        PBD.objects.create(host=host, sr=sr, plugged=True)
    client.force_login(readonly_user)
    page = text(client.get(reverse("sr-io", args=[sr.pk])))
    rows = [r.split('"')[0] for r in page.split('<tr data-host="')[1:]]
    assert rows == ["z-blind", "a-0", "a-1", "a-2"]
    assert "4 hosts, 1 critical, 3 ok; the worst first." in page
    assert f"z-blind does not see LUN {wwid}." in page


def test_a_lun_whose_wwid_is_all_digits_is_found(client, readonly_user, db):
    """A JSON key of digits is no array index: the SR page finds the host's view of it."""
    wwid = "36001405123456789012345678901234"
    data = probe()
    data["multipath"]["maps"][0]["wwid"] = wwid
    host = HostFactory()
    io_health_record(host=host, probe=data)
    sr = SR.objects.create(
        name="Digits", lun=LUN.objects.create(scsi_id=wwid, size=1), cluster=ClusterFactory()
    )
    PBD.objects.create(host=host, sr=sr, plugged=True)
    client.force_login(readonly_user)
    page = text(client.get(reverse("sr-io", args=[sr.pk])))
    assert "LUN not seen" not in page
    assert "1 host, 1 ok" in page


def test_an_sr_row_holds_its_own_luns_problems_not_a_similar_names(client, readonly_user, db):
    """Map names are matched whole: a broken `ocfs2_vmstore` is no problem of `ocfs2_vm`."""
    data = probe(mp="current_failed_faulty_offline.txt")
    broken = data["multipath"]["maps"][0]
    healthy = probe()["multipath"]["maps"][0]
    healthy["name"] = broken["name"][:-3]
    data["multipath"]["maps"].append(healthy)
    host = HostFactory()
    io_health_record(host=host, probe=data)
    assert any(broken["name"] in p["subject"] for p in host.io_health.problems)
    sr = SR.objects.create(
        name="Healthy",
        lun=LUN.objects.create(scsi_id=healthy["wwid"], size=1),
        cluster=ClusterFactory(),
    )
    PBD.objects.create(host=host, sr=sr, plugged=True)
    client.force_login(readonly_user)
    page = text(client.get(reverse("sr-io", args=[sr.pk])))
    assert "1 host, 1 ok" in page


def host_with_regions(count: int):
    """A host running `count` heartbeat regions, each with lag samples over the last hour
    and an hourly rollup from the day before them."""
    data = probe()
    cluster = data["heartbeat"]["clusters"][0]
    cluster["regions"] = [
        {"region": f"{n:032X}", "device": f"dm-{n}", "elapsed_ms": 100 * n} for n in range(count)
    ]
    host = HostFactory()
    io_health_record(host=host, probe=data)  # one sample per region, now
    now = timezone.now()
    old_hour = (now - timedelta(hours=20)).replace(minute=0, second=0, microsecond=0)
    for n in range(count):
        region = f"{n:032X}"
        samples_record(
            host=host,
            time=now - timedelta(minutes=30),
            values=[("heartbeat_lag_ms", region, 1000.0 + n)],
        )
        HealthRollup.objects.create(
            host=host, metric="heartbeat_lag_ms", subject=region, hour=old_hour,
            count=10, minimum=5.0, maximum=7000.0 + n, mean=50.0,
        )  # fmt: skip
    return host


def host_io_page(client, host):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("host-io", args=[host.pk]))
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def test_the_host_io_page_of_32_regions_takes_as_few_queries_as_that_of_2(
    client, readonly_user, db
):
    client.force_login(readonly_user)
    _page, two = host_io_page(client, host_with_regions(2))
    page, thirty_two = host_io_page(client, host_with_regions(32))
    assert thirty_two == two
    assert thirty_two <= 12, thirty_two
    # Every region still gets both charts, from its own samples and rollups.
    assert page.count('class="region"') == 32
    assert page.count("lag-line") == 64
    last = page.split(f'data-region="{31:032X}"')[1].split('class="region"')[0]
    assert "last write 3100 ms ago" in last
    assert "lag-peak" in last


def test_many_series_fold_each_window_as_one_series_would(db):
    host = host_with_regions(3)
    now = timezone.now()
    hour = Window(now - timedelta(hours=1), now, 120)
    day = Window(now - timedelta(days=1), now, 144)
    regions = [f"{n:032X}" for n in range(3)]
    many = health_series_many(
        host_id=host.pk, metric="heartbeat_lag_ms", subjects=regions, windows=[hour, day]
    )
    for region in regions:
        for window, points in zip([hour, day], many[region], strict=True):
            alone = health_series(
                host_id=host.pk, metric="heartbeat_lag_ms", subject=region,
                since=window.since, until=window.until, points=window.points,
            )  # fmt: skip
            assert points == alone
    # The last hour holds the two samples; the day adds the rollup from 20 hours ago.
    assert [p.maximum for p in many[regions[2]][0]] == [1002.0, 200.0]
    assert [p.maximum for p in many[regions[2]][1]] == [7002.0, 1002.0, 200.0]
