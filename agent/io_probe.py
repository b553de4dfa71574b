"""One look at every I/O path a host's cluster storage depends on.

Multipath maps and how long each queues I/O without paths, storage-network bonds, the
disk heartbeat of every region, O2CB's network peers and the HA daemon's timeouts.
Each part fails on its own: a host without multipath still reports its bonds.
"""

import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone
from typing import List, Optional, Tuple

from .errors import AgentError
from .heartbeat import probe_heartbeat
from .hostroot import HostRoot
from .probes import ProbeError
from .probes.bonding import parse_bonding
from .probes.multipath import parse_multipath
from .probes.multipath_conf import parse_multipath_conf, queueing_for
from .probes.ovs_bond import SOURCE as OVS_SOURCE
from .probes.ovs_bond import parse_lacp_show, parse_ovs_bond, split_bond_show

XHAD_CONF = "etc/xensource/xhad.conf"
MULTIPATH_CONF = "etc/multipath.conf"
HA_TIMEOUTS = ("HeartbeatTimeout", "StateFileTimeout")


def multipath_text(root: HostRoot) -> Tuple[Optional[str], Optional[str]]:
    """The host's multipath topology and configuration, as multipathd prints them."""
    return root.kernel.multipath_text()


def probe_multipath(root: HostRoot) -> dict:
    return multipath_report(*multipath_text(root))


def multipath_report(topology: Optional[str], config: Optional[str]) -> dict:
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


def probe_bonds(root: HostRoot) -> List[dict]:
    """The host's Linux bonds (/proc/net/bonding), then its Open vSwitch bonds
    (XenServer's and XCP-ng's default network backend), each with its `source`."""
    directory = root.path("proc/net/bonding")
    bonds = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        try:
            bond = parse_bonding(path.read_text(errors="replace"), name=path.name)
        except AgentError as exc:
            bond = {"name": path.name, "error": str(exc), "slaves": [], "source": "linux"}
        bonds.append(bond)
    return bonds + ovs_bonds(*root.kernel.ovs_bond_text())


def ovs_bonds(bond_show: Optional[str], lacp_show: Optional[str]) -> List[dict]:
    """The bonds of `ovs-appctl bond/show`; one that cannot be read is reported alone."""
    if bond_show is None or not bond_show.strip():
        return []
    try:
        lacps = parse_lacp_show(lacp_show)
    except AgentError:
        lacps = {}  # bond/show alone still tells each member's state
    try:
        blocks = split_bond_show(bond_show)
    except AgentError as exc:
        return [{"name": "ovs-bonds", "error": str(exc), "slaves": [], "source": OVS_SOURCE}]
    bonds = []
    for index, (name, text) in enumerate(blocks):
        label = name or f"ovs-bond-{index}"
        try:
            if name is None:
                raise ProbeError(
                    "text before any '---- <bond> ----' header: not ovs-appctl bond/show output"
                )
            bonds.append(parse_ovs_bond(text, name=name, lacp=lacps.get(name)))
        except AgentError as exc:
            bonds.append({"name": label, "error": str(exc), "slaves": [], "source": OVS_SOURCE})
    return bonds


def connected_nodes(root: HostRoot, cluster: str) -> Optional[List[int]]:
    """O2CB peers this node has a live network connection to."""
    return root.kernel.connected_nodes(cluster)


def probe_ha(root: HostRoot) -> Optional[dict]:
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
    root.kernel.settle()
    heartbeat = probe_heartbeat(root)
    for cluster in heartbeat["clusters"]:
        cluster["connected_nodes"] = connected_nodes(root, cluster["name"])
    return {
        "time": datetime.now(timezone.utc).isoformat(),
        "multipath": probe_multipath(root),
        "bonds": probe_bonds(root),
        "heartbeat": heartbeat,
        "ha": probe_ha(root),
    }
