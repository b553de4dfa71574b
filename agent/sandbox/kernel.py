"""The emulated kernel of a sandbox host, behind the same seam as a real one.

It emulates only what a sandbox host lacks: configfs under its root in the kernel's
own layout (`sys/kernel/config/cluster/<name>/node/<node>/{num,ipv4_address,
ipv4_port,local}`), the global heartbeat region the hosts share (one marker per
heartbeating node, beside the host directories), the service state, a reboot, and
the SAN, multipath and mounts of agent.sandbox.io. Everything above the seam
(agent.kernel.Kernel) runs the same for a sandbox host as for a real one.
"""

import math
import shutil
import time
from pathlib import Path
from typing import List, Optional, Set, Tuple

from ..cluster_conf import ClusterConf, ClusterSection
from ..errors import AgentError
from ..fsutil import read_json, write_atomic, write_json
from ..hostroot import INVENTORY, HostRoot
from ..io_probe import MULTIPATH_CONF
from ..kernel import CONF_FILE, CONFIGFS, KERNEL_DEFAULTS, Kernel, read_defaults
from ..storage import list_luns
from . import io
from .faults import POWERED_OFF_FILE

ADDRESS_FILE = "etc/sandbox/address"
DELAY_FILE = "etc/sandbox/agent-delay"
# `ovs-appctl bond/show` and `lacp/show` as the sandbox host answers them (none: no OVS).
OVS_BOND_SHOW_FILE = "var/lib/sandbox/ovs-bond-show"
OVS_LACP_SHOW_FILE = "var/lib/sandbox/ovs-lacp-show"
SANDBOX_MOUNTS = "var/lib/sandbox/mounts.json"
SANDBOX_JOURNAL = "size=4M"


def sandbox_root(path: Path) -> HostRoot:
    return HostRoot(Path(path).resolve(), SandboxKernel)


def iter_sandbox_hosts(sandbox_dir: Path) -> List[HostRoot]:
    base = Path(sandbox_dir)
    if not base.is_dir():
        return []
    return [
        sandbox_root(child)
        for child in sorted(base.iterdir())
        if child.is_dir() and (child / INVENTORY).exists()
    ]


def write_boot_time(root: HostRoot, epoch: int) -> None:
    write_atomic(root.path("proc/stat"), f"btime {epoch}\n")


class SandboxKernel(Kernel):
    """The emulated kernel of one sandbox host; its peers are the sibling directories."""

    sandbox = True
    SERVICES = "var/lib/sandbox/services.json"

    # Identity ------------------------------------------------------------------------------

    def hostname(self) -> str:
        return self.root.root.name

    def addresses(self) -> List[str]:
        try:
            text = self.root.path(ADDRESS_FILE).read_text().strip()
        except FileNotFoundError:
            return []
        return [text] if text else []

    def powered_off(self) -> bool:
        return self.root.path(POWERED_OFF_FILE).exists()

    def answer_delay(self) -> float:
        try:
            return float(self.root.path(DELAY_FILE).read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0.0

    def peers(self) -> List[HostRoot]:
        """The other sandbox hosts of this one's pool: its sibling directories."""
        return [
            peer
            for peer in iter_sandbox_hosts(self.root.root.parent)
            if peer.root != self.root.root
        ]

    # I/O paths and storage: the emulated SAN (agent.sandbox.io) --------------------------

    def settle(self) -> None:
        io.refresh(self.root)

    def multipath_text(self) -> Tuple[Optional[str], Optional[str]]:
        topology, config = self.root.path(io.TOPOLOGY_FILE), self.root.path(MULTIPATH_CONF)
        return (
            topology.read_text() if topology.exists() else None,
            config.read_text() if config.exists() else None,
        )

    def ovs_bond_text(self) -> Tuple[Optional[str], Optional[str]]:
        """A sandbox host has no Open vSwitch unless its owner writes the two answers."""

        def read(relative: str) -> Optional[str]:
            path = self.root.path(relative)
            return path.read_text() if path.exists() else None

        return read(OVS_BOND_SHOW_FILE), read(OVS_LACP_SHOW_FILE)

    def connected_nodes(self, cluster: str) -> Optional[List[int]]:
        """The heartbeating peers o2net is connected to. As the kernel's handshake
        (o2net_check_handshake), a peer whose network idle timeout, keepalive delay or
        reconnect delay differ from ours is disconnected: "O2CB refuses to connect"."""
        local = {n["number"] for n in self.live_nodes(cluster) if n["local"]}
        mine = self._net_settings(self.root, cluster)
        peers = {peer.hostname: peer for peer in self.peers()}
        connected = []
        for number, hostname in self._heartbeat_markers(cluster):
            if number in local:
                continue
            peer = peers.get(hostname)
            if peer is not None and self._net_settings(peer, cluster) != mine:
                continue
            connected.append(number)
        return sorted(set(connected))

    @staticmethod
    def _net_settings(root: HostRoot, cluster: str) -> Tuple[Optional[str], ...]:
        base = root.path(f"{CONFIGFS}/{cluster}")

        def value(name: str) -> Optional[str]:
            try:
                return (base / name).read_text().strip()
            except (FileNotFoundError, NotADirectoryError):
                return None

        return tuple(
            value(name) for name in ("idle_timeout_ms", "keepalive_delay_ms", "reconnect_delay_ms")
        )

    def san_luns(self) -> List[dict]:
        failed = set(io.io_state(self.root)["failed_paths"])
        return [
            {
                "scsi_id": lun["wwid"],
                "size": lun["size"],
                "vendor": lun["vendor"],
                "model": lun["model"],
                "device": lun["file"],
                "dm": lun["dm"],
                "paths": len(lun["paths"]),
                "paths_up": sum(p["device"] not in failed for p in lun["paths"]),
            }
            for lun in io.sandbox_luns(self.root)
        ]

    def mkfs_options(self) -> List[str]:
        # OCFS2's default journal suits real LUNs; sandbox LUNs are small sparse files.
        return ["-J", SANDBOX_JOURNAL]

    def mount(self, lun: dict, target: Path, sr_uuid: str, cluster: str) -> bool:
        # As mount.ocfs2 with global heartbeat: the volume's region must be heartbeating.
        if not self.root.path(f"{CONFIGFS}/{cluster}/heartbeat/{lun['region']}").is_dir():
            raise AgentError(
                f"mount.ocfs2: {lun['scsi_id']} is not heartbeating in cluster {cluster} on "
                f"{self.root.hostname}: start the cluster (with its heartbeat regions) first."
            )
        mounts = read_json(self.root.path(SANDBOX_MOUNTS), {})
        mounts[sr_uuid] = {"device": lun["device"], "region": lun["region"], "cluster": cluster}
        target.mkdir(parents=True, exist_ok=True)
        write_json(self.root.path(SANDBOX_MOUNTS), mounts)
        return True

    def unmount(self, target: Path, sr_uuid: str) -> bool:
        mounts = read_json(self.root.path(SANDBOX_MOUNTS), {})
        changed = mounts.pop(sr_uuid, None) is not None
        write_json(self.root.path(SANDBOX_MOUNTS), mounts)
        return changed

    # O2CB: configfs, the heartbeat, the service -------------------------------------------

    def sync_cluster(self, name: str) -> None:
        conf = ClusterConf.load(self.root.path(CONF_FILE))
        section = conf.cluster(name)
        self._register(section)

    def _register(self, section: ClusterSection) -> None:
        cluster_dir = self.cluster_dir(section.name)
        held = [name for name in self.registered_clusters() if name != section.name]
        if held:
            # As the kernel: mkdir of a second cluster in configfs fails with ENOSPC, and
            # `o2cb register-cluster` reports it as an internal failure.
            raise AgentError(
                f"o2cb: Internal logic failure while registering cluster '{section.name}': "
                f"the kernel holds one O2CB cluster per host and '{held[0]}' is registered on "
                f"{self.root.hostname} (mkdir /{CONFIGFS}/{section.name}: No space left on "
                "device)."
            )
        (cluster_dir / "node").mkdir(parents=True, exist_ok=True)
        defaults = {**KERNEL_DEFAULTS, **read_defaults(self.root)}
        settings = {
            "idle_timeout_ms": defaults["O2CB_IDLE_TIMEOUT_MS"],
            "keepalive_delay_ms": defaults["O2CB_KEEPALIVE_DELAY_MS"],
            "reconnect_delay_ms": defaults["O2CB_RECONNECT_DELAY_MS"],
            # As the console recommends (a fence leaves a dump); real kernels default to reset.
            "fence_method": "panic",
        }
        for key, value in settings.items():
            if not (cluster_dir / key).exists():
                write_atomic(cluster_dir / key, value + "\n")
        heartbeat = cluster_dir / "heartbeat"
        heartbeat.mkdir(exist_ok=True)
        write_atomic(heartbeat / "mode", section.heartbeat_mode + "\n")
        write_atomic(heartbeat / "dead_threshold", defaults["O2CB_HEARTBEAT_THRESHOLD"] + "\n")
        self._start_regions(heartbeat, section.heartbeat_regions)
        live = {node["name"]: node for node in self.live_nodes(section.name)}
        live_numbers = {node["number"] for node in live.values()}
        local = self.root.hostname
        for node in section.nodes:
            # The kernel adds nodes online but never renumbers or removes a live one.
            if node.name in live or node.number in live_numbers:
                continue
            node_dir = cluster_dir / "node" / node.name
            node_dir.mkdir()
            for key, value in (
                ("num", node.number),
                ("ipv4_address", node.ip_address),
                ("ipv4_port", node.ip_port),
                ("local", 1 if node.name == local else 0),
            ):
                (node_dir / key).write_text(f"{value}\n")
        local_node = next((n for n in self.live_nodes(section.name) if n["local"]), None)
        self._beat(section.name, local_node["number"] if local_node else None)

    def start_heartbeat(self, name: str) -> None:
        self.sync_cluster(name)

    def _start_regions(self, heartbeat: Path, regions: List[str]) -> None:
        """What `o2cb start-heartbeat` does: find each region's LUN by its volume UUID."""
        wanted = [r for r in regions if not (heartbeat / r).is_dir()]
        if not wanted:
            return
        devices = {lun["region"]: lun["dm"] for lun in list_luns(self.root) if lun["region"]}
        for region in wanted:
            if region.upper() in devices:
                (heartbeat / region).mkdir()
                write_atomic(heartbeat / region / "dev", devices[region.upper()] + "\n")

    def unregister(self, name: str) -> None:
        shutil.rmtree(self.cluster_dir(name), ignore_errors=True)
        self._beat(name, None)

    def _heartbeat_region(self, name: str) -> Path:
        """The emulated global heartbeat region, shared by the sandbox hosts like a LUN."""
        return self.root.root.parent / ".shared" / "o2hb" / name

    def _beat(self, name: str, number: Optional[int]) -> None:
        region = self._heartbeat_region(name)
        region.mkdir(parents=True, exist_ok=True)
        for marker in region.glob(f"*.{self.root.hostname}"):
            marker.unlink(missing_ok=True)
        if number is not None:
            (region / f"{number}.{self.root.hostname}").touch()

    def _heartbeat_markers(self, name: str) -> List[Tuple[int, str]]:
        """(node number, hostname) of each node heartbeating in the shared region."""
        region = self._heartbeat_region(name)
        if not region.is_dir():
            return []
        markers = []
        for marker in region.iterdir():
            number, hostname = marker.name.split(".", 1)
            markers.append((int(number), hostname))
        return markers

    def heartbeat_live_numbers(self, name: str) -> Set[int]:
        return {number for number, _hostname in self._heartbeat_markers(name)}

    def service_state(self) -> dict:
        return read_json(self.root.path(self.SERVICES), {}).get(
            "o2cb", {"enabled": False, "active": False}
        )

    def _set_service(self, **state) -> None:
        services = read_json(self.root.path(self.SERVICES), {})
        services["o2cb"] = {**self.service_state(), **state}
        write_json(self.root.path(self.SERVICES), services)

    def service(self, action: str) -> None:
        if action == "enable":
            self._set_service(enabled=True)
        elif action == "disable":
            self._set_service(enabled=False)
        elif action == "start":
            self._boot_cluster()
            self._set_service(active=True)
        elif action == "stop":
            for child in self.registered_clusters():
                self.unregister(child)
            self._set_service(active=False)
        else:
            raise AgentError(f"Unknown service action {action}.")

    def _boot_cluster(self) -> None:
        """What the o2cb init script does: register O2CB_BOOTCLUSTER from cluster.conf."""
        name = read_defaults(self.root).get("O2CB_BOOTCLUSTER")
        if name:
            self.sync_cluster(name)

    def reboot(self) -> None:
        for name in self.registered_clusters():
            self.unregister(name)
        self._set_service(active=False)
        # btime counts whole seconds; a boot that starts now is never earlier than now.
        previous = int(self.root.boot_time.timestamp())
        write_boot_time(self.root, max(math.ceil(time.time()), previous + 1))
        if self.service_state()["enabled"]:
            self.service("start")
