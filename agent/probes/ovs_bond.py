"""Parse Open vSwitch bonds as ``ovs-appctl bond/show`` and ``ovs-appctl lacp/show`` print them.

XenServer's and XCP-ng's dom0 bond their NICs in Open vSwitch (the vSwitch network backend):
there is no /proc/net/bonding, so this parser gives an OVS bond the record
``agent.probes.bonding.parse_bonding`` gives a Linux one, with ``source`` "openvswitch".

bond/show (ofproto/bond.c, bond_print_details) prints, for every bond or the one named:
a ``---- <bond> ----`` header, ``bond_mode: active-backup|balance-slb|balance-tcp``,
``bond may use recirculation``, ``bond-hash-basis``, ``lb_output action`` (2.14+),
``all members active`` (balance-slb, 3.x), ``updelay``/``downdelay: <n> ms``,
``next rebalance`` (balanced modes), ``lacp_status: negotiated|configured|off``,
``lacp_fallback_ab`` (2.7+), ``active-backup primary`` (2.14+), ``active slave mac`` or,
since OVS renamed slaves to members (2.15), ``active member mac: <mac>(<name>|none)``, then
one block per member, sorted by name: ``slave|member <name>: enabled|disabled``, an
``active slave|member`` line, ``updelay|downdelay expires in <n> ms``, ``may_enable: true|false``
and ``hash <n>: <k> kB load`` lines, indented by a tab (before 2.6) or two spaces.
OVS 1.4 to 1.9 printed one bond without the header and ``lacp_negotiated: true|false``.

A member is enabled when its carrier is up and OVS may enable it (for an LACP bond: LACP
attached it and its partner is synchronized), once updelay has passed.  bond/show alone does
not tell a member whose link is down from one the switch left outside the LACP aggregation
(both are "disabled", "may_enable: false"); lacp/show (lib/lacp.c, lacp_print_details) does:
``slave|member: <name>: current|expired|defaulted attached|detached``.  A member whose LACPDUs
are current has its link (OVS expires a member whose carrier drops), so a current member OVS
keeps disabled is reported with its link up but outside the aggregation.
"""

import re
from typing import Dict, List, Optional, Tuple

from agent.probes import ProbeError
from agent.probes.bonding import new_bond, new_slave

SOURCE = "openvswitch"
MODES = ("active-backup", "balance-slb", "balance-tcp")
HEADER_RE = re.compile(r"^---- (?P<name>\S(?:.*\S)?) ----\s*$")
MEMBER_RE = re.compile(r"^(?:slave|member) (?P<name>\S+?): (?P<state>enabled|disabled)\s*$", re.I)
LACP_MEMBER_RE = re.compile(
    r"^(?:slave|member): (?P<name>\S+?): (?P<status>current|expired|defaulted)"
    r" (?P<attached>attached|detached)\s*$",
    re.I,
)
DELAY_RE = re.compile(r"^(?P<kind>updelay|downdelay) expires in (?P<ms>-?\d+) ms$", re.I)
ACTIVE_MAC_RE = re.compile(r"^(?P<mac>[0-9a-f:]{17})\s*\((?P<name>[^)]*)\)\s*$", re.I)
LINE_RE = re.compile(r"^(?P<key>[^:]+):(?P<value>.*)$")
NOT_BOND_SHOW = "no 'bond_mode' line found: the input is not ovs-appctl bond/show output"


def _lines(text: str) -> List[str]:
    return text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _blocks(text: str, what: str) -> List[Tuple[Optional[str], List[str]]]:
    """The ``---- name ----`` blocks of an ovs-appctl answer: (name, lines) in order.

    Text before the first header (other than blank lines) is a block without a name."""
    if not isinstance(text, str):
        raise ProbeError(f"the input is not text: expected ovs-appctl {what} output")
    blocks = []  # type: List[Tuple[Optional[str], List[str]]]
    name, lines = None, []  # type: Tuple[Optional[str], List[str]]
    for raw in _lines(text):
        m = HEADER_RE.match(raw.strip())
        if m:
            if name is not None or any(line.strip() for line in lines):
                blocks.append((name, lines))
            name, lines = m.group("name"), []
        else:
            lines.append(raw)
    if name is not None or any(line.strip() for line in lines):
        blocks.append((name, lines))
    return blocks


def split_bond_show(text: str) -> List[Tuple[Optional[str], str]]:
    """Each bond of a bond/show answer as (name, its text); an empty answer has none."""
    return [(name, "\n".join(lines)) for name, lines in _blocks(text, "bond/show")]


def _key_value(line: str) -> Tuple[Optional[str], str]:
    m = LINE_RE.match(line.strip())
    if not m:
        return None, ""
    return re.sub(r"\s+", " ", m.group("key")).strip().lower(), m.group("value").strip()


def _int(value: str) -> Optional[int]:
    m = re.match(r"^-?\d+", value.strip())
    return int(m.group(0)) if m else None


def _bool(value: str) -> Optional[bool]:
    word = value.strip().lower()
    return True if word in ("true", "yes") else False if word in ("false", "no") else None


def parse_lacp_show(text: Optional[str]) -> Dict[str, dict]:
    """lacp/show as {bond: {"active", "negotiated", "sys_id", "members": {name: {...}}}}.

    Each member: ``status`` (current, expired, defaulted), ``attached``, ``may_enable``
    (2.6+, else None), and the partner's ``partner_sys_id`` and ``partner_key``."""
    if text is None or not text.strip():
        return {}
    lacps = {}  # type: Dict[str, dict]
    for name, lines in _blocks(text, "lacp/show"):
        if name is None:
            raise ProbeError(
                "no '---- <bond> ----' header before the LACP details: the input is not "
                "ovs-appctl lacp/show output"
            )
        lacp = {"active": None, "negotiated": False, "sys_id": None, "members": {}}
        member = None  # type: Optional[dict]
        for line in lines:
            stripped = line.strip()
            m = LACP_MEMBER_RE.match(stripped)
            if m:
                member = {
                    "status": m.group("status").lower(),
                    "attached": m.group("attached").lower() == "attached",
                    "may_enable": None,
                    "partner_sys_id": None,
                    "partner_key": None,
                }
                lacp["members"][m.group("name")] = member
                continue
            key, value = _key_value(stripped)
            if key is None:
                continue
            if member is None:
                if key == "status":
                    words = value.lower().split()
                    lacp["active"] = "active" in words if words else None
                    lacp["negotiated"] = "negotiated" in words
                elif key == "sys_id":
                    lacp["sys_id"] = value or None
            elif key == "may_enable":
                member["may_enable"] = _bool(value)
            elif key == "partner sys_id":
                member["partner_sys_id"] = value or None
            elif key == "partner key":
                member["partner_key"] = _int(value)
        lacps[name] = lacp
    return lacps


def _new_member(name: str, enabled: bool) -> dict:
    # OVS prints no speed, duplex or failure count: those keep new_slave's empty values.
    return dict(
        new_slave(name),
        mii_status="up" if enabled else "down",
        enabled=enabled,
        may_enable=None,
        active=False,
        delay=None,
        lacp_status=None,
        lacp_attached=None,
    )


def _new_bond(name: Optional[str]) -> dict:
    return dict(new_bond(name, SOURCE), active_member=None, lacp=None)


def _bond_line(bond: dict, key: str, value: str) -> None:
    if key == "bond_mode":
        bond["mode_text"] = value
        bond["mode"] = value.lower() or None
    elif key == "updelay":
        bond["up_delay_ms"] = _int(value)
    elif key == "downdelay":
        bond["down_delay_ms"] = _int(value)
    elif key == "lacp_status":
        bond["lacp"] = dict(bond["lacp"] or {}, status=value.lower() or None)
    elif key == "lacp_negotiated":  # OVS 1.4 to 1.9
        status = "negotiated" if _bool(value) else "configured"
        bond["lacp"] = dict(bond["lacp"] or {}, status=status)
    elif key == "lacp_fallback_ab":
        bond["lacp"] = dict(bond["lacp"] or {}, fallback_ab=_bool(value))
    elif key == "active-backup primary":
        primary = re.sub(r"\s*\(no such (?:slave|member)\)\s*$", "", value)
        bond["primary_slave"] = None if primary in ("", "<none>") else primary
    elif key in ("active slave mac", "active member mac"):
        m = ACTIVE_MAC_RE.match(value)
        if m and m.group("name").strip().lower() != "none":
            bond["active_member"] = m.group("name").strip()


def _member_line(member: dict, bond: dict, stripped: str) -> None:
    lowered = stripped.lower()
    if lowered in ("active slave", "active member"):
        member["active"] = True
        bond["active_member"] = member["name"]
        return
    m = DELAY_RE.match(stripped)
    if m:
        member["delay"] = {"kind": m.group("kind").lower(), "expires_in_ms": int(m.group("ms"))}
        return
    key, value = _key_value(stripped)
    if key == "may_enable":
        member["may_enable"] = _bool(value)


def parse_ovs_bond(text: str, name: Optional[str] = None, lacp: Optional[dict] = None) -> dict:
    """Read one bond's bond/show text (its ``---- name ----`` header may be left out when
    ``name`` is given) into a parse_bonding record; ``lacp``: its entry of parse_lacp_show."""
    blocks = _blocks(text, "bond/show")
    if len(blocks) > 1:
        raise ProbeError(
            "the input holds the bonds {}; pass one bond or use parse_ovs_bonds".format(
                ", ".join(str(n) for n, _ in blocks)
            )
        )
    if not blocks:
        raise ProbeError("the input is empty: ovs-appctl bond/show printed no bond")
    header, lines = blocks[0]
    bond = _new_bond(name or header)
    member = None  # type: Optional[dict]
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        m = MEMBER_RE.match(stripped)
        if m and line[:1] not in (" ", "\t"):
            member = _new_member(m.group("name"), m.group("state").lower() == "enabled")
            bond["slaves"].append(member)
            continue
        if member is not None:
            _member_line(member, bond, stripped)
            continue
        key, value = _key_value(stripped)
        if key is not None:
            _bond_line(bond, key, value)
    if bond["mode_text"] is None:
        raise ProbeError(NOT_BOND_SHOW)
    if bond["mode"] not in MODES:
        raise ProbeError(f"unknown OVS bond mode {bond['mode_text']!r}")
    if bond["name"] is None:
        raise ProbeError("no '---- <bond> ----' header names the bond")
    _apply_lacp(bond, lacp)
    enabled = [s for s in bond["slaves"] if s["enabled"]]
    bond["mii_status"] = "up" if enabled else "down"
    if bond["mode"] == "active-backup":
        # Only there does one member carry all traffic (the balanced modes also pick an
        # "active member", for the multicast and broadcast they receive).
        bond["active_slave"] = bond["active_member"]
    up = sum(
        1
        for s in bond["slaves"]
        if s["mii_status"] == "up" and s["in_active_aggregator"] is not False
    )
    bond["summary"] = {"mode": bond["mode"], "slaves": len(bond["slaves"]), "up": up}
    return bond


def _apply_lacp(bond: dict, lacp: Optional[dict]) -> None:
    """Whether LACP put each member in the aggregation (None where nothing tells)."""
    status = (bond["lacp"] or {}).get("status")
    if status in (None, "off"):
        return
    bond["lacp"]["negotiated"] = status == "negotiated"
    members = (lacp or {}).get("members") or {}
    for member in bond["slaves"]:
        details = members.get(member["name"])
        if details is not None:
            member["lacp_status"] = details["status"]
            member["lacp_attached"] = details["attached"]
        if status != "negotiated":
            # Not negotiated: no aggregation to be in (lacp_fallback_ab runs the bond as
            # active-backup, else every member is disabled).
            if details is not None and details["status"] == "current" and not member["enabled"]:
                member["mii_status"] = "up"
                member["in_active_aggregator"] = False
            continue
        if member["enabled"]:
            member["in_active_aggregator"] = True
        elif details is not None and details["status"] == "current":
            # LACPDUs arrive, so the link is up, yet LACP keeps the member out: detached (the
            # switch port is in another group) or attached with a partner not synchronized.
            member["mii_status"] = "up"
            member["in_active_aggregator"] = False
        elif details is not None and not details["attached"]:
            member["in_active_aggregator"] = False  # no LACPDUs: link down or no LACP there


def parse_ovs_bonds(text: Optional[str], lacp_text: Optional[str] = None) -> List[dict]:
    """Every bond of a bond/show answer (with lacp/show's, when given), in OVS's order."""
    if text is None:
        return []
    lacps = parse_lacp_show(lacp_text)
    bonds = []
    for name, block in split_bond_show(text):
        if name is None:
            raise ProbeError(
                "no '---- <bond> ----' header: the input is not ovs-appctl bond/show output"
            )
        bonds.append(parse_ovs_bond(block, name=name, lacp=lacps.get(name)))
    return bonds
