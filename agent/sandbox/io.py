"""The sandbox's SAN, storage network and disk heartbeat, with faults to inject.

A sandbox pool shares one emulated SAN beside its host directories
(`.shared/san/luns.json` and one sparse file per LUN). Every host reaches each LUN
over two paths (SCSI hosts 1 and 2, as with two HBAs) and has one active-backup bond
of two slaves for its storage network. What is broken lives in the host's
`var/lib/sandbox/io.json`; from it the sandbox writes the same text a real host shows
(`multipathd show topology`, `/proc/net/bonding/<bond>`, o2hb's debugfs lag), so the
probes read and parse the sandbox exactly as they read a real host.
"""

import hashlib
import time
from pathlib import Path
from typing import List, Optional, Set, Tuple

from ..errors import AgentError
from ..fsutil import read_json, write_atomic, write_json
from ..heartbeat import DEBUGFS_O2HB, REGION_TIMEOUT_MS, probe_heartbeat
from ..hostroot import HostRoot
from ..io_probe import MULTIPATH_CONF
from ..kernel import CONFIGFS
from .faults import FAULTS, POWERED_OFF_FILE

STATE_FILE = "var/lib/sandbox/io.json"
TOPOLOGY_FILE = "var/lib/sandbox/multipath-topology"
# o2hb's timers per region: hangs told to the lowest node, write timeouts fired (and logged).
TIMERS_FILE = "var/lib/sandbox/o2hb-timers.json"
BONDING_DIR = "proc/net/bonding"
# Queue for 6 checker rounds of 5 s: 30 s, inside O2CB's default 60 s dead time.
DEFAULT_MULTIPATH_CONF = """defaults {
	user_friendly_names no
	polling_interval 5
	no_path_retry 6
}
"""
BOND = "bond0"
SLAVES = ("eth0", "eth1")
# Heartbeat lag the sandbox shows: a write every round (2 s) when healthy; "slow" is a
# struggling array (late writes, still well inside the dead time).
SLOW_LAG_MS = 9000


def san_dir(root: HostRoot) -> Path:
    return root.root.parent / ".shared" / "san"


def create_sandbox_san(sandbox_dir: Path, count: int = 4, size: int = 2 << 30) -> List[dict]:
    """Make (or keep) the pool's LUNs: sparse files with SCSI identities."""
    directory = Path(sandbox_dir) / ".shared" / "san"
    directory.mkdir(parents=True, exist_ok=True)
    luns = read_json(directory / "luns.json", [])
    for index in range(len(luns), count):
        # NAA 6 WWIDs as LIO targets report them: 36001405 + 24 hex digits.
        serial = hashlib.sha256(f"{directory.resolve()}:{index}".encode()).hexdigest()[:24]
        wwid = f"36001405{serial}"
        (directory / f"{wwid}.img").touch()
        with open(directory / f"{wwid}.img", "r+b") as image:
            image.truncate(size)
        luns.append(
            {"wwid": wwid, "size": size, "vendor": "LIO-ORG", "model": f"sandbox-lun{index}"}
        )
    write_json(directory / "luns.json", luns)
    return luns


def sandbox_luns(root: HostRoot) -> List[dict]:
    """The LUNs this sandbox host sees, each with its two paths and its dm device."""
    hidden = set(_lines(root.path("etc/sandbox/hidden-luns")))
    luns = []
    for index, lun in enumerate(read_json(san_dir(root) / "luns.json", [])):
        if lun["wwid"] in hidden:
            continue
        paths = [
            {"hcil": f"{hba}:0:0:{index}", "device": _disk_name(2 * index + hba)} for hba in (1, 2)
        ]
        luns.append(
            {
                **lun,
                "index": index,
                "dm": f"dm-{index}",
                "paths": paths,
                "file": str(san_dir(root) / f"{lun['wwid']}.img"),
            }
        )
    return luns


def _lines(path: Path) -> List[str]:
    try:
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _disk_name(number: int) -> str:
    """sd names as the kernel gives them: sda..sdz, sdaa..."""
    letters = ""
    number += 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return "sd" + letters


def _dev_t(number: int) -> str:
    # SCSI disk majors: 8 for the first 16 disks, then 65..71; 16 minors per disk.
    major = 8 if number < 16 else 65 + (number - 16) // 16
    return f"{major}:{(number % 16) * 16}"


def io_state(root: HostRoot) -> dict:
    state = read_json(root.path(STATE_FILE), {})
    state.setdefault("failed_paths", [])
    state.setdefault("down_slaves", [])
    state.setdefault("link_failures", {})
    state.setdefault("heartbeat", "normal")
    state.setdefault("heartbeat_since", None)
    state.setdefault("lun_down_since", {})
    return state


def inject_fault(root: HostRoot, fault: str, target: Optional[str] = None) -> dict:
    """Break or mend one part of a sandbox host's I/O paths; returns the new state."""
    if not root.sandbox:
        raise AgentError("Faults can only be injected into sandbox hosts.")
    if fault not in FAULTS:
        raise AgentError(f"Unknown fault '{fault}'; use one of: {', '.join(FAULTS)}.")
    state = io_state(root)
    now = time.time()
    if fault in ("path-fail", "path-restore"):
        devices = {p["device"] for lun in sandbox_luns(root) for p in lun["paths"]}
        if target not in devices:
            raise AgentError(
                f"{root.hostname} has no path '{target}'; its paths are "
                f"{', '.join(sorted(devices)) or 'none'}."
            )
        failed = set(state["failed_paths"])
        failed = failed | {target} if fault == "path-fail" else failed - {target}
        state["failed_paths"] = sorted(failed)
    elif fault in ("slave-down", "slave-up"):
        if target not in SLAVES:
            raise AgentError(f"{BOND} has no slave '{target}'; its slaves are {', '.join(SLAVES)}.")
        down = set(state["down_slaves"])
        if fault == "slave-down" and target not in down:
            down.add(target)
            state["link_failures"][target] = state["link_failures"].get(target, 0) + 1
        elif fault == "slave-up":
            down.discard(target)
        state["down_slaves"] = sorted(down)
    elif fault.startswith("heartbeat-"):
        base = root.path(CONFIGFS)
        if fault != "heartbeat-normal" and not any(p.is_dir() for p in base.glob("*/heartbeat/*")):
            raise AgentError(
                f"{root.hostname} runs no global heartbeat region yet: add OCFS2 storage "
                "to its cluster first."
            )
        state["heartbeat"] = fault.removeprefix("heartbeat-")
        state["heartbeat_since"] = now
    elif fault in ("power-off", "power-on"):
        dark = root.path(POWERED_OFF_FILE)
        if fault == "power-off":
            dark.parent.mkdir(parents=True, exist_ok=True)
            dark.touch()
        else:
            dark.unlink(missing_ok=True)
    else:  # restore
        state.update(failed_paths=[], down_slaves=[], heartbeat="normal", heartbeat_since=None)
    # When a LUN lost its last path: heartbeat writes to it stall from then on.
    down_since = {}
    for lun in sandbox_luns(root):
        if all(p["device"] in state["failed_paths"] for p in lun["paths"]):
            down_since[lun["wwid"]] = state["lun_down_since"].get(lun["wwid"], now)
    state["lun_down_since"] = down_since
    write_json(root.path(STATE_FILE), state)
    refresh(root)
    return state


def refresh(root: HostRoot) -> None:
    """Write what a real host would show now: topology, bond files, heartbeat lag."""
    state = io_state(root)
    luns = sandbox_luns(root)
    if not root.path(MULTIPATH_CONF).exists():
        write_atomic(root.path(MULTIPATH_CONF), DEFAULT_MULTIPATH_CONF)
    write_atomic(root.path(TOPOLOGY_FILE), render_topology(luns, set(state["failed_paths"])))
    write_atomic(root.path(f"{BONDING_DIR}/{BOND}"), render_bond(state))
    _write_heartbeat_lag(root, state, luns)


def render_topology(luns: List[dict], failed: Set[str]) -> str:
    """`multipathd show topology` in the current multipath-tools layout."""
    out = []
    for lun in luns:
        size_gib = lun["size"] / (1 << 30)
        out.append(f"{lun['wwid']} {lun['dm']} {lun['vendor']},{lun['model']}")
        out.append(f"size={size_gib:g}G features='1 queue_if_no_path' hwhandler='1 alua' wp=rw")
        for position, path in enumerate(lun["paths"]):
            last_group = position == len(lun["paths"]) - 1
            number = 2 * lun["index"] + position + 1
            broken = path["device"] in failed
            group_status = "active" if position == 0 else "enabled"
            out.append(
                f"{'`' if last_group else '|'}-+- policy='service-time 0' "
                f"prio={50 if position == 0 else 10} status={group_status}"
            )
            states = "failed faulty running" if broken else "active ready running"
            out.append(
                f"{' ' if last_group else '|'} `- {path['hcil']} {path['device']} "
                f"{_dev_t(number)} {states}"
            )
    return "\n".join(out) + ("\n" if out else "")


def render_bond(state: dict) -> str:
    """/proc/net/bonding/bond0 as the bonding driver prints an active-backup bond."""
    down = set(state["down_slaves"])
    up = [slave for slave in SLAVES if slave not in down]
    lines = [
        "Ethernet Channel Bonding Driver: v6.1.0",
        "",
        "Bonding Mode: fault-tolerance (active-backup)",
        "Primary Slave: None",
        f"Currently Active Slave: {up[0] if up else 'None'}",
        f"MII Status: {'up' if up else 'down'}",
        "MII Polling Interval (ms): 100",
        "Up Delay (ms): 0",
        "Down Delay (ms): 0",
        "Peer Notification Delay (ms): 0",
    ]
    for index, slave in enumerate(SLAVES):
        lines += [
            "",
            f"Slave Interface: {slave}",
            f"MII Status: {'down' if slave in down else 'up'}",
            f"Speed: {'Unknown' if slave in down else '10000 Mbps'}",
            f"Duplex: {'Unknown' if slave in down else 'full'}",
            f"Link Failure Count: {state['link_failures'].get(slave, 0)}",
            f"Permanent HW addr: 02:00:5e:00:00:{index + 1:02x}",
            "Slave queue ID: 0",
        ]
    return "\n".join(lines) + "\n"


def _region_lags(root: HostRoot, state: dict, luns: List[dict], now: float) -> dict:
    """How long each region's heartbeat writes have hung on this host, by region: `lag`
    in ms, and `stalled` when no write lands (a stall fault, or a LUN with no path left,
    whose writes multipath queues)."""
    by_dm = {lun["dm"]: lun["wwid"] for lun in luns}
    lags = {}
    for cluster in probe_heartbeat(root)["clusters"]:
        for region in cluster["regions"]:
            device = region["device"] or ""
            lun_down = state["lun_down_since"].get(by_dm.get(device, ""))
            # A written heartbeat resets the lag; it climbs until the next write.
            lag, stalled = int(now * 1000) % REGION_TIMEOUT_MS, True
            if lun_down is not None:
                lag = int((now - lun_down) * 1000)
            elif state["heartbeat"] == "stall" and state["heartbeat_since"]:
                lag = int((now - state["heartbeat_since"]) * 1000)
            elif state["heartbeat"] == "slow":
                lag, stalled = SLOW_LAG_MS + lag, False
            else:
                stalled = False
            lags[region["region"]] = {
                "name": region["region"],
                "cluster": cluster["name"],
                "device": device,
                "wwid": by_dm.get(device),
                "lag": lag,
                "stalled": stalled,
                "dead_ms": cluster["dead_ms"],
            }
    return lags


def _cluster_peers(root: HostRoot, cluster: str) -> List[HostRoot]:
    """The other hosts of the pool that run `cluster` now (registered, powered on)."""
    return [
        peer
        for peer in root.kernel.peers()
        if peer.path(f"{CONFIGFS}/{cluster}").is_dir() and not peer.kernel.powered_off()
    ]


def _stalled_on(peer: HostRoot, region: str, wwid: Optional[str]) -> bool:
    state = io_state(peer)
    return state["heartbeat"] == "stall" or (wwid is not None and wwid in state["lun_down_since"])


def _lowest_live(root: HostRoot, cluster: str, peers: List[HostRoot]) -> Tuple[int, HostRoot]:
    """The lowest numbered live node: o2hb_nego_timeout's master, who decides."""
    numbered = []
    for host in (root, *peers):
        me = next((n for n in host.kernel.live_nodes(cluster) if n["local"]), None)
        if me is not None and me["number"] is not None:
            numbered.append((me["number"], host))
    return min(numbered, key=lambda item: item[0], default=(None, root))


# Long: one pass of o2hb's two timers (negotiation, write timeout) over a host's regions.
def _write_heartbeat_lag(root: HostRoot, state: dict, luns: List[dict]) -> None:
    """The o2hb timers as heartbeat.c runs them, per region (the kernel's own debugfs lag).

    - At half the dead time (o2hb_nego_timeout) a node whose writes hang tells the lowest
      live node. When every live node's writes to the region hang (the whole array
      paused), that node approves and the timers of all restart: nobody fences. An I/O
      error would not be negotiated; the sandbox's faults are all stalls.
    - At the dead time (o2hb_write_timeout) the region is failed, and the node fences only
      when the failed quorum regions are at least half of the quorum regions (a region
      every live node heartbeats on). One of three regions hanging fences nobody.
    """
    now = time.time()
    lags = _region_lags(root, state, luns, now)
    timers = read_json(root.path(TIMERS_FILE), {"negotiated": [], "timed_out": []})
    changed = False
    for name, region in lags.items():
        cluster, lag, dead = region["cluster"], region["lag"], region["dead_ms"]
        if not region["stalled"] or lag < dead // 2:
            continue
        peers = _cluster_peers(root, cluster)
        if name not in timers["negotiated"]:
            timers["negotiated"].append(name)
            changed = True
            _log_negotiation(root, cluster, name, region["device"], peers, now, dead)
        holders = [p for p in peers if p.path(f"{CONFIGFS}/{cluster}/heartbeat/{name}").is_dir()]
        # Alone, or with every other holder hung too, the lowest node approves its own wait.
        if all(_stalled_on(p, name, region["wwid"]) for p in holders):
            _restart_timers(state, timers, region, now)
            _, master = _lowest_live(root, cluster, peers)
            _log(
                master,
                now,
                f"o2hb: all nodes hb write hung, maybe region {name} ({region['device']}) is down.",
            )
            region["lag"] = 0
            changed = True
    for cluster in {region["cluster"] for region in lags.values()}:
        regions = {name: r for name, r in lags.items() if r["cluster"] == cluster}
        failed = [name for name, r in regions.items() if r["lag"] >= r["dead_ms"]]
        for name in failed:
            if name not in timers["timed_out"]:
                timers["timed_out"].append(name)
                changed = True
                _log(root, now, _write_timeout_line(root, cluster, name, regions[name]))
        quorum = _quorum_regions(root, cluster, list(regions))
        if failed and 2 * len([n for n in failed if n in quorum]) >= len(quorum):
            name = failed[0]
            fence(root, cluster, name, regions[name]["device"], regions[name]["lag"])
            return
    for name, region in lags.items():
        elapsed = root.path(f"{DEBUGFS_O2HB}/{name}/elapsed_time_in_ms")
        write_atomic(elapsed, f"{region['lag']}\n")
    # A region whose writes land again is armed afresh: negotiated and timed out no more.
    healthy = {name for name, region in lags.items() if not region["stalled"]}
    for key in ("negotiated", "timed_out"):
        if healthy & set(timers[key]):
            timers[key] = [name for name in timers[key] if name not in healthy]
            changed = True
    if changed:
        write_json(root.path(STATE_FILE), state)
        write_json(root.path(TIMERS_FILE), timers)


def _quorum_regions(root: HostRoot, cluster: str, regions: List[str]) -> List[str]:
    """Regions every live node of the cluster heartbeats on ("is now a quorum device")."""
    peers = _cluster_peers(root, cluster)
    return [
        name
        for name in regions
        if all(p.path(f"{CONFIGFS}/{cluster}/heartbeat/{name}").is_dir() for p in peers)
    ]


def _restart_timers(state: dict, timers: dict, region: dict, now: float) -> None:
    if region["wwid"] in state["lun_down_since"]:
        state["lun_down_since"][region["wwid"]] = now
    if state["heartbeat"] == "stall":
        state["heartbeat_since"] = now
    timers["negotiated"] = [n for n in timers["negotiated"] if n != region["name"]]


def _me(root: HostRoot, cluster: str) -> Optional[dict]:
    return next((n for n in root.kernel.live_nodes(cluster) if n["local"]), None)


def _log_negotiation(root, cluster, region, device, peers, now, dead) -> None:
    me = _me(root, cluster)
    if me is None:
        return
    master_number, master = _lowest_live(root, cluster, peers)
    seconds = dead // 2 // 1000
    if master is root:
        _log(
            root,
            now,
            f"o2hb: node {me['number']} hb write hung for {seconds}s on region "
            f"{region} ({device}).",
        )
        return
    _log(
        root,
        now,
        f"o2hb: node {me['number']} hb write hung for {seconds}s on region {region} "
        f"({device}), negotiate timeout with node {master_number}.",
    )
    _log(
        master,
        now,
        f"o2hb: receive negotiate timeout message from node {me['number']} on "
        f"region {region} ({device}).",
    )


def _write_timeout_line(root: HostRoot, cluster: str, region: str, lag: dict) -> str:
    me = _me(root, cluster) or {"number": 0}
    return (
        f"({_o2hb_comm(region, me)}):o2hb_write_timeout:295 ERROR: Heartbeat write timeout to "
        f"device {lag['device']} after {lag['lag']} milliseconds"
    )


def _o2hb_comm(region: str, me: dict) -> str:
    return f"o2hb-{region[:10]},{2000 + me['number']},1"


def _log(host: HostRoot, at: float, text: str) -> None:
    """One kernel message in the host's kern.log, as rsyslog writes it."""
    clock = time.strftime("%b %e %H:%M:%S", time.gmtime(at))
    log = host.path("var/log/kern.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as handle:
        handle.write(f"{clock} {host.hostname} kernel: {_kernel_stamp(host, at)} {text}\n")


def _kernel_stamp(root: HostRoot, at: float) -> str:
    return f"[{max(at - root.boot_time.timestamp(), 0.0):12.6f}]"


def fence(root: HostRoot, cluster: str, region: str, device: str, lag_ms: int) -> None:
    """What O2CB does to a node whose heartbeat writes stalled past the dead time.

    With fence method panic the host leaves a crash dump in XenServer's layout (the
    kernel's own messages in dom0.log, the hypervisor's in xen.log); with reset it just
    restarts. Either way its peers log the death, the DLM recovery and the journal replay,
    and it boots again.
    """
    kernel = root.kernel
    me = _me(root, cluster)
    if me is None:
        return
    method_file = root.path(f"{CONFIGFS}/{cluster}/fence_method")
    method = method_file.read_text().strip() if method_file.exists() else "reset"
    now = time.time()
    stamp = _kernel_stamp(root, now)
    comm = f"({_o2hb_comm(region, me)})"
    kernel_lines = [
        f"{stamp} o2hb: Region {region} ({device}) is now a quorum device",
        f"{stamp} {comm}:o2hb_write_timeout:295 ERROR: Heartbeat write timeout to device "
        f"{device} after {lag_ms} milliseconds",
        f"{stamp} {comm}:o2hb_stop_all_regions:2505 ERROR: stopping heartbeat on all active "
        "regions.",
    ]
    if method == "panic":
        kernel_lines.append(
            f"{stamp} Kernel panic - not syncing: *** ocfs2 is very sorry to be fencing this "
            "system by panicing ***"
        )
        _write_dump(root, now, kernel_lines)
    _tell_peers(root, cluster, me, now)
    state = io_state(root)
    state.update(heartbeat="normal", heartbeat_since=None, lun_down_since={})
    write_json(root.path(STATE_FILE), state)
    root.path(TIMERS_FILE).unlink(missing_ok=True)
    kernel.reboot()


def _write_dump(root: HostRoot, now: float, kernel_lines: List[str]) -> None:
    moment = time.gmtime(now)
    directory = root.path(f"var/crash/{time.strftime('%Y%m%d-%H%M%S', moment)}-UTC")
    directory.mkdir(parents=True, exist_ok=True)
    uptime = now - root.boot_time.timestamp()
    xen_stamp = f"[{uptime + 3.1:.6f}]"
    panic_stamp = kernel_lines[-1].split("]")[0] + "]"
    dom0 = [*kernel_lines, f"{panic_stamp} CPU: 1 PID: 2001 Comm: o2hb Not tainted 4.19.0+1 #1"]
    write_atomic(directory / "dom0.log", "\n".join(dom0) + "\n")
    write_atomic(
        directory / "xen.log",
        "\n".join(
            [
                f"(XEN) {xen_stamp} Hardware Dom0 crashed: rebooting machine in 5 seconds.",
                f"(XEN) {xen_stamp} Resetting with ACPI MEMORY or I/O RESET_REG.",
            ]
        )
        + "\n",
    )
    write_atomic(
        directory / "xen-crashdump-analyser.log",
        f"xen-crashdump-analyser: crash at {time.strftime('%Y-%m-%d %H:%M:%S', moment)} UTC;"
        " dom0 and hypervisor logs written\n",
    )
    # The memory image a real dump holds: binary, never read by the analyser.
    (directory / "xen-memory-dump").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(4089))


def _tell_peers(root: HostRoot, cluster: str, dead: dict, now: float) -> None:
    """The survivors' kernel logs of a peer's death, as O2CB, the DLM and OCFS2 word them.

    Each survivor's heartbeat sees the node die (o2net disconnects it on that event, so no
    idle timeout is logged), evicts it from every lock domain and takes part in the
    recovery; the recovery master, one node, replays the dead node's journal.
    """
    address = f"{dead['ip_address']}:{dead['ip_port']}"
    number, name = dead["number"], dead["name"]
    locals_ = ((_me(peer, cluster), peer) for peer in _cluster_peers(root, cluster))
    survivors = [(local["number"], peer) for local, peer in locals_ if local is not None]
    if not survivors:
        return
    master = min(number for number, _peer in survivors)
    domains = [p.name for p in root.path(f"{CONFIGFS}/{cluster}/heartbeat").glob("*") if p.is_dir()]
    for own, peer in survivors:
        lines = [(0, f"o2net: No longer connected to node {name} (num {number}) at {address}")]
        for domain in domains:
            who = "me" if own == master else "he"
            lines += [
                (0, f"o2cb: o2dlm has evicted node {number} from domain {domain}"),
                (1, f"o2dlm: Begin recovery on domain {domain} for node {number}"),
                (
                    1,
                    f"o2dlm: Node {master} ({who}) is the Recovery Master for the dead node "
                    f"{number} in domain {domain}",
                ),
                (2, f"o2dlm: End recovery on domain {domain}"),
            ]
            if own == master:
                lines += [
                    (
                        3,
                        f"ocfs2: Begin replay journal (node {number}, slot {number}) on device "
                        "(253,0)",
                    ),
                    (
                        4,
                        f"ocfs2: End replay journal (node {number}, slot {number}) on device "
                        "(253,0)",
                    ),
                ]
        for offset, text in lines:
            _log(peer, now + offset, text)
