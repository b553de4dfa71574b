"""The OVS bond parser reads `ovs-appctl bond/show` (and `lacp/show`) as ofproto/bond.c and
lib/lacp.c print them, old "slave" and new "member" wording, into parse_bonding's record."""

from pathlib import Path

import pytest

from agent.io_probe import ovs_bonds, probe_bonds
from agent.probes import ProbeError
from agent.probes.bonding import parse_bonding
from agent.probes.ovs_bond import parse_lacp_show, parse_ovs_bond, parse_ovs_bonds
from agent.sandbox.kernel import OVS_BOND_SHOW_FILE, OVS_LACP_SHOW_FILE, sandbox_root
from clusters.iohealth import rules

FIXTURES = Path(__file__).parent / "fixtures" / "ovs_bond"
BONDING = Path(__file__).parent / "fixtures" / "bonding"


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def bonds(name: str, lacp: str | None = None) -> list[dict]:
    return parse_ovs_bonds(text(name), text(lacp) if lacp else None)


def members(bond: dict) -> list[tuple]:
    return [(s["name"], s["mii_status"], s["in_active_aggregator"]) for s in bond["slaves"]]


def problem_of(bond: dict) -> rules.Finding:
    [problem] = rules.evaluate_bonds([bond])
    return problem


# fixture (lacp/show) -> [(bond, mode, active slave, bond MII status, members, members up)]
EXPECTED = {
    ("active_backup_member_wording.txt", None): [
        ("bond0", "active-backup", "enp94s0f0", "up", 2, 2)
    ],
    ("active_backup_slave_down_ovs25.txt", None): [("bond0", "active-backup", "eth1", "up", 2, 1)],
    ("xcpng_slb_and_active_backup_slave_wording.txt", None): [
        ("bond1", "balance-slb", None, "up", 2, 2),
        ("bond0", "active-backup", "eth0", "up", 2, 2),
    ],
    ("balance_slb_member_down.txt", None): [("bond-san", "balance-slb", None, "up", 2, 1)],
    ("balance_tcp_lacp_negotiated.txt", "lacp_show_negotiated.txt"): [
        ("bond-san", "balance-tcp", None, "up", 2, 2)
    ],
    ("balance_tcp_lacp_member_detached.txt", "lacp_show_member_detached.txt"): [
        ("bond-san", "balance-tcp", None, "up", 2, 1)
    ],
    ("balance_tcp_lacp_not_negotiated.txt", "lacp_show_not_negotiated.txt"): [
        ("bond-san", "balance-tcp", None, "down", 2, 0)
    ],
}


def test_every_fixture_is_covered():
    used = {name for pair in EXPECTED for name in pair if name}
    assert {p.name for p in FIXTURES.glob("*.txt")} == used


@pytest.mark.parametrize("fixture", sorted(EXPECTED, key=str), ids=lambda f: f[0])
def test_mode_and_summary(fixture):
    got = [
        (
            b["name"],
            b["mode"],
            b["active_slave"],
            b["mii_status"],
            b["summary"]["slaves"],
            b["summary"]["up"],
        )
        for b in bonds(*fixture)
    ]
    assert got == EXPECTED[fixture]
    assert all(b["source"] == "openvswitch" for b in bonds(*fixture))


def test_the_record_has_every_key_of_a_linux_bond():
    linux = parse_bonding((BONDING / "active_backup_modern.txt").read_text(), name="bond0")
    [ovs] = bonds("active_backup_member_wording.txt")
    assert set(linux) <= set(ovs)
    assert set(linux["slaves"][0]) <= set(ovs["slaves"][0])
    assert linux["source"] == "linux"


def test_old_slave_wording_with_tabs_reads_as_the_new_member_wording():
    [old] = bonds("active_backup_slave_down_ovs25.txt")
    assert members(old) == [("eth0", "down", None), ("eth1", "up", None)]
    assert old["active_slave"] == "eth1" and old["slaves"][1]["active"]
    assert (old["up_delay_ms"], old["down_delay_ms"]) == (31000, 200)
    assert old["lacp"] == {"status": "off"}
    [new] = bonds("active_backup_member_wording.txt")
    assert new["active_slave"] == "enp94s0f0" and new["lacp"] == {
        "status": "off",
        "fallback_ab": False,
    }


def test_a_slave_down_in_old_ovs_is_degraded_and_names_it_and_ovs_appctl():
    [bond] = bonds("active_backup_slave_down_ovs25.txt")
    problem = problem_of(bond)
    assert problem.severity == "degraded"
    assert problem.message == (
        "Bond bond0 (active-backup) runs without redundancy: eth0 is down; traffic is on eth1."
    )
    assert "`ovs-appctl bond/show bond0`" in problem.fix and "/proc/net" not in problem.fix


def test_balance_slb_member_waiting_out_its_updelay_is_down():
    [bond] = bonds("balance_slb_member_down.txt")
    down = bond["slaves"][1]
    assert (down["name"], down["mii_status"], down["may_enable"]) == ("ens2f1", "down", True)
    assert down["delay"] == {"kind": "updelay", "expires_in_ms": 24120}
    # balance-slb spreads traffic: no single member "carries the traffic".
    assert bond["active_slave"] is None and bond["active_member"] == "ens2f0"
    problem = problem_of(bond)
    assert problem.severity == "degraded"
    assert "Bond bond-san (balance-slb) runs without redundancy: ens2f1 is down." == problem.message
    assert "`ovs-appctl bond/show bond-san`" in problem.fix


def test_two_bonds_in_one_answer_both_healthy():
    found = bonds("xcpng_slb_and_active_backup_slave_wording.txt")
    assert [b["name"] for b in found] == ["bond1", "bond0"]
    assert found[1]["primary_slave"] == "eth0"
    assert rules.evaluate_bonds(found) == []


def test_lacp_negotiated_members_are_in_the_aggregation():
    [bond] = bonds("balance_tcp_lacp_negotiated.txt", "lacp_show_negotiated.txt")
    assert members(bond) == [("enp59s0f0", "up", True), ("enp59s0f1", "up", True)]
    assert bond["lacp"] == {"status": "negotiated", "fallback_ab": False, "negotiated": True}
    assert rules.evaluate_bonds([bond]) == []


def test_a_member_lacp_left_detached_has_its_link_but_carries_nothing():
    [bond] = bonds("balance_tcp_lacp_member_detached.txt", "lacp_show_member_detached.txt")
    assert members(bond) == [("enp59s0f0", "up", True), ("enp59s0f1", "up", False)]
    stray = bond["slaves"][1]
    assert (stray["lacp_status"], stray["lacp_attached"]) == ("current", False)
    problem = problem_of(bond)
    assert problem.severity == "degraded"
    assert "enp59s0f1 has a link but LACP left it out of the bond" in problem.message
    assert "same LACP group" in problem.fix and "`ovs-appctl lacp/show bond-san`" in problem.fix
    samples = {key: value for series, key, value in rules.samples({"bonds": [bond]})}
    assert samples == {"bond-san/enp59s0f0": 1, "bond-san/enp59s0f1": 0}


def test_without_lacp_show_a_disabled_lacp_member_is_just_down():
    [bond] = bonds("balance_tcp_lacp_member_detached.txt")
    assert members(bond) == [("enp59s0f0", "up", True), ("enp59s0f1", "down", None)]
    assert "enp59s0f1 is down" in problem_of(bond).message


def test_lacp_never_negotiated_is_critical_and_points_at_the_switch():
    [bond] = bonds("balance_tcp_lacp_not_negotiated.txt", "lacp_show_not_negotiated.txt")
    assert members(bond) == [("enp59s0f0", "down", None), ("enp59s0f1", "down", None)]
    problem = problem_of(bond)
    assert problem.severity == "critical"
    assert "LACP is not negotiated with the switch" in problem.message
    assert "`ovs-appctl lacp/show bond-san`" in problem.fix
    assert "enp59s0f0, enp59s0f1" in problem.fix


def test_old_lacp_show_wording_is_read():
    old = (
        text("lacp_show_member_detached.txt")
        .replace("member: ", "slave: ")
        .replace("\n  ", "\n\t")
        .replace("  may_enable: false\n", "")
    )
    details = parse_lacp_show(old)["bond-san"]
    assert details["negotiated"] and details["active"]
    assert details["members"]["enp59s0f1"]["attached"] is False
    assert details["members"]["enp59s0f1"]["partner_key"] == 24
    [bond] = parse_ovs_bonds(text("balance_tcp_lacp_member_detached.txt"), old)
    assert bond["slaves"][1]["in_active_aggregator"] is False


def test_one_bond_without_its_header_when_named():
    block = text("active_backup_member_wording.txt").split("\n", 1)[1]
    assert parse_ovs_bond(block, name="bond0")["active_slave"] == "enp94s0f0"
    with pytest.raises(ProbeError, match="header"):
        parse_ovs_bond(block)
    with pytest.raises(ProbeError, match="header"):
        parse_ovs_bonds(block)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("Ethernet Channel Bonding Driver: v6.1.0\nBonding Mode: active-backup\n", "header"),
        ("---- bond0 ----\nupdelay: 0 ms\n", "no 'bond_mode' line"),
        ("---- bond0 ----\nbond_mode: balance-rr\n", "unknown OVS bond mode"),
        (b"---- bond0 ----", "not text"),
    ],
)
def test_bad_input_is_a_probe_error(bad, message):
    with pytest.raises(ProbeError, match=message):
        parse_ovs_bonds(bad)


def test_cut_or_garbled_text_never_crashes():
    whole = text("balance_tcp_lacp_member_detached.txt")
    lacp = text("lacp_show_member_detached.txt")
    for end in range(0, len(whole), 7):
        try:
            parse_ovs_bonds(whole[:end], lacp[: end * 2])
        except ProbeError:
            pass


def test_the_probe_reports_an_unreadable_ovs_bond_alone():
    answer = text("balance_slb_member_down.txt") + "---- bond9 ----\nupdelay: 0 ms\n"
    found = ovs_bonds(answer, "garbage without a header")
    assert [b["name"] for b in found] == ["bond-san", "bond9"]
    assert found[1] == {
        "name": "bond9",
        "error": found[1]["error"],
        "slaves": [],
        "source": "openvswitch",
    }
    problem = rules.evaluate_bonds(found)[1]
    assert problem.fix == "Run `ovs-appctl bond/show bond9` on the host."
    assert ovs_bonds(None, None) == [] and ovs_bonds("", None) == []


def test_a_host_reports_its_linux_and_its_ovs_bonds(tmp_path):
    root = sandbox_root(tmp_path / "host-1")
    linux = root.path("proc/net/bonding/bond7")
    linux.parent.mkdir(parents=True)
    linux.write_text((BONDING / "active_backup_modern.txt").read_text())
    assert [b["source"] for b in probe_bonds(root)] == ["linux"]
    for relative, name in (
        (OVS_BOND_SHOW_FILE, "balance_tcp_lacp_member_detached.txt"),
        (OVS_LACP_SHOW_FILE, "lacp_show_member_detached.txt"),
    ):
        root.path(relative).parent.mkdir(parents=True, exist_ok=True)
        root.path(relative).write_text(text(name))
    found = probe_bonds(root)
    assert [(b["name"], b["source"]) for b in found] == [
        ("bond7", "linux"),
        ("bond-san", "openvswitch"),
    ]
    assert found[1]["slaves"][1]["in_active_aggregator"] is False
