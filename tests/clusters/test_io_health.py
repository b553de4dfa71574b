"""I/O-path verdicts from real parsed outputs, their alerts, pages and API."""

from pathlib import Path

import pytest
from django.urls import reverse

from agent.io_probe import multipath_report
from agent.probes.bonding import parse_bonding
from agent.probes.multipath import parse_multipath
from agent.probes.multipath_conf import parse_multipath_conf, queueing_for
from agent.probes.ovs_bond import parse_ovs_bonds
from clusters.iohealth import rules
from clusters.iohealth.services import io_health_record
from clusters.models import LUN, PBD, SR
from clusters.services.faults import fault_inject
from clusters.services.memberships import membership_create
from core.models import Alert
from tests.conftest import api_client_for

from .factories import ClusterFactory, HostFactory

FIXTURES = Path(__file__).resolve().parent.parent / "agent" / "fixtures"


def multipath(name: str, config: str | None = None) -> dict:
    return multipath_report((FIXTURES / "multipath" / name).read_text(), config)


def bond(name: str) -> dict:
    return parse_bonding((FIXTURES / "bonding" / name).read_text(), name="bond0")


def heartbeat(lag_ms=500, device="dm-4", dead_threshold=31, fence_method="panic") -> dict:
    return {
        "clusters": [
            {
                "name": "pool",
                "dead_threshold": dead_threshold,
                "dead_ms": (dead_threshold - 1) * 2000,
                "fence_method": fence_method,
                "regions": [{"region": "A" * 32, "device": device, "elapsed_ms": lag_ms}],
            }
        ]
    }


def probe(mp="current_alias_alua_two_groups.txt", bonds=("active_backup_modern.txt",), **hb):
    return {
        "multipath": multipath(mp),
        "bonds": [bond(b) for b in bonds],
        "heartbeat": heartbeat(**hb),
        "ha": None,
    }


def kinds(findings):
    return sorted({f.kind for f in findings})


def test_healthy_host_is_ok():
    verdict = rules.evaluate(probe())
    assert verdict.state == "ok"
    assert verdict.problems == []
    assert verdict.time_to_fence is None


@pytest.mark.parametrize(
    "fixture",
    ["current_failed_faulty_offline.txt", "old_048_failed_faulty.txt"],
)
def test_a_failed_path_in_either_multipath_layout_is_degraded(fixture):
    verdict = rules.evaluate(probe(mp=fixture))
    assert verdict.state == "degraded"
    problem = verdict.problems[0]
    assert problem.kind == "multipath"
    assert "paths down" in problem.message and "multipathd show paths" in problem.fix


def test_the_last_path_down_is_critical_and_names_the_lun():
    verdict = rules.evaluate(probe(mp="current_all_paths_down_queueing.txt"))
    assert verdict.state == "critical"
    assert "no working path" in verdict.problems[0].message


def test_ghost_paths_are_standby_not_failures():
    verdict = rules.evaluate(probe(mp="current_ghost_standby.txt"))
    assert verdict.state == "ok", [p.message for p in verdict.problems]


def test_bond_slave_down_is_degraded_and_all_down_is_critical():
    one_down = rules.evaluate(probe(bonds=("active_backup_failed_over_slave_down.txt",)))
    assert one_down.state == "degraded"
    assert kinds(one_down.problems) == ["bonding"]
    assert "without redundancy" in one_down.problems[0].message
    all_down = rules.evaluate(probe(bonds=("active_backup_all_down.txt",)))
    assert all_down.state == "critical"


def test_a_lacp_slave_outside_the_active_aggregator_leaves_the_bond_without_redundancy():
    # eth2 has its link but sits in aggregator 3 (its switch port is in another LACP group):
    # it carries nothing, as eth3, whose link is down, does not.
    verdict = rules.evaluate(probe(bonds=("lacp_802_3ad_stray_aggregator_xcpng.txt",)))
    assert verdict.state == "degraded"
    [problem] = verdict.problems
    assert "eth3 (link failures: 2) is down" in problem.message
    assert "eth2 has a link but is outside the active aggregator (1)" in problem.message
    assert "same LACP group" in problem.fix and "eth2" in problem.fix
    slaves = {
        key: value
        for series, key, value in rules.samples(
            probe(bonds=("lacp_802_3ad_stray_aggregator_xcpng.txt",))
        )
        if series == "slave_up"
    }
    assert slaves == {"bond0/eth0": 1, "bond0/eth1": 1, "bond0/eth2": 0, "bond0/eth3": 0}


def test_a_lacp_bond_with_no_active_aggregator_is_down_though_a_slave_has_its_link():
    # enp3s0f0 is down; enp3s0f1 is up, but the switch formed no aggregator with it.
    verdict = rules.evaluate(probe(bonds=("lacp_802_3ad_no_active_aggregator_modern.txt",)))
    assert verdict.state == "critical"
    [problem] = verdict.problems
    assert "no slave with a link is in an active LACP aggregator" in problem.message
    assert "must form one LACP group" in problem.fix
    assert "no slave has a link" not in problem.message


def ovs(name: str, lacp: str | None = None) -> list[dict]:
    read = (FIXTURES / "ovs_bond").joinpath
    return parse_ovs_bonds(read(name).read_text(), read(lacp).read_text() if lacp else None)


def test_an_ovs_bond_on_xenserver_is_judged_as_a_linux_one_and_names_ovs_appctl():
    # XenServer's vSwitch: no /proc/net/bonding; the LACP bond's second port is in
    # another LACP group on the switch, so it has a link yet OVS keeps it disabled.
    data = probe(bonds=())
    data["bonds"] = ovs("balance_tcp_lacp_member_detached.txt", "lacp_show_member_detached.txt")
    verdict = rules.evaluate(data)
    assert verdict.state == "degraded"
    [problem] = verdict.problems
    assert problem.kind == "bonding" and problem.subject == "bond-san"
    assert "Bond bond-san (balance-tcp) runs without redundancy" in problem.message
    assert "enp59s0f1 has a link but LACP left it out of the bond" in problem.message
    assert "`ovs-appctl lacp/show bond-san`" in problem.fix
    assert "/proc/net/bonding" not in problem.fix
    slaves = {k: v for series, k, v in rules.samples(data) if series == "slave_up"}
    assert slaves == {"bond-san/enp59s0f0": 1, "bond-san/enp59s0f1": 0}


def test_an_ovs_lacp_bond_the_switch_never_negotiated_is_critical():
    data = probe(bonds=())
    data["bonds"] = ovs("balance_tcp_lacp_not_negotiated.txt", "lacp_show_not_negotiated.txt")
    verdict = rules.evaluate(data)
    assert verdict.state == "critical"
    assert "LACP is not negotiated with the switch" in verdict.problems[0].message


def test_an_unreadable_bond_names_the_command_of_its_source():
    findings = rules.evaluate_bonds(
        [
            {"name": "bond0", "error": "cut", "slaves": [], "source": "linux"},
            {"name": "bond1", "error": "cut", "slaves": [], "source": "openvswitch"},
        ]
    )
    assert [f.fix for f in findings] == [
        "Read /proc/net/bonding/bond0 on the host.",
        "Run `ovs-appctl bond/show bond1` on the host.",
    ]


def test_native_nvme_paths_count_by_their_ana_state_and_controller():
    # No dm state on NVMe paths: optimized and non-optimized paths of a live controller
    # carry I/O; the inaccessible one, its controller reconnecting, does not.
    data = {"multipath": multipath("multipathd_show_topology_nvme_native.txt"), "bonds": []}
    verdict = rules.evaluate(data)
    assert verdict.state == "degraded", [p.message for p in verdict.problems]
    [problem] = verdict.problems
    assert problem.subject == "uuid.3c1b7e2a-5d4f-4a8e-9b6c-0e1f2a3b4c5d"
    assert "1 of 3 paths down: nvme2c2n1 (2:2:1, inaccessible/connecting)" in problem.message
    assert "NVMe controller nvme2 " in problem.fix
    views = rules.lun_views(data)
    assert views["uuid.3c1b7e2a-5d4f-4a8e-9b6c-0e1f2a3b4c5d"]["up"] == 2


def test_late_heartbeat_is_degraded_and_past_half_the_dead_time_critical_with_time_left():
    late = rules.evaluate(probe(lag_ms=9000))
    assert late.state == "degraded"
    assert late.time_to_fence == pytest.approx(51.0)
    near = rules.evaluate(probe(lag_ms=45000))
    assert near.state == "critical"
    assert near.time_to_fence == pytest.approx(15.0)
    assert "fences this host at 60 s" in near.problems[0].message


def test_a_heartbeat_lun_without_paths_counts_down_to_the_fence():
    parsed = multipath("current_all_paths_down_queueing.txt")
    dm = parsed["maps"][0]["dm"]
    verdict = rules.evaluate(
        {"multipath": parsed, "bonds": [], "heartbeat": heartbeat(lag_ms=1000, device=dm)}
    )
    assert verdict.state == "critical"
    assert verdict.time_to_fence == pytest.approx(59.0)
    assert any("no working path" in p.message for p in verdict.problems if p.kind == "heartbeat")


def test_configuration_that_turns_an_outage_into_a_fence_is_warned_apart():
    config = "defaults {\n\tpolling_interval 10\n\tno_path_retry 12\n}\n"
    dm = parse_multipath(
        (FIXTURES / "multipath" / "current_alias_alua_two_groups.txt").read_text()
    )["maps"][0]["dm"]
    data = {
        "multipath": multipath("current_alias_alua_two_groups.txt", config),
        "bonds": [],
        "heartbeat": heartbeat(device=dm, fence_method="reset"),
        "ha": {"enabled": True, "timeouts_s": {"StateFileTimeout": 55}},
    }
    verdict = rules.evaluate(data)
    assert verdict.state == "ok", "settings alone do not make a host unhealthy"
    assert kinds(verdict.config_warnings) == ["fence_method", "ha_timeout", "queueing"]
    queueing = next(w for w in verdict.config_warnings if w.kind == "queueing")
    assert "for 120 s" in queueing.message and "60 s" in queueing.message


def test_bounded_queueing_inside_the_dead_time_is_fine():
    config = "defaults {\n\tpolling_interval 5\n\tno_path_retry 6\n}\n"
    data = {
        "multipath": multipath("current_alias_alua_two_groups.txt", config),
        "bonds": [],
        "heartbeat": heartbeat(),
    }
    assert "queueing" not in kinds(rules.evaluate(data).config_warnings)


def test_multipath_conf_precedence_follows_libmultipath():
    conf = parse_multipath_conf(
        """
        # comment
        defaults {
            polling_interval 4
            no_path_retry fail
        }
        devices {
            device {
                vendor "NETAPP"
                product "LUN.*"
                no_path_retry queue   ! queue forever
            }
        }
        multipaths {
            multipath {
                wwid 3600a0980abc
                no_path_retry 5
            }
        }
        """
    )
    netapp = {"name": "m", "wwid": "3600", "vendor": "NETAPP", "product": "LUN C-Mode"}
    assert queueing_for(conf, netapp)["queue_seconds"] is None
    assert queueing_for(conf, {**netapp, "wwid": "3600a0980abc"})["queue_seconds"] == 20
    assert queueing_for(conf, {"name": "x", "vendor": "HP", "product": "X"})["queue_seconds"] == 0
    unset = queueing_for(None, {"name": "q", "features": "1 queue_if_no_path"})
    assert unset["queue_seconds"] is None and unset["source"] == "map features"


def test_samples_cover_heartbeat_paths_and_slaves():
    values = rules.samples(probe(bonds=("active_backup_failed_over_slave_down.txt",)))
    metrics = {metric for metric, _subject, _value in values}
    assert metrics == {"heartbeat_lag_ms", "paths_up", "path_up", "slave_up"}
    assert ("heartbeat_lag_ms", "A" * 32, 500) in values
    assert any(m == "slave_up" and v == 0 for m, _s, v in values)


# Recording, alerts -----------------------------------------------------------------------


def open_alerts(host):
    return {a.name: a for a in Alert.objects.filter(target_id=str(host.pk), cleared__isnull=True)}


@pytest.mark.django_db
def test_alerts_are_raised_once_updated_and_cleared():
    host = HostFactory()
    io_health_record(host=host, probe=probe(mp="current_failed_faulty_offline.txt"))
    io_health_record(host=host, probe=probe(mp="current_failed_faulty_offline.txt"))
    alerts = open_alerts(host)
    assert Alert.objects.filter(name="MULTIPATH_PERIODIC_ALERT").count() == 1
    assert alerts["MULTIPATH_PERIODIC_ALERT"].priority == 3
    io_health_record(host=host, probe=probe(mp="current_all_paths_down_queueing.txt"))
    assert open_alerts(host)["MULTIPATH_PERIODIC_ALERT"].priority == 2, "escalated in place"
    assert Alert.objects.filter(name="MULTIPATH_PERIODIC_ALERT").count() == 1
    health = io_health_record(host=host, probe=probe())
    assert health.state == "ok"
    assert "MULTIPATH_PERIODIC_ALERT" not in open_alerts(host)


@pytest.mark.django_db
def test_an_unanswered_round_is_critical_but_keeps_the_last_probe_and_its_alerts():
    host = HostFactory()
    last = probe(bonds=("active_backup_all_down.txt",), fence_method="reset")
    io_health_record(host=host, probe=last)
    opened = open_alerts(host)
    health = io_health_record(host=host, probe=None, error="did not answer in 5 s")
    assert health.state == "critical"
    assert health.problems[0]["kind"] == "agent"
    assert health.probe["bonds"], "the page still shows what was last seen"
    assert [w["kind"] for w in health.config_warnings] == ["fence_method"]
    assert open_alerts(host) == opened, "no alert cleared (or raised again) for lack of news"


@pytest.mark.django_db(transaction=True)
def test_a_round_that_ends_after_its_host_was_forgotten_stores_nothing():
    """The probe answered (or timed out) after the admin forgot the host: the round records
    nothing about it, and no database error (FOREIGN KEY) ends the round."""
    from clusters.models import HealthSample, Host, HostIOHealth

    host = HostFactory()
    probed = Host.objects.get(pk=host.pk)  # what the round loaded before asking
    host.delete()
    assert (
        io_health_record(host=probed, probe=probe(mp="current_failed_faulty_offline.txt")) is None
    )
    assert io_health_record(host=probed, probe=None, error="did not answer in 5 s") is None
    assert not HostIOHealth.objects.exists() and not HealthSample.objects.exists()
    assert not Alert.objects.filter(cleared__isnull=True).exists()


@pytest.mark.django_db
def test_heartbeat_alert_is_the_most_urgent():
    host = HostFactory()
    io_health_record(host=host, probe=probe(lag_ms=50000))
    alert = open_alerts(host)["O2CB_HEARTBEAT_DELAYED"]
    assert alert.priority == 1
    assert "in about 10 s" in alert.message


# Pages and API ----------------------------------------------------------------------------


@pytest.fixture
def sick_pool(db):
    cluster = ClusterFactory()
    host, other = HostFactory(), HostFactory()
    data = probe(mp="current_failed_faulty_offline.txt", lag_ms=9000)
    io_health_record(host=host, probe=data)
    io_health_record(host=other, probe=probe())
    map_ = data["multipath"]["maps"][0]
    lun = LUN.objects.create(scsi_id=map_["wwid"], size=2 << 40, vendor="NETAPP")
    sr = SR.objects.create(name="Gold", lun=lun, cluster=cluster)
    PBD.objects.create(host=host, sr=sr, plugged=True)
    PBD.objects.create(host=other, sr=sr, plugged=True)
    return host, other, sr, map_


def test_host_io_page_shows_problem_fix_paths_and_chart(client, readonly_user, sick_pool):
    host, _other, _sr, map_ = sick_pool
    client.force_login(readonly_user)
    page = client.get(reverse("host-io", args=[host.pk])).content.decode()
    assert 'data-io-state="degraded"' in page
    assert "What to do" in page
    assert 'data-path="sdd"' in page
    assert "<svg" in page and "lag-line" in page
    assert "fences this host in about 51 s" in page


def test_sr_io_page_lists_each_host_view_of_the_lun(client, readonly_user, sick_pool):
    host, other, sr, _map = sick_pool
    client.force_login(readonly_user)
    page = client.get(reverse("sr-io", args=[sr.pk])).content.decode()
    assert f'data-host="{host.hostname}"' in page and f'data-host="{other.hostname}"' in page
    assert "2 of 4" in page


def test_dashboard_summarises_io_health(client, readonly_user, sick_pool):
    client.force_login(readonly_user)
    page = client.get(reverse("dashboard")).content.decode()
    assert 'id="io-summary"' in page
    assert "1 ok" in page and "1 degraded" in page


def test_io_health_api(sick_pool, readonly_user):
    host, _other, sr, map_ = sick_pool
    api = api_client_for(readonly_user)
    listed = api.get("/api/io-health/?state=degraded").json()
    assert [row["hostname"] for row in listed["results"]] == [host.hostname]
    detail = api.get(f"/api/hosts/{host.pk}/io/").json()
    assert detail["state"] == "degraded"
    assert detail["time_to_fence"] == pytest.approx(51.0)
    assert detail["probe"]["multipath"]["maps"][0]["wwid"] == map_["wwid"]
    by_host = {row["hostname"]: row for row in api.get(f"/api/srs/{sr.pk}/io/").json()["hosts"]}
    assert by_host[host.hostname]["paths_up"] == 2
    assert by_host[host.hostname]["paths_total"] == 4
    missing = api.get(f"/api/hosts/{HostFactory().pk}/io/")
    assert missing.status_code == 404 and "message" in missing.json()


def test_fault_panel_is_for_pool_admins_only(client, operator_user, admin_user, sick_pool):
    client.force_login(operator_user)
    assert client.get(reverse("faults")).status_code == 403
    client.force_login(admin_user)
    assert client.get(reverse("faults")).status_code == 200


@pytest.mark.django_db
def test_faults_are_refused_on_real_hosts(admin_user):
    from core.errors import ConsoleError

    with pytest.raises(ConsoleError, match="real host"):
        fault_inject(
            host=HostFactory(sandbox=False), fault="path-fail", target="sdb", actor=admin_user
        )


def test_cluster_page_groups_risky_settings_and_links_storage(client, readonly_user, db):
    cluster = ClusterFactory()
    hosts = [HostFactory(), HostFactory()]
    for host in hosts:
        membership_create(cluster=cluster, host=host, actor=None)
        io_health_record(host=host, probe=probe(fence_method="reset"))
    lun = LUN.objects.create(scsi_id="3600a0980abc", size=1 << 40)
    sr = SR.objects.create(name="Silver", lun=lun, cluster=cluster)
    client.force_login(readonly_user)
    page = client.get(reverse("cluster-detail", args=[cluster.pk])).content.decode()
    assert page.count("fences by reset") == 1, "one line for the same setting on every host"
    assert ", ".join(sorted(h.hostname for h in hosts)) in page
    assert reverse("sr-io", args=[sr.pk]) in page
    assert page.count('data-io-state="ok"') == 2


def test_a_member_that_does_not_see_the_lun_is_critical_for_that_sr(sick_pool, readonly_user):
    host, _other, sr, _map = sick_pool
    blind = HostFactory()
    io_health_record(host=blind, probe=probe(mp="current_ghost_standby.txt"))
    PBD.objects.create(host=blind, sr=sr, plugged=False)
    rows = {
        r["hostname"]: r
        for r in api_client_for(readonly_user).get(f"/api/srs/{sr.pk}/io/").json()["hosts"]
    }
    assert rows[blind.hostname]["state"] == "critical"
    assert "does not see LUN" in rows[blind.hostname]["problems"][0]["message"]
    assert rows[host.hostname]["state"] == "degraded", "sees the LUN over 2 of 4 paths"
