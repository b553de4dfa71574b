"""Parse one ``/proc/net/bonding/<bond>`` file as the Linux bonding driver writes it.

Layout (drivers/net/bonding/bond_procfs.c, and bond_main.c before it): a driver banner,
the master block (``Bonding Mode``, ``Transmit Hash Policy`` for xor/802.3ad and the
layer-hashing tlb/alb, ``Primary Slave``/``Currently Active Slave`` for active-backup, tlb
and alb, ``MII Status``, the MII and delay timers, ARP monitoring, then an ``802.3ad info``
block), followed by one block per slave opened by ``Slave Interface: <dev>``.  Old kernels
print fewer lines (no Speed/Duplex, no churn or LACP details) and printed an unknown speed
as 65535 or 4294967295 Mbps; newer ones print ``Speed: Unknown``.  Without CAP_NET_ADMIN
the reader sees no active aggregator info and no per-port LACPDU details.

In 802.3ad only the ports of the active aggregator carry traffic: a slave with a link in
another aggregator (wired to a switch port outside the LAG) is not counted up.
"""

import re
from typing import List, Optional, Tuple

from agent.probes import ProbeError

# bond_mode_name(): long text -> the kernel's short (sysfs / ip-link) mode name.
MODE_PATTERNS = (
    (re.compile(r"802\.3ad|dynamic link aggregation|\blacp\b", re.I), "802.3ad"),
    (re.compile(r"active-backup|active backup", re.I), "active-backup"),
    (re.compile(r"broadcast", re.I), "broadcast"),
    (re.compile(r"round-robin|round robin|balance-rr", re.I), "balance-rr"),
    (re.compile(r"\bxor\b|balance-xor", re.I), "balance-xor"),
    (re.compile(r"transmit load balancing|balance-tlb|\btlb\b", re.I), "balance-tlb"),
    (re.compile(r"adaptive load balancing|balance-alb|\balb\b", re.I), "balance-alb"),
)
MODE_NUMBERS = {
    "0": "balance-rr",
    "1": "active-backup",
    "2": "balance-xor",
    "3": "broadcast",
    "4": "802.3ad",
    "5": "balance-tlb",
    "6": "balance-alb",
}
UNKNOWN_SPEEDS = {-1, 0xFFFF, 0xFFFFFFFF}
# A parenthesised part of a key may hold colons: "NS IPv6 target/s (xx::xx form): ...".
LINE_RE = re.compile(r"^(?P<key>(?:[^:(]|\([^)]*\))+):(?P<value>.*)$")
# `grep . /proc/net/bonding/*` (or `grep . *` inside it) puts the file name in front of
# every line; it is recognised on the first lines of a bond, so no value is taken for one.
GREP_PREFIX_RE = re.compile(
    r"^(?P<prefix>(?:\S*/)?(?P<bond>[^/:\s]+):)"
    r"(?=\s*(?:Ethernet Channel Bonding Driver|Bonding Mode)\s*:)",
    re.I,
)
NO_AGGREGATOR_RE = re.compile(r"^bond (?P<bond>\S+) has no active aggregator")
NOT_BONDING = "no 'Bonding Mode' line found: the input is not a /proc/net/bonding/<bond> file"


def new_bond(name: Optional[str], source: str) -> dict:
    """A bond's record before its lines are read: the fields every bond source fills."""
    return {
        "name": name,
        "source": source,
        "driver_version": None,
        "mode": None,
        "mode_text": None,
        "fail_over_mac": None,
        "mii_status": None,
        "active_slave": None,
        "primary_slave": None,
        "primary_reselect": None,
        "mii_polling_interval_ms": None,
        "up_delay_ms": None,
        "down_delay_ms": None,
        "peer_notification_delay_ms": None,
        "arp_polling_interval_ms": None,
        "arp_missed_max": None,
        "arp_ip_targets": [],
        "ns_ipv6_targets": [],
        "transmit_hash_policy": None,
        "ad": None,
        "slaves": [],
    }


# Long: one pass over the file's sections (bond, then each slave), as the bonding driver's
# bond_info_show_master and bond_info_show_slave print them.
def parse_bonding(text: str, name: Optional[str] = None) -> dict:
    """Read one bond's /proc/net/bonding file into a dictionary."""
    if not isinstance(text, str):
        raise ProbeError(NOT_BONDING)
    lines, grep_name = _lines(text, name)
    if sum(1 for line in lines if _key_value(line)[0] == "bonding mode") > 1:
        raise ProbeError("the input holds more than one bond; pass one /proc/net/bonding file")
    bond = new_bond(name or grep_name, "linux")
    slave: Optional[dict] = None
    section = "master"  # master | ad | aggregator | slave | actor | partner
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        lowered = stripped.lower()
        m = NO_AGGREGATOR_RE.match(stripped)
        if m:
            ad = _ad(bond)
            ad["active_aggregator"] = False
            bond["name"] = bond["name"] or m.group("bond")
            continue
        if lowered == "802.3ad info":
            _ad(bond)
            section = "ad"
            continue
        if lowered.startswith("active aggregator info"):
            _ad(bond)["active_aggregator"] = True
            section = "aggregator"
            continue
        if lowered.startswith("details actor lacp pdu"):
            section = "actor" if slave is not None else section
            continue
        if lowered.startswith("details partner lacp pdu"):
            section = "partner" if slave is not None else section
            continue
        key, value = _key_value(stripped)
        if key is None:
            continue
        if key == "slave interface":
            if not value:
                raise ProbeError("a 'Slave Interface' line names no interface: the file is cut")
            slave = new_slave(value)
            bond["slaves"].append(slave)
            section = "slave"
            continue
        if section in ("actor", "partner") and line[:1] in (" ", "\t"):
            continue  # per-port LACPDU details, not part of the slave summary
        if slave is not None:
            _slave_line(slave, key, value)
        elif section == "aggregator" and key in AGGREGATOR_KEYS:
            _ad_line(bond, key, value)
        elif section in ("ad", "aggregator") and key in AD_KEYS:
            _ad_line(bond, key, value)
        else:
            _master_line(bond, key, value)
    if bond["mode_text"] is None:
        raise ProbeError(NOT_BONDING)
    for s in bond["slaves"]:
        s["in_active_aggregator"] = _in_active_aggregator(bond, s)
    up = sum(
        1
        for s in bond["slaves"]
        if s["mii_status"] == "up" and s["in_active_aggregator"] is not False
    )
    bond["summary"] = {"mode": bond["mode"], "slaves": len(bond["slaves"]), "up": up}
    return bond


def _lines(text: str, name: Optional[str]) -> Tuple[List[str], Optional[str]]:
    """The lines without a grep file-name prefix, and the bond that prefix names.

    A grep of several bonds is read for the bond ``name`` alone."""
    raw_lines = text.replace("\ufeff", "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    prefixes = {}  # prefix -> bond, in the order the bonds come
    for raw in raw_lines:
        m = GREP_PREFIX_RE.match(raw.lstrip())
        if m:
            prefixes.setdefault(m.group("prefix"), m.group("bond"))
    bonds = []  # type: List[str]
    for bond in prefixes.values():
        if bond not in bonds:
            bonds.append(bond)
    wanted = None
    if len(bonds) > 1:
        if name not in bonds:
            raise ProbeError(
                "the input is a grep of bonds {}; pass one /proc/net/bonding file or name the "
                "bond to read".format(", ".join(bonds))
            )
        wanted = name
    lines = []
    for raw in raw_lines:
        stripped = raw.lstrip()
        prefix = next((p for p in prefixes if stripped.startswith(p)), None)
        if prefix is not None:
            if wanted is not None and prefixes[prefix] != wanted:
                continue
            raw = stripped[len(prefix) :]
        elif wanted is not None:
            continue
        lines.append(raw)
    return lines, wanted or (bonds[0] if bonds else None)


def _key_value(line: str) -> Tuple[Optional[str], str]:
    m = LINE_RE.match(line.strip())
    if not m:
        return None, ""
    # Pasted text may carry no-break spaces, tabs or doubled spaces inside a key.
    key = re.sub(r"\s+", " ", m.group("key")).strip().lower()
    return key, m.group("value").strip()


def _int(value: Optional[str]) -> Optional[int]:
    m = re.match(r"^-?\d+", (value or "").strip())
    return int(m.group(0)) if m else None


def _none_word(value: str) -> Optional[str]:
    value = value.strip()
    return None if value.lower() in ("", "none", "n/a", "unknown") else value


def short_mode(mode_text: str) -> Optional[str]:
    """The kernel's short mode name for the long text after ``Bonding Mode:``."""
    text = re.sub(r"\s*\(fail_over_mac [^)]*\)\s*$", "", mode_text.strip())
    if text in MODE_NUMBERS:
        return MODE_NUMBERS[text]
    for pattern, short in MODE_PATTERNS:
        if pattern.search(text):
            return short
    return text or None


def _master_line(bond: dict, key: str, value: str) -> None:
    if key == "ethernet channel bonding driver":
        bond["driver_version"] = value or None
    elif key == "bonding mode":
        bond["mode_text"] = value
        bond["mode"] = short_mode(value)
        m = re.search(r"\(fail_over_mac ([^)]*)\)", value)
        bond["fail_over_mac"] = m.group(1).strip() if m else None
    elif key == "transmit hash policy":
        bond["transmit_hash_policy"] = _none_word(re.sub(r"\s*\(\d+\)\s*$", "", value))
    elif key == "primary slave":
        m = re.match(r"^(\S+)(?:\s+\(primary_reselect ([^)]*)\))?", value)
        bond["primary_slave"] = _none_word(m.group(1)) if m else None
        bond["primary_reselect"] = m.group(2) if m and m.group(2) else None
    elif key == "currently active slave":
        bond["active_slave"] = _none_word(value)
    elif key == "mii status":
        bond["mii_status"] = value.lower() or None
    elif key == "mii polling interval (ms)":
        bond["mii_polling_interval_ms"] = _int(value)
    elif key == "up delay (ms)":
        bond["up_delay_ms"] = _int(value)
    elif key == "down delay (ms)":
        bond["down_delay_ms"] = _int(value)
    elif key == "peer notification delay (ms)":
        bond["peer_notification_delay_ms"] = _int(value)
    elif key == "arp polling interval (ms)":
        bond["arp_polling_interval_ms"] = _int(value)
    elif key == "arp missed max":
        bond["arp_missed_max"] = _int(value)
    elif key.startswith("arp ip target"):
        bond["arp_ip_targets"] = [t.strip() for t in value.split(",") if t.strip()]
    elif key.startswith("ns ipv6 target"):
        bond["ns_ipv6_targets"] = [t.strip() for t in value.split(",") if t.strip()]
    elif key in AD_KEYS or key in AGGREGATOR_KEYS:
        _ad_line(bond, key, value)


def _ad(bond: dict) -> dict:
    if bond["ad"] is None:
        bond["ad"] = {
            "lacp_rate": None,
            "lacp_active": None,
            "min_links": None,
            "ad_select": None,
            "system_priority": None,
            "system_mac_address": None,
            "active_aggregator": None,
            "aggregator_id": None,
            "number_of_ports": None,
            "actor_key": None,
            "partner_key": None,
            "partner_mac_address": None,
        }
    return bond["ad"]


AD_KEYS = {
    "lacp rate": ("lacp_rate", str),
    "lacp active": ("lacp_active", str),
    "min links": ("min_links", int),
    "aggregator selection policy (ad_select)": ("ad_select", str),
    "system priority": ("system_priority", int),
    "system mac address": ("system_mac_address", str),
}
AGGREGATOR_KEYS = {
    "aggregator id": ("aggregator_id", int),
    "number of ports": ("number_of_ports", int),
    "actor key": ("actor_key", int),
    "partner key": ("partner_key", int),
    "partner mac address": ("partner_mac_address", str),
}


def _ad_line(bond: dict, key: str, value: str) -> None:
    field, kind = AD_KEYS.get(key) or AGGREGATOR_KEYS[key]
    ad = _ad(bond)
    ad[field] = _int(value) if kind is int else (value or None)
    if key in AGGREGATOR_KEYS and ad["active_aggregator"] is None:
        ad["active_aggregator"] = True


CHURN_KEYS = {
    "actor churn state": "actor_churn_state",
    "partner churn state": "partner_churn_state",
}


def new_slave(name: str) -> dict:
    """A slave's record before its lines are read: the fields every bond source fills."""
    return {
        "name": name or None,
        "mii_status": None,
        "speed_mbps": None,
        "duplex": None,
        "link_failure_count": 0,
        "permanent_hw_addr": None,
        "aggregator_id": None,
        "in_active_aggregator": None,
        "actor_churn_state": None,
        "partner_churn_state": None,
    }


def _in_active_aggregator(bond: dict, slave: dict) -> Optional[bool]:
    """None where the file does not tell: not 802.3ad, or read without CAP_NET_ADMIN."""
    ad = bond["ad"]
    if bond["mode"] != "802.3ad" or ad is None or ad["active_aggregator"] is None:
        return None
    if ad["active_aggregator"] is False:
        return False
    if ad["aggregator_id"] is None:
        return None  # an "Active Aggregator Info:" cut before its ID
    return slave["aggregator_id"] == ad["aggregator_id"]


def _slave_line(slave: dict, key: str, value: str) -> None:
    if key == "mii status":
        slave["mii_status"] = value.lower() or None
    elif key == "speed":
        speed = _int(value)
        slave["speed_mbps"] = None if speed is None or speed in UNKNOWN_SPEEDS else speed
    elif key == "duplex":
        duplex = _none_word(value)
        slave["duplex"] = duplex.lower() if duplex else None
    elif key == "link failure count":
        slave["link_failure_count"] = _int(value) or 0
    elif key == "permanent hw addr":
        slave["permanent_hw_addr"] = _none_word(value)
    elif key == "aggregator id":
        slave["aggregator_id"] = _int(value)
    elif key in CHURN_KEYS:
        # "none" is a state here (no churn), not a missing value.
        slave[CHURN_KEYS[key]] = value.lower() or None
