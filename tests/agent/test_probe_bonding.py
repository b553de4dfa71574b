"""The bonding parser reads /proc/net/bonding/<bond> as bond_procfs.c writes it, old and new."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.probes import ProbeError
from agent.probes.bonding import parse_bonding, short_mode

FIXTURES = Path(__file__).parent / "fixtures" / "bonding"


def parse(name: str, bond: str | None = None) -> dict:
    return parse_bonding((FIXTURES / name).read_text(), bond)


def slaves(result: dict) -> list[tuple]:
    return [
        (s["name"], s["mii_status"], s["speed_mbps"], s["duplex"], s["link_failure_count"])
        for s in result["slaves"]
    ]


# fixture -> (mode, active slave, bond MII status, slaves, slaves up)
EXPECTED = {
    "active_backup_modern.txt": ("active-backup", "ens1f0", "up", 2, 2),
    "active_backup_failed_over_slave_down.txt": ("active-backup", "eth1", "up", 2, 1),
    "active_backup_all_down.txt": ("active-backup", None, "down", 2, 0),
    "lacp_802_3ad_modern.txt": ("802.3ad", None, "up", 2, 2),
    "lacp_802_3ad_split_aggregator.txt": ("802.3ad", None, "up", 2, 1),
    "lacp_802_3ad_no_aggregator_rhel5.txt": ("802.3ad", None, "down", 2, 0),
    "balance_rr_old_kernel.txt": ("balance-rr", None, "up", 2, 2),
    "balance_xor_unknown_speed_65535.txt": ("balance-xor", None, "up", 2, 1),
    "broadcast_arp_monitor.txt": ("broadcast", None, "up", 2, 2),
    "balance_tlb.txt": ("balance-tlb", "enp1s0f0", "up", 2, 1),
    "balance_alb.txt": ("balance-alb", "eth0", "up", 3, 2),
    "grep_prefixed_active_backup.txt": ("active-backup", "eth2", "up", 1, 1),
}


def test_every_fixture_is_covered():
    assert {p.name for p in FIXTURES.glob("*.txt")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mode_and_summary(name):
    mode, active, mii, count, up = EXPECTED[name]
    result = parse(name, "bond0")
    assert (result["mode"], result["active_slave"], result["mii_status"]) == (mode, active, mii)
    assert result["summary"] == {"mode": mode, "slaves": count, "up": up}
    assert result["name"] == "bond0"
    assert (result["ad"] is not None) == (mode == "802.3ad")


def test_active_backup_modern():
    result = parse("active_backup_modern.txt")
    assert result["name"] is None
    assert result["mode_text"] == "fault-tolerance (active-backup)"
    assert (result["primary_slave"], result["primary_reselect"]) == ("ens1f0", "always")
    assert (result["mii_polling_interval_ms"], result["up_delay_ms"], result["down_delay_ms"]) == (
        100,
        0,
        0,
    )
    assert result["transmit_hash_policy"] is None
    assert result["slaves"][1] == {
        "name": "ens1f1",
        "mii_status": "up",
        "speed_mbps": 25000,
        "duplex": "full",
        "link_failure_count": 2,
        "permanent_hw_addr": "b8:ce:f6:12:34:57",
        "aggregator_id": None,
    }


def test_failover_with_a_dead_slave_and_fail_over_mac():
    result = parse("active_backup_failed_over_slave_down.txt")
    assert result["mode"] == "active-backup" and result["fail_over_mac"] == "active"
    assert result["primary_slave"] is None
    assert (result["up_delay_ms"], result["down_delay_ms"]) == (200, 200)
    assert slaves(result) == [("eth0", "down", None, None, 3), ("eth1", "up", 10000, "full", 0)]


def test_all_slaves_down_and_transitional_states():
    result = parse("active_backup_all_down.txt")
    assert result["active_slave"] is None
    assert [s["mii_status"] for s in result["slaves"]] == ["down", "going back"]


def test_lacp_modern_aggregator_and_per_port_details_are_kept_apart():
    result = parse("lacp_802_3ad_modern.txt")
    assert result["transmit_hash_policy"] == "layer3+4"
    ad = result["ad"]
    assert ad == {
        "lacp_rate": "fast",
        "lacp_active": "on",
        "min_links": 0,
        "ad_select": "stable",
        "system_priority": 65535,
        "system_mac_address": "0c:42:a1:aa:bb:cc",
        "active_aggregator": True,
        "aggregator_id": 1,
        "number_of_ports": 2,
        "actor_key": 21,
        "partner_key": 32771,
        "partner_mac_address": "00:23:04:ee:be:01",
    }
    assert [s["aggregator_id"] for s in result["slaves"]] == [1, 1]
    assert [s["link_failure_count"] for s in result["slaves"]] == [0, 1]
    assert result["slaves"][0]["permanent_hw_addr"] == "0c:42:a1:aa:bb:cc"


def test_lacp_slaves_in_different_aggregators():
    result = parse("lacp_802_3ad_split_aggregator.txt")
    assert result["ad"]["number_of_ports"] == 1
    assert result["ad"]["partner_mac_address"] == "00:00:00:00:00:00"
    assert [(s["name"], s["aggregator_id"], s["speed_mbps"]) for s in result["slaves"]] == [
        ("eth0", 1, 1000),
        ("eth1", 2, None),
    ]


def test_old_lacp_without_active_aggregator():
    result = parse("lacp_802_3ad_no_aggregator_rhel5.txt")
    assert result["name"] == "bond2"
    assert result["ad"]["active_aggregator"] is False and result["ad"]["aggregator_id"] is None
    assert result["ad"]["lacp_rate"] == "slow"
    assert [s["aggregator_id"] for s in result["slaves"]] == [None, None]
    assert [(s["speed_mbps"], s["duplex"]) for s in result["slaves"]] == [(None, None)] * 2


def test_old_kernel_without_speed_lines():
    result = parse("balance_rr_old_kernel.txt")
    assert result["driver_version"] == "v3.0.3 (March 23, 2006)"
    assert slaves(result) == [("eth0", "up", None, None, 0), ("eth1", "up", None, None, 1)]


def test_xor_hash_policy_and_old_unknown_speed():
    result = parse("balance_xor_unknown_speed_65535.txt")
    assert result["transmit_hash_policy"] == "layer2+3"
    assert slaves(result)[1] == ("eth3", "down", None, "half", 7)


def test_broadcast_with_arp_monitoring():
    result = parse("broadcast_arp_monitor.txt")
    assert result["mii_polling_interval_ms"] == 0
    assert result["arp_polling_interval_ms"] == 1000
    assert result["arp_ip_targets"] == ["10.0.0.1", "10.0.0.2"]


def test_alb_primary_and_32bit_unknown_speed():
    result = parse("balance_alb.txt")
    assert (result["primary_slave"], result["primary_reselect"]) == ("eth0", "better")
    assert slaves(result)[1:] == [("eth1", "up", 100, "half", 0), ("eth2", "down", None, None, 12)]


def test_grep_prefixed_lines_name_the_bond():
    assert parse("grep_prefixed_active_backup.txt")["name"] == "bond1"
    assert parse("grep_prefixed_active_backup.txt", "bondX")["name"] == "bondX"


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("load balancing (round-robin)", "balance-rr"),
        ("fault-tolerance (active-backup)", "active-backup"),
        ("fault-tolerance (active-backup) (fail_over_mac follow)", "active-backup"),
        ("load balancing (xor)", "balance-xor"),
        ("fault-tolerance (broadcast)", "broadcast"),
        ("IEEE 802.3ad Dynamic link aggregation", "802.3ad"),
        ("transmit load balancing", "balance-tlb"),
        ("adaptive transmit load balancing", "balance-tlb"),
        ("adaptive load balancing", "balance-alb"),
        ("some future mode", "some future mode"),
    ],
)
def test_short_mode_names(text, short):
    assert short_mode(text) == short


def test_crlf_input():
    text = (FIXTURES / "balance_tlb.txt").read_text().replace("\n", "\r\n")
    assert parse_bonding(text)["summary"] == {"mode": "balance-tlb", "slaves": 2, "up": 1}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cat: /proc/net/bonding/bond0: No such file or directory\n",
        "mpatha (3600) dm-0 X,Y\nsize=1G features='0' hwhandler='0' wp=rw\n",
        "Slave Interface: eth0\nMII Status: up\n",
    ],
)
def test_garbage_raises_probe_error(text):
    with pytest.raises(ProbeError, match="Bonding Mode"):
        parse_bonding(text)


def test_two_bonds_in_one_input_are_refused():
    text = (FIXTURES / "balance_tlb.txt").read_text() + (FIXTURES / "balance_alb.txt").read_text()
    with pytest.raises(ProbeError, match="more than one bond"):
        parse_bonding(text)


BOND_ALPHABET = st.sampled_from(
    list("abc01:() \n\t-")
    + [
        "Bonding Mode: ",
        "fault-tolerance (active-backup)",
        "Slave Interface: ",
        "MII Status: ",
        "Speed: ",
        "Mbps",
        "Unknown",
        "Duplex: ",
        "Link Failure Count: ",
        "Aggregator ID: ",
        "802.3ad info\n",
        "Active Aggregator Info:\n",
        "details actor lacp pdu:\n",
        "Transmit Hash Policy: ",
        "Primary Slave: ",
        "N/A",
        "4294967295",
        "\n",
        "bond bond0 has no active aggregator\n",
        "/proc/net/bonding/bond0:",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(BOND_ALPHABET, max_size=60).map("".join))
def test_random_bonding_like_text_only_raises_probe_error(text):
    try:
        result = parse_bonding(text)
    except ProbeError:
        return
    assert result["summary"]["slaves"] == len(result["slaves"])


@settings(max_examples=300, deadline=None)
@given(st.text(), st.one_of(st.none(), st.text(max_size=10)))
def test_random_text_only_raises_probe_error(text, name):
    try:
        parse_bonding(text, name)
    except ProbeError:
        pass
