"""The o2cb cluster plugin: the design's Membership.create/destroy, Cluster.query/start/stop.

Every call is idempotent (Celery delivers at least once) and returns plain data.
cluster.conf is only ever replaced atomically, and the real `o2cb` tool performs
each node addition, on a scratch copy, so our comment-keeping copy holds exactly
what o2cb would have written.
"""

import ipaddress
import shutil
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

from .cluster_conf import DEFAULT_PORT, MAX_NODES, ClusterConf, Node
from .errors import AgentError
from .fsutil import read_json, write_atomic, write_json
from .hostroot import HostRoot
from .kernel import (
    CONF_FILE,
    KERNEL_DEFAULTS,
    read_defaults,
    run_o2cb,
    update_defaults,
)
from .names import check_node_name, check_region

MEMBERS_DIR = "var/lib/o2cb-console"
STATIC_VDIS = "etc/xensource/static-vdis"


def parse_address(address: str) -> Tuple[str, int]:
    """ "IP" or "IP:PORT" -> (ip, port); O2CB speaks IPv4 only."""
    host, _, port = address.strip().partition(":")
    try:
        ip = str(ipaddress.IPv4Address(host))
    except ValueError:
        raise AgentError(f"'{address}' is not an IPv4 address (O2CB needs one).") from None
    if not port:
        return ip, DEFAULT_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise AgentError(f"'{address}' has an invalid port.")
    return ip, int(port)


class O2CBPlugin:
    def __init__(self, root: HostRoot, cluster: str):
        if (
            not cluster
            or len(cluster) > 16
            or not cluster.replace("-", "").replace("_", "").isalnum()
        ):
            raise AgentError(
                f"'{cluster}' is not a valid O2CB cluster name (1-16 of A-Z a-z 0-9 - _)."
            )
        self.root = root
        self.name = cluster
        self.kernel = root.kernel
        self.conf_path = root.path(CONF_FILE)
        self.members_path = root.path(f"{MEMBERS_DIR}/{cluster}.json")

    # Helpers -------------------------------------------------------------------------------

    def _load(self) -> ClusterConf:
        return ClusterConf.load(self.conf_path)

    def _members(self) -> dict:
        """cluster.conf has no UUIDs: this map ties the console's host UUIDs to nodes."""
        return read_json(self.members_path, {})

    def _o2cb_add_node(self, conf: ClusterConf, name: str, number: int, ip: str, port: int) -> Node:
        """Let the real o2cb add the node to a scratch copy, and read back what it wrote."""
        with tempfile.TemporaryDirectory(prefix="o2cb-add-") as scratch:
            copy = Path(scratch) / "cluster.conf"
            conf.save(copy)  # its bytes as read, a non-UTF-8 comment too
            run_o2cb(
                "add-node",
                "--ip",
                ip,
                "--port",
                str(port),
                "--number",
                str(number),
                "--",  # o2cb's add-node takes it: no name is ever read as an option
                self.name,
                name,
                config=copy,
            )
            added = ClusterConf.load(copy).cluster(self.name).node_by_name(name)
        if added is None or added.number != number:
            raise AgentError(f"o2cb did not add node {number} ({name}) as asked.")
        return added

    # The plugin API ------------------------------------------------------------------------

    def membership_create(self, hostname: str, uuid: str, id: int, addresses: List[str]) -> dict:
        check_node_name(hostname)
        number = int(id)
        if not 0 <= number < MAX_NODES:
            raise AgentError(
                f"Node number {number} is out of range: O2CB numbers run 0 to {MAX_NODES - 1}. "
                "Restart the cluster to free node numbers."
            )
        if not addresses:
            raise AgentError(f"No address given for {hostname}.")
        ip, port = parse_address(addresses[0])
        conf = self._load()
        changed = False
        if self.name not in conf.clusters:
            conf.add_cluster(self.name, "global")
            changed = True
        section = conf.cluster(self.name)
        same_number, same_name = section.node_by_number(number), section.node_by_name(hostname)
        if same_number and same_number.name == hostname:
            pass  # already there: a repeated delivery
        elif same_number:
            raise AgentError(
                f"Node number {number} is held by {same_number.name} in cluster.conf; "
                f"remove that node before giving its number to {hostname}."
            )
        elif same_name:
            raise AgentError(
                f"{hostname} is already node {same_name.number}; it cannot also be node {number}."
            )
        elif conf.uncomment_node(self.name, number, hostname):
            changed = True
        else:
            conf.add_node(self._o2cb_add_node(conf, hostname, number, ip, port))
            changed = True
        # The UUID map is written before cluster.conf: if the agent dies between the two,
        # a node in cluster.conf is never one whose UUID is unknown (it could not be removed).
        members = self._members()
        if members.get(uuid) != {"name": hostname, "number": number}:
            members[uuid] = {"name": hostname, "number": number}
            write_json(self.members_path, members)
        if changed:
            conf.save(self.conf_path)
        if self.kernel.is_registered(self.name):
            self.kernel.sync_cluster(self.name)  # the online add
        return {
            "changed": changed,
            "node": {"name": hostname, "number": number, "ip_address": ip, "ip_port": port},
            "query": self.cluster_query(),
        }

    def heartbeat_region_add(self, region: str) -> dict:
        """Make a formatted LUN (by its OCFS2 UUID) a global heartbeat region."""
        region = check_region(str(region).replace("-", "").upper())
        if len(region) != 32 or any(c not in "0123456789ABCDEF" for c in region):
            raise AgentError(f"'{region}' is not an OCFS2 volume UUID (32 hex digits).")
        conf = self._load()
        if self.name not in conf.clusters:
            raise AgentError(f"Cluster {self.name} is not in cluster.conf yet.")
        changed = region not in conf.cluster(self.name).heartbeat_regions
        if changed:
            with tempfile.TemporaryDirectory(prefix="o2cb-hb-") as scratch:
                copy = Path(scratch) / "cluster.conf"
                conf.save(copy)  # its bytes as read, a non-UTF-8 comment too
                run_o2cb("add-heartbeat", self.name, region, config=copy)
                if region not in ClusterConf.load(copy).cluster(self.name).heartbeat_regions:
                    raise AgentError(f"o2cb did not add heartbeat region {region}.")
            conf.add_heartbeat_region(self.name, region)
            conf.save(self.conf_path)
        if self.kernel.is_registered(self.name):
            self.kernel.start_heartbeat(self.name)
        return {"changed": changed, "region": region}

    def membership_destroy(self, uuid: str) -> dict:
        members = self._members()
        known = members.get(uuid)
        if known is None:
            return {"changed": False, "node": None, "query": self.cluster_query()}
        conf = self._load()
        changed = False
        if self.name in conf.clusters:
            node = conf.cluster(self.name).node_by_number(known["number"])
            if node is not None and node.name == known["name"]:
                conf.comment_out_node(self.name, node.number)
                conf.save(self.conf_path)
                changed = True
        del members[uuid]
        write_json(self.members_path, members)
        # The running cluster keeps the node until it restarts: query reports needs_restart.
        return {"changed": changed, "node": known, "query": self.cluster_query()}

    def cluster_query(self) -> dict:
        conf = self._load()
        configured = self.name in conf.clusters
        section = conf.clusters.get(self.name)
        service = self.kernel.service_state()
        running = bool(service["active"]) and self.kernel.is_registered(self.name)
        uuids = {(v["number"], v["name"]): k for k, v in self._members().items()}
        live = {n["number"]: n for n in self.kernel.live_nodes(self.name)} if running else {}
        beating = self.kernel.heartbeat_live_numbers(self.name) if running else set()
        reasons, hosts = [], []
        nodes = {n.number: n for n in section.nodes} if section else {}
        for number in sorted(set(nodes) | set(live)):
            node, live_node = nodes.get(number), live.get(number)
            name = node.name if node else live_node["name"]
            reason = _restart_reason(number, name, node, live_node, running)
            if reason:
                reasons.append(reason)
            if not running:
                state = "dead"
            elif node and not live_node:
                state = "excluded"
            else:
                state = "alive" if number in beating else "dead"
            ip, port = (
                (node.ip_address, node.ip_port)
                if node
                else (live_node["ip_address"], live_node["ip_port"])
            )
            hosts.append(
                {
                    "uuid": uuids.get((number, name)),
                    "hostname": name,
                    "number": number,
                    "address": f"{ip}:{port}",
                    "state": state,
                    "configured": node is not None,
                    "live": live_node is not None,
                }
            )
        local = next((n.number for n in nodes.values() if n.name == self.root.hostname), None)
        return {
            "cluster": self.name,
            "configured": configured,
            "running": running,
            "enabled": bool(service["enabled"]),
            "heartbeat_mode": section.heartbeat_mode if section else None,
            "needs_restart": bool(reasons),
            "restart_reasons": reasons,
            "local_node": local,
            "timeouts": self._timeouts(running),
            "hosts": hosts,
        }

    def _timeouts(self, running: bool) -> dict:
        """The O2CB timeouts this host uses: the running cluster's, else what it would boot
        with. O2CB refuses peers whose timeouts differ, so the console compares them."""
        defaults = {**KERNEL_DEFAULTS, **read_defaults(self.root)}
        values = {
            "dead_threshold": defaults["O2CB_HEARTBEAT_THRESHOLD"],
            "idle_timeout_ms": defaults["O2CB_IDLE_TIMEOUT_MS"],
            "keepalive_delay_ms": defaults["O2CB_KEEPALIVE_DELAY_MS"],
            "reconnect_delay_ms": defaults["O2CB_RECONNECT_DELAY_MS"],
        }
        if running:
            cluster_dir = self.kernel.cluster_dir(self.name)
            live_files = {"dead_threshold": cluster_dir / "heartbeat" / "dead_threshold"}
            live_files.update({key: cluster_dir / key for key in values if key != "dead_threshold"})
            for key, path in live_files.items():
                try:
                    values[key] = path.read_text().strip()
                except FileNotFoundError:
                    pass
        return {key: int(value) if str(value).isdigit() else None for key, value in values.items()}

    def cluster_start(self, statefile_vdi: Optional[str] = None) -> dict:
        conf = self._load()
        if self.name not in conf.clusters:
            raise AgentError(
                f"Cluster '{self.name}' is not in cluster.conf; add its members first."
            )
        if conf.cluster(self.name).node_by_name(self.root.hostname) is None:
            raise AgentError(f"{self.root.hostname} is not a node of cluster '{self.name}'.")
        held = [name for name in self.kernel.registered_clusters() if name != self.name]
        if held:
            # Refused before O2CB_BOOTCLUSTER changes: else the next boot would start this
            # cluster instead of the one that runs (and holds the storage) now.
            raise AgentError(
                f"Cluster '{self.name}' cannot start on {self.root.hostname}: O2CB cluster "
                f"'{held[0]}' runs on {self.root.hostname}, and the kernel holds one O2CB "
                f"cluster per host. Stop '{held[0]}' on this host first."
            )
        if conf.set_heartbeat_mode(self.name, "global"):
            conf.save(self.conf_path)
        update_defaults(self.root, {"O2CB_ENABLED": "true", "O2CB_BOOTCLUSTER": self.name})
        if statefile_vdi:
            self._static_vdi_add(statefile_vdi)
        self.kernel.service("enable")
        if not self.kernel.is_registered(self.name) or not self.kernel.service_state()["active"]:
            self.kernel.service("start")
        return self.cluster_query()

    def cluster_stop(self) -> dict:
        if self.kernel.service_state()["active"] or self.kernel.is_registered(self.name):
            self.kernel.service("stop")
        self.kernel.service("disable")
        update_defaults(self.root, {"O2CB_ENABLED": "false"})
        self._static_vdi_remove()
        return self.cluster_query()

    # XenServer's static-vdis: attached at boot, before the o2cb service starts -------------

    @property
    def _reason(self) -> str:
        return f"o2cb statefile for cluster {self.name}"

    def _static_vdi_entries(self) -> List[Path]:
        base = self.root.path(STATIC_VDIS)
        if not base.is_dir():
            return []
        return [
            entry
            for entry in sorted(base.iterdir())
            if (entry / "reason").exists()
            and (entry / "reason").read_text().strip() == self._reason
        ]

    def _static_vdi_add(self, vdi_uuid: str) -> None:
        for entry in self._static_vdi_entries():
            if (entry / "vdi-uuid").read_text().strip() == vdi_uuid:
                return
            shutil.rmtree(entry)  # this cluster's statefile changed
        base = self.root.path(STATIC_VDIS)
        base.mkdir(parents=True, exist_ok=True)
        used = {int(p.name) for p in base.iterdir() if p.name.isdigit()}
        entry = base / str(min(set(range(len(used) + 1)) - used))
        write_atomic(entry / "vdi-uuid", vdi_uuid + "\n")
        write_atomic(entry / "reason", self._reason + "\n")

    def _static_vdi_remove(self) -> None:
        for entry in self._static_vdi_entries():
            shutil.rmtree(entry)


def _restart_reason(number: int, name: str, node, live_node: Optional[dict], running: bool):
    """Why node `number` differs between cluster.conf (`node`) and the running cluster
    (`live_node`) in a way only a cluster restart mends, or None."""
    if (
        node
        and live_node
        and (node.name, node.ip_address, node.ip_port)
        != (live_node["name"], live_node["ip_address"], live_node["ip_port"])
    ):
        return (
            f"node {number} is {live_node['name']} at {live_node['ip_address']} in the "
            f"running cluster but {node.name} at {node.ip_address} in cluster.conf"
        )
    if live_node and not node:
        return (
            f"node {number} ({name}) was removed from cluster.conf but is still in the "
            "running cluster"
        )
    if node and running and not live_node:
        return f"node {number} ({name}) is in cluster.conf but the running cluster could not add it"
    return None
