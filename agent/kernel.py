"""The live O2CB state: configfs, o2hb's debugfs and the o2cb service.

RealKernel reads and drives the real ones (`o2cb register-cluster`, systemctl).
SandboxKernel emulates only what a sandbox host lacks: configfs under its root in
the kernel's own layout (`sys/kernel/config/cluster/<name>/node/<node>/{num,
ipv4_address,ipv4_port,local}`), the global heartbeat region the hosts share
(one marker per heartbeating node, beside the host directories), the service
state, and a reboot. Everything above this module runs the same in both modes.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from pathlib import Path

from .cluster_conf import ClusterConf, ClusterSection
from .errors import AgentError
from .fsutil import read_json, write_atomic, write_json
from .hostroot import HostRoot, write_boot_time

CONFIGFS = "sys/kernel/config/cluster"
LIVENODES = "sys/kernel/debug/o2hb/livenodes"
DEFAULTS_FILE = "etc/default/o2cb"
CONF_FILE = "etc/ocfs2/cluster.conf"
# The kernel's defaults when /etc/default/o2cb says nothing (fs/ocfs2/cluster/).
KERNEL_DEFAULTS = {
    "O2CB_HEARTBEAT_THRESHOLD": "31",
    "O2CB_IDLE_TIMEOUT_MS": "30000",
    "O2CB_KEEPALIVE_DELAY_MS": "2000",
    "O2CB_RECONNECT_DELAY_MS": "2000",
}


def find_tool(name: str) -> str:
    """A system tool's path; sbin directories count even when not on PATH."""
    found = shutil.which(name) or next(
        (f"{d}/{name}" for d in ("/usr/sbin", "/sbin") if Path(f"{d}/{name}").exists()), None
    )
    if found is None:
        raise AgentError(f"{name} is missing: install Debian's ocfs2-tools and util-linux.")
    return found


def run_o2cb(*args: str, config: Path | None = None) -> str:
    command = [find_tool("o2cb")]
    if config is not None:
        command.append(f"--config-file={config}")
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise AgentError(f"o2cb {args[0]} failed: {lines[-1] if lines else 'no message'}")
    return result.stdout


def read_defaults(root: HostRoot) -> dict[str, str]:
    """`/etc/default/o2cb` as a dict (shell-style KEY=value lines)."""
    values = {}
    try:
        text = root.path(DEFAULTS_FILE).read_text()
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def update_defaults(root: HostRoot, changes: dict[str, str]) -> bool:
    """Set keys in `/etc/default/o2cb`, keeping every other line as it is."""
    path = root.path(DEFAULTS_FILE)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        lines = []
    pending = dict(changes)
    out = []
    for line in lines:
        key = (
            line.split("=", 1)[0].strip()
            if "=" in line and not line.lstrip().startswith("#")
            else None
        )
        if key in pending:
            value = pending.pop(key)
            new = f"{key}={value}"
            out.append(new)
        else:
            out.append(line)
    out.extend(f"{key}={value}" for key, value in pending.items())
    text = "\n".join(out) + "\n"
    if lines and text == "\n".join(lines) + "\n":
        return False
    write_atomic(path, text)
    return True


class Kernel:
    def __init__(self, root: HostRoot):
        self.root = root

    def cluster_dir(self, name: str) -> Path:
        return self.root.path(CONFIGFS) / name

    def is_registered(self, name: str) -> bool:
        return self.cluster_dir(name).is_dir()

    def live_nodes(self, name: str) -> list[dict]:
        node_dir = self.cluster_dir(name) / "node"
        if not node_dir.is_dir():
            return []
        nodes = []
        for child in sorted(node_dir.iterdir()):

            def attr(key, child=child):
                try:
                    return (child / key).read_text().strip()
                except FileNotFoundError:
                    return ""

            number = attr("num")
            nodes.append(
                {
                    "name": child.name,
                    "number": int(number) if number.isdigit() else None,
                    "ip_address": attr("ipv4_address"),
                    "ip_port": int(attr("ipv4_port") or 0),
                    "local": attr("local") == "1",
                }
            )
        return nodes

    def heartbeat_live_numbers(self, name: str) -> set[int]:
        try:
            text = self.root.path(LIVENODES).read_text()
        except FileNotFoundError:
            return set()
        return {int(word) for word in text.split() if word.isdigit()}


class RealKernel(Kernel):
    def sync_cluster(self, name: str) -> None:
        # Registers the cluster, or adds the nodes the running cluster lacks (online add).
        run_o2cb("register-cluster", name, config=self.root.path(CONF_FILE))

    def start_heartbeat(self, name: str) -> None:
        # Starts the global heartbeat regions cluster.conf lists and the kernel lacks.
        run_o2cb("start-heartbeat", name, config=self.root.path(CONF_FILE))

    def unregister(self, name: str) -> None:
        run_o2cb("unregister-cluster", name, config=self.root.path(CONF_FILE))

    def service(self, action: str) -> None:
        result = subprocess.run(
            ["systemctl", action, "o2cb"], capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise AgentError(f"systemctl {action} o2cb failed: {result.stderr.strip()}")

    def service_state(self) -> dict:
        def check(what):
            result = subprocess.run(["systemctl", what, "--quiet", "o2cb"], capture_output=True)
            return result.returncode == 0

        return {"enabled": check("is-enabled"), "active": check("is-active")}

    def reboot(self) -> None:
        raise AgentError("The agent never reboots a real host.")


class SandboxKernel(Kernel):
    """The emulated kernel of one sandbox host; its peers are the sibling directories."""

    SERVICES = "var/lib/sandbox/services.json"

    def sync_cluster(self, name: str) -> None:
        conf = ClusterConf.load(self.root.path(CONF_FILE))
        section = conf.cluster(name)
        self._register(section)

    def _register(self, section: ClusterSection) -> None:
        cluster_dir = self.cluster_dir(section.name)
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

    def _start_regions(self, heartbeat: Path, regions: list[str]) -> None:
        """What `o2cb start-heartbeat` does: find each region's LUN by its volume UUID."""
        from .storage import list_luns

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

    def _beat(self, name: str, number: int | None) -> None:
        region = self._heartbeat_region(name)
        region.mkdir(parents=True, exist_ok=True)
        for marker in region.glob(f"*.{self.root.hostname}"):
            marker.unlink(missing_ok=True)
        if number is not None:
            (region / f"{number}.{self.root.hostname}").touch()

    def heartbeat_live_numbers(self, name: str) -> set[int]:
        region = self._heartbeat_region(name)
        if not region.is_dir():
            return set()
        return {int(marker.name.split(".", 1)[0]) for marker in region.iterdir()}

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
            for child in self._registered():
                self.unregister(child)
            self._set_service(active=False)
        else:
            raise AgentError(f"Unknown service action {action}.")

    def _registered(self) -> list[str]:
        base = self.root.path(CONFIGFS)
        return sorted(child.name for child in base.iterdir()) if base.is_dir() else []

    def _boot_cluster(self) -> None:
        """What the o2cb init script does: register O2CB_BOOTCLUSTER from cluster.conf."""
        name = read_defaults(self.root).get("O2CB_BOOTCLUSTER")
        if name:
            self.sync_cluster(name)

    def reboot(self) -> None:
        for name in self._registered():
            self.unregister(name)
        self._set_service(active=False)
        # btime counts whole seconds; a boot that starts now is never earlier than now.
        previous = int(self.root.boot_time.timestamp())
        write_boot_time(self.root, max(math.ceil(time.time()), previous + 1))
        if self.service_state()["enabled"]:
            self.service("start")


def kernel_for(root: HostRoot) -> Kernel:
    return SandboxKernel(root) if root.sandbox else RealKernel(root)
