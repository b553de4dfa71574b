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
    # eth2 has a link but sits in aggregator 3, not the active 1: it carries nothing.
    "lacp_802_3ad_stray_aggregator_xcpng.txt": ("802.3ad", None, "up", 4, 2),
    "lacp_802_3ad_rhel6_second_aggregator.txt": ("802.3ad", None, "up", 2, 1),
    "lacp_802_3ad_no_active_aggregator_modern.txt": ("802.3ad", None, "down", 2, 0),
    "lacp_802_3ad_unprivileged_reader.txt": ("802.3ad", None, "up", 2, 2),
    "active_backup_arp_ns_targets.txt": ("active-backup", "ens5f1", "up", 2, 1),
    "grep_relative_two_bonds.txt": ("active-backup", "ens1f0", "up", 2, 2),
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
        "in_active_aggregator": None,
        "actor_churn_state": None,
        "partner_churn_state": None,
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


def test_lacp_slave_with_a_link_outside_the_active_aggregator_is_not_counted_up():
    result = parse("lacp_802_3ad_stray_aggregator_xcpng.txt")
    assert [
        (s["name"], s["aggregator_id"], s["in_active_aggregator"]) for s in result["slaves"]
    ] == [
        ("eth0", 1, True),
        ("eth1", 1, True),
        ("eth2", 3, False),
        ("eth3", 4, False),
    ]
    assert result["summary"] == {"mode": "802.3ad", "slaves": 4, "up": 2}
    assert [s["mii_status"] for s in result["slaves"]] == ["up", "up", "up", "down"]
    assert [s["link_failure_count"] for s in result["slaves"]] == [0, 0, 1, 2]
    assert [(s["actor_churn_state"], s["partner_churn_state"]) for s in result["slaves"]] == [
        ("none", "none"),
        ("none", "none"),
        ("churned", "churned"),
        ("churned", "churned"),
    ]
    # The partner's per-port "system mac address" must not leak into the slave or the bond.
    assert result["slaves"][2]["permanent_hw_addr"] == "02:1a:4b:00:10:03"
    assert result["ad"]["system_mac_address"] == "02:1a:4b:00:10:01"
    assert (result["up_delay_ms"], result["down_delay_ms"]) == (31000, 200)


def test_old_lacp_first_slave_outside_the_active_aggregator():
    result = parse("lacp_802_3ad_rhel6_second_aggregator.txt")
    assert result["ad"]["aggregator_id"] == 2 and result["ad"]["lacp_rate"] == "fast"
    assert [(s["name"], s["in_active_aggregator"]) for s in result["slaves"]] == [
        ("em1", False),
        ("em2", True),
    ]
    assert result["slaves"][1]["link_failure_count"] == 3


def test_modern_lacp_without_active_aggregator_counts_no_slave_up():
    result = parse("lacp_802_3ad_no_active_aggregator_modern.txt")
    assert result["name"] == "bond3"
    ad = result["ad"]
    assert (ad["active_aggregator"], ad["aggregator_id"], ad["min_links"]) == (False, None, 2)
    assert (ad["ad_select"], ad["system_mac_address"]) == ("bandwidth", "02:1a:4b:00:30:01")
    assert [(s["aggregator_id"], s["in_active_aggregator"]) for s in result["slaves"]] == [
        (1, False),
        (2, False),
    ]
    assert result["slaves"][1]["actor_churn_state"] == "monitoring"


def test_lacp_read_without_cap_net_admin_leaves_aggregation_unknown():
    result = parse("lacp_802_3ad_unprivileged_reader.txt")
    ad = result["ad"]
    assert (ad["lacp_active"], ad["system_priority"], ad["active_aggregator"]) == ("on", None, None)
    assert result["transmit_hash_policy"] == "encap3+4"
    assert [s["in_active_aggregator"] for s in result["slaves"]] == [None, None]
    assert [s["aggregator_id"] for s in result["slaves"]] == [1, 2]


def test_arp_monitoring_with_ipv6_ns_targets():
    result = parse("active_backup_arp_ns_targets.txt")
    assert result["fail_over_mac"] == "follow"
    assert (result["primary_slave"], result["primary_reselect"]) == ("ens5f0", "failure")
    assert (result["mii_polling_interval_ms"], result["arp_polling_interval_ms"]) == (0, 500)
    assert result["arp_missed_max"] == 3
    assert result["arp_ip_targets"] == ["192.0.2.1", "192.0.2.254"]
    assert result["ns_ipv6_targets"] == ["2001:db8:10::1", "fe80::1"]
    assert slaves(result) == [
        ("ens5f0", "down", 10000, "full", 6),
        ("ens5f1", "up", 10000, "full", 1),
    ]


def test_grep_of_several_bonds_is_read_for_the_named_one():
    result = parse("grep_relative_two_bonds.txt", "bond1")
    assert (result["name"], result["mode"]) == ("bond1", "balance-xor")
    assert result["summary"] == {"mode": "balance-xor", "slaves": 2, "up": 1}
    text = (FIXTURES / "grep_relative_two_bonds.txt").read_text()
    absolute = "".join("/proc/net/bonding/" + line for line in text.splitlines(True))
    assert parse_bonding(absolute, "bond0")["summary"]["slaves"] == 2


@pytest.mark.parametrize("name", [None, "bond7"])
def test_grep_of_several_bonds_without_a_known_name_is_refused(name):
    with pytest.raises(ProbeError, match="bond0, bond1"):
        parse("grep_relative_two_bonds.txt", name)


def test_copy_and_paste_mangling_reads_the_same():
    original = (FIXTURES / "lacp_802_3ad_modern.txt").read_text()
    mangled = "\ufeff" + "".join("  " + line for line in original.splitlines(True))
    mangled = mangled.replace("MII Status: up", "MII\xa0Status:\xa0Up")
    mangled = mangled.replace("Link Failure Count", "Link  Failure Count")
    mangled = mangled.replace("Aggregator ID", "Aggregator\tID")
    assert parse_bonding(mangled) == parse_bonding(original)


def test_lacp_details_whose_indentation_was_lost_stay_out_of_the_slave():
    original = (FIXTURES / "lacp_802_3ad_stray_aggregator_xcpng.txt").read_text()
    flat = "\n".join(line.strip() for line in original.splitlines())
    assert parse_bonding(flat) == parse_bonding(original)


def test_slave_without_a_name_is_refused():
    text = (FIXTURES / "balance_tlb.txt").read_text()
    text = text.replace("Slave Interface: enp1s0f1", "Slave Interface:")
    with pytest.raises(ProbeError, match="Slave Interface"):
        parse_bonding(text)


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


def test_active_aggregator_info_cut_before_its_id_leaves_aggregation_unknown():
    text = (FIXTURES / "lacp_802_3ad_split_aggregator.txt").read_text()
    text = text.replace("\tAggregator ID: 1\n", "", 1)
    result = parse_bonding(text)
    assert [s["in_active_aggregator"] for s in result["slaves"]] == [None, None]
    assert result["summary"]["up"] == 1
