"""One look at every I/O path a host's cluster storage depends on.

Multipath maps and how long each queues I/O without paths, storage-network bonds, the
disk heartbeat of every region, O2CB's network peers and the HA daemon's timeouts.
Each part fails on its own: a host without multipath still reports its bonds.
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime

from .errors import AgentError
from .heartbeat import probe_heartbeat
from .hostroot import HostRoot
from .kernel import find_tool
from .probes.bonding import parse_bonding
from .probes.multipath import parse_multipath
from .probes.multipath_conf import parse_multipath_conf, queueing_for

XHAD_CONF = "etc/xensource/xhad.conf"
MULTIPATH_CONF = "etc/multipath.conf"
O2NET_CONNECTED = "sys/kernel/debug/o2net/connected_nodes"
HA_TIMEOUTS = ("HeartbeatTimeout", "StateFileTimeout")


def _run(tool: str, *args: str) -> str | None:
    """A tool's output, or None when it is missing or fails (multipathd lives in sbin)."""
    try:
        command = [find_tool(tool), *args]
    except AgentError:
        return None
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    return result.stdout if result.returncode == 0 else None


def multipath_text(root: HostRoot) -> tuple[str | None, str | None]:
    """The host's multipath topology and configuration, as multipathd prints them."""
    if root.sandbox:
        from .sandbox_io import TOPOLOGY_FILE

        topology, config = root.path(TOPOLOGY_FILE), root.path(MULTIPATH_CONF)
        return (
            topology.read_text() if topology.exists() else None,
            config.read_text() if config.exists() else None,
        )
    topology = _run("multipathd", "show", "topology") or _run("multipath", "-ll")
    config = _run("multipathd", "show", "config")
    if config is None and root.path(MULTIPATH_CONF).exists():
        config = root.path(MULTIPATH_CONF).read_text(errors="replace")
    return topology, config


def probe_multipath(root: HostRoot) -> dict:
    return multipath_report(*multipath_text(root))


def multipath_report(topology: str | None, config: str | None) -> dict:
    """The maps of multipathd's topology text and how long each queues I/O without paths
    (None topology: multipath is not installed)."""
    if topology is None or not topology.strip():
        return {"available": topology is not None, "maps": [], "queueing": [], "error": None}
    try:
        parsed = parse_multipath(topology)
    except AgentError as exc:
        return {"available": True, "maps": [], "queueing": [], "error": str(exc)}
    conf = parse_multipath_conf(config) if config else None
    return {
        "available": True,
        "maps": parsed["maps"],
        "queueing": [queueing_for(conf, m) for m in parsed["maps"]],
        "error": None,
    }


def probe_bonds(root: HostRoot) -> list[dict]:
    directory = root.path("proc/net/bonding")
    bonds = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        try:
            bonds.append(parse_bonding(path.read_text(errors="replace"), name=path.name))
        except AgentError as exc:
            bonds.append({"name": path.name, "error": str(exc), "slaves": []})
    return bonds


def connected_nodes(root: HostRoot, cluster: str) -> list[int] | None:
    """O2CB peers this node has a live network connection to."""
    if root.sandbox:
        from .kernel import kernel_for

        kernel = kernel_for(root)
        local = [n["number"] for n in kernel.live_nodes(cluster) if n["local"]]
        return sorted(kernel.heartbeat_live_numbers(cluster) - set(local))
    try:
        text = root.path(O2NET_CONNECTED).read_text()
    except (FileNotFoundError, PermissionError):
        return None
    return sorted(int(n) for n in re.findall(r"\d+", text))


def probe_ha(root: HostRoot) -> dict | None:
    """XenServer HA's timeouts from xhad.conf, which exists only while HA is enabled."""
    path = root.path(XHAD_CONF)
    if not path.exists():
        return None
    try:
        # A root-owned local configuration file, not input from the network.
        tree = ElementTree.parse(path)  # noqa: S314
    except ElementTree.ParseError as exc:
        return {"enabled": True, "error": f"{XHAD_CONF} is not valid XML: {exc}"}
    timeouts = {}
    for name in HA_TIMEOUTS:
        node = tree.find(f".//parameters/{name}")
        if node is not None and (node.text or "").strip().isdigit():
            timeouts[name] = int(node.text.strip())
    return {"enabled": True, "timeouts_s": timeouts, "error": None}


def probe_io(root: HostRoot) -> dict:
    if root.sandbox:
        from .sandbox_io import refresh

        refresh(root)
    heartbeat = probe_heartbeat(root)
    for cluster in heartbeat["clusters"]:
        cluster["connected_nodes"] = connected_nodes(root, cluster["name"])
    return {
        "time": datetime.now(UTC).isoformat(),
        "multipath": probe_multipath(root),
        "bonds": probe_bonds(root),
        "heartbeat": heartbeat,
        "ha": probe_ha(root),
    }
