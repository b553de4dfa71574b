"""Judging a host's I/O paths from one agent probe: ok, degraded or critical.

Pure functions of the probe (no database), so the rules read in one place:

- degraded: a multipath path or a bond slave down (no redundancy left somewhere), or
  disk heartbeat writes later than two heartbeat rounds;
- critical: the last path to a LUN down, a bond with no slave up, heartbeat lag above
  half of O2CB's dead time, or the host not answering;
- the time left before O2CB fences the host: dead time minus the heartbeat lag of every
  region that is late or whose LUN has no path left.

Configuration that turns an outage into a fence is reported apart (it does not change
the state): multipath queueing I/O past the dead time, an HA timeout that races O2CB's,
and a fence method that leaves no crash dump.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from agent.probes.multipath import nvme_controller, path_ok
from clusters.choices import IOHealthState

HEARTBEAT_ROUND_MS = 2000
LATE_HEARTBEAT_MS = 2 * HEARTBEAT_ROUND_MS
# HA and O2CB timeouts closer than this race: either may fence first.
TIMEOUT_RACE_MARGIN_S = 10
# Findings about settings (not state): reported apart, each with its fix.
CONFIG_KINDS = ("queueing", "ha_timeout", "fence_method")
SEVERITY_ORDER = [
    IOHealthState.OK,
    IOHealthState.UNKNOWN,
    IOHealthState.DEGRADED,
    IOHealthState.CRITICAL,
]


@dataclass
class Finding:
    kind: str  # multipath, bonding, heartbeat, agent; config: queueing, ha_timeout, fence_method
    subject: str
    message: str
    fix: str
    severity: str = IOHealthState.DEGRADED


@dataclass
class Verdict:
    state: str
    problems: list[Finding] = field(default_factory=list)
    config_warnings: list[Finding] = field(default_factory=list)
    time_to_fence: float | None = None

    def as_fields(self) -> dict:
        return {
            "state": self.state,
            "problems": [asdict(p) for p in self.problems],
            "config_warnings": [asdict(w) for w in self.config_warnings],
            "time_to_fence": self.time_to_fence,
        }


def worst(states) -> str:
    states = list(states)
    return max(states, key=SEVERITY_ORDER.index) if states else IOHealthState.UNKNOWN


def path_set(path: dict) -> str | None:
    """What the path goes through that can fail on its own: its HBA (SCSI host), or for
    a native NVMe path its controller."""
    controller = nvme_controller(path)
    if controller:
        return f"NVMe controller {controller}"
    return f"SCSI host {path['hcil'].split(':')[0]}" if path.get("hcil") else None


def slave_carries_traffic(slave: dict) -> bool:
    """Its link is up and, in an 802.3ad bond, it is in the active aggregator: a port the
    switch put in another LACP group has a link yet carries nothing."""
    return slave.get("mii_status") == "up" and slave.get("in_active_aggregator") is not False


def map_paths(map_: dict) -> list[dict]:
    return [p for group in map_.get("path_groups", []) for p in group.get("paths", [])]


def lun_views(probe: dict) -> dict[str, dict]:
    """Each multipath map of a probe by WWID: its label (the subject of its findings), paths
    up of total, and the heartbeat region written to it with its lag. Kept beside the
    verdict, so a page about one LUN reads a few numbers per host, not whole probes."""
    regions = {}
    for cluster in probe.get("heartbeat", {}).get("clusters", []):
        for region in cluster.get("regions", []):
            regions[region.get("device")] = {
                "region": f"{cluster.get('name')}/{region.get('region')}",
                "lag_ms": region.get("elapsed_ms"),
                "dead_ms": cluster.get("dead_ms"),
            }
    views = {}
    for map_ in probe.get("multipath", {}).get("maps", []):
        paths = map_paths(map_)
        views[map_.get("wwid") or map_.get("name")] = {
            "label": _map_label(map_),
            "up": sum(path_ok(p) for p in paths),
            "total": len(paths),
            **regions.get(map_.get("dm"), {"region": None, "lag_ms": None, "dead_ms": None}),
        }
    return views


def _describe(path: dict) -> str:
    states = "/".join(
        s for s in (path.get("dm_state"), path.get("checker_state"), path.get("online_state")) if s
    )
    return f"{path.get('device')} ({path.get('hcil')}, {states})"


def _map_label(map_: dict) -> str:
    name, wwid = map_.get("name"), map_.get("wwid")
    return name if not wwid or wwid == name else f"{name} ({wwid})"


def _broken_paths_fix(broken: list[dict]) -> str:
    controllers = sorted({c for c in map(nvme_controller, broken) if c})
    if controllers:
        return (
            f"Check the fabric link of NVMe controller {', '.join(controllers)} "
            "(`nvme list-subsys`, `multipathd show paths`); the host reconnects it on its own "
            "once the link is back."
        )
    hosts = sorted({p["hcil"].split(":")[0] for p in broken if p.get("hcil")})
    return (
        f"Check the cable, switch port and HBA of SCSI host {', '.join(hosts)} "
        "(`multipathd show paths`); multipathd reinstates a path on its own once the link "
        "is back."
    )


def evaluate_multipath(multipath: dict) -> tuple[list[Finding], set[str]]:
    """Problems with the maps, and the dm devices that have no working path."""
    problems, dead_devices = [], set()
    if multipath.get("error"):
        problems.append(
            Finding(
                "multipath",
                "multipath",
                f"The multipath topology could not be read: {multipath['error']}",
                "Run `multipathd show topology` on the host and check multipathd is running.",
            )
        )
    for map_ in multipath.get("maps", []):
        paths = map_paths(map_)
        broken = [p for p in paths if not path_ok(p)]
        label = _map_label(map_)
        if len(broken) == len(paths):
            dead_devices.add(map_.get("dm") or "")
            problems.append(
                Finding(
                    "multipath",
                    label,
                    f"LUN {label} has no working path: "
                    + (", ".join(_describe(p) for p in broken) or "no path at all")
                    + ". I/O to it is queued or failing.",
                    "Check the SAN fabric for this LUN now: the storage array, the switch ports "
                    "and both HBAs' links (`multipathd show paths`). If it carries a heartbeat "
                    "region, O2CB fences this host once heartbeat writes stall for its dead time.",
                    IOHealthState.CRITICAL,
                )
            )
        elif broken:
            problems.append(
                Finding(
                    "multipath",
                    label,
                    f"LUN {label}: {len(broken)} of {len(paths)} paths down: "
                    + ", ".join(_describe(p) for p in broken)
                    + ". The LUN has less redundancy than configured.",
                    _broken_paths_fix(broken),
                )
            )
    return problems, dead_devices


def is_ovs(bond: dict) -> bool:
    """An Open vSwitch bond (XenServer's and XCP-ng's vSwitch backend), not a Linux one."""
    return bond.get("source") == "openvswitch"


def bond_command(bond: dict, name: str) -> str:
    """Where an admin reads the bond's state on the host."""
    return f"`ovs-appctl bond/show {name}`" if is_ovs(bond) else f"/proc/net/bonding/{name}"


def evaluate_bonds(bonds: list[dict]) -> list[Finding]:
    problems = []
    for bond in bonds:
        name = bond.get("name") or "bond"
        if bond.get("error"):
            read = "Run" if is_ovs(bond) else "Read"
            problems.append(
                Finding(
                    "bonding",
                    name,
                    f"{name} could not be read: {bond['error']}",
                    f"{read} {bond_command(bond, name)} on the host.",
                )
            )
            continue
        slaves = bond.get("slaves", [])
        down = [s for s in slaves if s.get("mii_status") != "up"]
        stray = [s for s in slaves if s.get("mii_status") == "up" and not slave_carries_traffic(s)]
        if slaves and len(down) + len(stray) == len(slaves) or bond.get("mii_status") == "down":
            problems.append(_bond_down(bond, name, slaves, down, stray))
        elif down or stray:
            problems.append(_bond_without_redundancy(bond, name, down, stray))
    return problems


def _link_tools(bond: dict, name: str) -> str:
    tools = "`ip link show`, `ethtool`"
    return f"{bond_command(bond, name)}, {tools}" if is_ovs(bond) else tools


def _lacp_unnegotiated(bond: dict) -> bool:
    """An OVS LACP bond whose switch never negotiated: OVS enables no member then."""
    return is_ovs(bond) and (bond.get("lacp") or {}).get("status") == "configured"


def _bond_down(
    bond: dict, name: str, slaves: list[dict], down: list[dict], stray: list[dict]
) -> Finding:
    names = ", ".join(s["name"] for s in slaves)
    ovs = is_ovs(bond)
    noun = "member" if ovs else "slave"
    if stray:
        with_link = "with a link " if down else ""
        why = f"no {noun} {with_link}is in an active LACP aggregator"
        where = (
            f"`ovs-appctl lacp/show {name}`: each member attached or detached, and its partner"
            if ovs
            else f"/proc/net/bonding/{name}: each slave's Aggregator ID and its partner details"
        )
        fix = (
            f"Check the switch: the ports of {names} must form one LACP group "
            f"(port-channel) that is up ({where})."
        )
    elif _lacp_unnegotiated(bond):
        why = (
            "LACP is not negotiated with the switch, so Open vSwitch enables no member "
            "(no link, or the switch ports are not in an LACP group)"
        )
        fix = (
            f"Check the cables and switch ports of {names}, and that the switch runs LACP on "
            f"them as one group (`ovs-appctl bond/show {name}`, `ovs-appctl lacp/show {name}`)."
        )
    else:
        if len(down) == len(slaves):
            why = f"no {noun} has a link" + (
                " (Open vSwitch has every member disabled)" if ovs else ""
            )
        else:
            why = "the bonding driver has it down"
        fix = f"Check the cables and switch ports of {names} ({_link_tools(bond, name)})."
    return Finding(
        "bonding",
        name,
        f"Bond {name} is down: {why}. The cluster network or storage traffic on it has stopped.",
        fix,
        IOHealthState.CRITICAL,
    )


def _bond_without_redundancy(bond: dict, name: str, down: list[dict], stray: list[dict]) -> Finding:
    said, fixes = [], []
    ovs = is_ovs(bond)
    if down:
        if ovs:  # Open vSwitch counts no link failures
            said.append(", ".join(s["name"] for s in down) + " is down")
        else:
            said.append(
                ", ".join(
                    f"{s['name']} (link failures: {s.get('link_failure_count') or 0})" for s in down
                )
                + " is down"
            )
        fixes.append(
            f"Check the cable and switch port of {', '.join(s['name'] for s in down)} "
            f"({_link_tools(bond, name)})."
        )
    if stray:
        if ovs:
            said += [f"{s['name']} has a link but LACP left it out of the bond" for s in stray]
            where = f"`ovs-appctl lacp/show {name}`: attached or detached, partner sys_id and key"
        else:
            active = (bond.get("ad") or {}).get("aggregator_id")
            said += [
                f"{s['name']} has a link but is outside the active aggregator ({active})"
                for s in stray
            ]
            where = f"/proc/net/bonding/{name}: Aggregator ID"
        fixes.append(
            f"Put the switch ports of {', '.join(s['name'] for s in stray)} in the same LACP "
            f"group (port-channel) as the others ({where})."
        )
    traffic = f"; traffic is on {bond['active_slave']}" if bond.get("active_slave") else ""
    return Finding(
        "bonding",
        name,
        f"Bond {name} ({bond.get('mode')}) runs without redundancy: {'; '.join(said)}{traffic}.",
        " ".join(fixes),
    )


def evaluate_heartbeat(
    heartbeat: dict, dead_devices: set[str]
) -> tuple[list[Finding], float | None]:
    problems, time_left = [], []
    for cluster in heartbeat.get("clusters", []):
        dead_ms = cluster.get("dead_ms") or 0
        for region in cluster.get("regions", []):
            lag = region.get("elapsed_ms")
            device = region.get("device") or ""
            lun_down = device in dead_devices
            if lag is None or dead_ms <= 0:
                continue
            if lag <= LATE_HEARTBEAT_MS and not lun_down:
                continue
            left = max(dead_ms - lag, 0) / 1000
            time_left.append(left)
            critical = lag > dead_ms / 2 or lun_down
            problems.append(
                Finding(
                    "heartbeat",
                    f"{cluster['name']}/{region['region']}",
                    f"Disk heartbeat of cluster {cluster['name']} on {device or 'its device'} "
                    f"was last written {lag / 1000:.1f} s ago (normally under "
                    f"{LATE_HEARTBEAT_MS / 1000:g} s); O2CB fences this host at "
                    f"{dead_ms / 1000:g} s, in about {left:.0f} s."
                    + (" The LUN has no working path." if lun_down else ""),
                    "Restore the LUN's paths or the array's responsiveness now. To survive longer "
                    "outages, raise O2CB_HEARTBEAT_THRESHOLD on every host (it must be the same "
                    "everywhere) and restart the cluster.",
                    IOHealthState.CRITICAL if critical else IOHealthState.DEGRADED,
                )
            )
    return problems, (min(time_left) if time_left else None)


def evaluate_config(probe: dict) -> list[Finding]:
    warnings = []
    clusters = probe.get("heartbeat", {}).get("clusters", [])
    dead_s = min((c["dead_ms"] / 1000 for c in clusters if c.get("dead_ms")), default=None)
    heartbeat_devices = {r.get("device") for c in clusters for r in c.get("regions", [])}
    if dead_s:
        maps = {m.get("name"): m for m in probe.get("multipath", {}).get("maps", [])}
        for queueing in probe.get("multipath", {}).get("queueing", []):
            map_ = maps.get(queueing["map"], {})
            if heartbeat_devices and map_.get("dm") not in heartbeat_devices:
                continue
            seconds = queueing["queue_seconds"]
            if seconds is not None and seconds <= dead_s:
                continue
            how_long = "without limit" if seconds is None else f"for {seconds:g} s"
            warnings.append(
                Finding(
                    "queueing",
                    queueing["map"],
                    f"When every path to {queueing['map']} fails, multipath queues I/O "
                    f"{how_long} (no_path_retry {queueing['no_path_retry'] or 'unset'}, "
                    f"from {queueing['source']}), longer than O2CB's dead time of {dead_s:g} s: "
                    "heartbeat writes hang and O2CB fences the host before multipath gives up.",
                    "Set no_path_retry so that no_path_retry x polling_interval "
                    f"({queueing['polling_interval']} s) stays below {dead_s:g} s in "
                    "/etc/multipath.conf, then `multipathd reconfigure`; or raise "
                    "O2CB_HEARTBEAT_THRESHOLD on every host.",
                )
            )
    ha = probe.get("ha") or {}
    for name, seconds in (ha.get("timeouts_s") or {}).items():
        if dead_s and abs(seconds - dead_s) < TIMEOUT_RACE_MARGIN_S:
            warnings.append(
                Finding(
                    "ha_timeout",
                    name,
                    f"HA's {name} ({seconds} s) is within {TIMEOUT_RACE_MARGIN_S} s of O2CB's "
                    f"dead time ({dead_s:g} s): on a storage outage both race to fence the "
                    "host, and the crash cannot say which one did.",
                    "Re-enable HA with a timeout at least "
                    f"{TIMEOUT_RACE_MARGIN_S} s away from {dead_s:g} s "
                    "(`xe pool-ha-enable ... ha-config:timeout=N`), or change "
                    "O2CB_HEARTBEAT_THRESHOLD on every host.",
                )
            )
    for cluster in clusters:
        if cluster.get("fence_method") == "reset":
            warnings.append(
                Finding(
                    "fence_method",
                    cluster["name"],
                    f"Cluster {cluster['name']} fences by reset: the host restarts at once and "
                    "leaves no crash dump, so the console can only explain the fence from what "
                    "the other hosts saw.",
                    f"echo panic > /sys/kernel/config/cluster/{cluster['name']}/fence_method on "
                    "every host (and keep a crash kernel configured), so a fence leaves a dump.",
                )
            )
    return warnings


def evaluate(probe: dict) -> Verdict:
    multipath_problems, dead_devices = evaluate_multipath(probe.get("multipath") or {})
    heartbeat_problems, time_to_fence = evaluate_heartbeat(
        probe.get("heartbeat") or {}, dead_devices
    )
    problems = multipath_problems + evaluate_bonds(probe.get("bonds") or []) + heartbeat_problems
    state = worst([IOHealthState.OK, *(p.severity for p in problems)])
    return Verdict(state, problems, evaluate_config(probe), time_to_fence)


def unreachable(message: str) -> Verdict:
    return Verdict(
        IOHealthState.CRITICAL,
        [
            Finding(
                "agent",
                "agent",
                f"The host's agent did not answer the health check: {message}",
                "Check that the host is up, that its agent runs and that it reaches Redis.",
                IOHealthState.CRITICAL,
            )
        ],
    )


def samples(probe: dict) -> list[tuple[str, str, float]]:
    """The series a collection round adds: heartbeat lag, path and bond-slave states."""
    values = []
    for cluster in probe.get("heartbeat", {}).get("clusters", []):
        for region in cluster.get("regions", []):
            if region.get("elapsed_ms") is not None:
                values.append(("heartbeat_lag_ms", region["region"], region["elapsed_ms"]))
    for map_ in probe.get("multipath", {}).get("maps", []):
        paths = map_paths(map_)
        values.append(("paths_up", map_.get("wwid") or map_["name"], sum(map(path_ok, paths))))
        for path in paths:
            values.append(("path_up", f"{map_['name']}/{path['device']}", int(path_ok(path))))
    for bond in probe.get("bonds", []):
        for slave in bond.get("slaves", []):
            values.append(
                (
                    "slave_up",
                    f"{bond['name']}/{slave['name']}",
                    int(slave_carries_traffic(slave)),
                )
            )
    return values
